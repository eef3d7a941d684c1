/// Writes that are queued in the log but not yet durable, per key, and the conditional writes
/// waiting for them to finish.
///
/// This is how compare-and-swap stays linearizable with writes in flight: a conditional
/// write whose keys have writes in flight does not validate against the index (which shows
/// only acknowledged writes) but waits until those writes are durable or failed, then
/// validates again. Unconditional writes never wait. Guarded by the store's write lock.
struct PendingWrites {
    /// A key of one namespace, with its hash computed once (by the caller's task, not on the
    /// writer thread that finishes it): hashing `[UInt8]` through `Hasher` byte by byte cost
    /// several percent of a put's CPU.
    struct Key: Hashable {
        let namespace: UInt16
        let key: [UInt8]
        private let hash: UInt64

        /// A seed per process, so that which keys collide is not predictable.
        private static let seed = UInt64.random(in: .min ... .max)

        init(namespace: UInt16, key: [UInt8]) {
            self.namespace = namespace
            self.key = key
            hash = key.withUnsafeBytes { KeyBytes.hash(seed: Self.seed, namespace: namespace, key: $0) }
        }

        static func == (a: Key, b: Key) -> Bool { a.hash == b.hash && a.namespace == b.namespace && a.key == b.key }

        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
    }

    private var inFlight: [Key: Int] = [:]
    private var waiters: [Key: [UnsafeContinuation<Store.Attempt, Never>]] = [:]

    /// True if a write of `key` is queued and not yet finished.
    func isPending(_ key: Key) -> Bool { inFlight[key] != nil }

    /// Records queued writes of these keys (a key may repeat).
    mutating func add(_ keys: [Key]) {
        for key in keys { inFlight[key, default: 0] += 1 }
    }

    /// Suspends `continuation` until `key` has no write in flight; it is then resumed with
    /// ``Store/Attempt/retry``.
    mutating func wait(for key: Key, _ continuation: UnsafeContinuation<Store.Attempt, Never>) {
        waiters[key, default: []].append(continuation)
    }

    /// Marks writes of these keys finished; returns the waiters to resume (outside the lock).
    mutating func finish(_ keys: [Key]) -> [UnsafeContinuation<Store.Attempt, Never>] {
        var ready: [UnsafeContinuation<Store.Attempt, Never>] = []
        for key in keys {
            guard let count = inFlight[key] else { continue }
            if count > 1 {
                inFlight[key] = count - 1
            } else {
                inFlight[key] = nil
                if let list = waiters.removeValue(forKey: key) { ready += list }
            }
        }
        return ready
    }

    /// Number of keys with writes in flight.
    var count: Int { inFlight.count }
}
