extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) * 1e-18
    }

    /// The duration in whole nanoseconds, clamped to zero for negative durations.
    var nanoseconds: UInt64 {
        let (whole, attoseconds) = components
        guard whole >= 0, attoseconds >= 0 else { return 0 }
        return UInt64(whole) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }
}
