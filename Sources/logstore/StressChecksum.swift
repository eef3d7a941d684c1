import LogStore

/// Checksums of the ACK stream of `logstore stress` and `logstore check` (docs/TESTING.md):
/// CRC32C of values, payloads and lines, as the store computes it.
enum StressChecksum {
    /// The CRC32C of `bytes`.
    static func crc32c<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 { CRC32C.checksum(Array(bytes)) }

    /// `crc` as eight lowercase hex digits.
    static func hex(_ crc: UInt32) -> String {
        let digits = String(crc, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// SplitMix64: a small, fast, seedable generator. The stress workload draws every choice
/// from one of these per task, seeded from `--seed`, and derives values, payloads and
/// snapshot data from ``mix(_:)`` of their identity, so the checker can regenerate them.
struct StressRandom: RandomNumberGenerator {
    /// The generator's state.
    private var state: UInt64

    /// A generator that starts from `seed`.
    init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.finish(state)
    }

    /// Whether an event of probability `percent` / 100 happens.
    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self) < percent }

    /// SplitMix64's finalizer applied to `x` plus the golden-ratio increment: a bijection that
    /// spreads consecutive numbers.
    static func mix(_ x: UInt64) -> UInt64 { finish(x &+ 0x9E37_79B9_7F4A_7C15) }

    private static func finish(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A 64-bit seed derived from `text` (FNV-1a, then mixed): how payloads are seeded from
    /// their identity.
    static func seed(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return mix(h)
    }
}
