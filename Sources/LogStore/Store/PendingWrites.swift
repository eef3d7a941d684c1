/// A key of one namespace as ``PendingWrites`` tracks it, with its hash computed once, by the
/// caller's task when its write is prepared (not on the completing thread that finishes it).
struct PendingKey: Sendable {
    /// The namespace id.
    let namespace: UInt16
    /// The user key.
    let key: [UInt8]
    /// ``KeyBytes/hash(seed:namespace:key:)`` of `namespace` and `key` with ``seed``.
    let hash: UInt64

    /// A seed per process, so that which keys collide is not predictable.
    static let seed = UInt64.random(in: .min ... .max)

    /// Hashes `key` of `namespace`.
    init(namespace: UInt16, key: [UInt8]) {
        self.namespace = namespace
        self.key = key
        hash = key.withUnsafeBytes { KeyBytes.hash(seed: Self.seed, namespace: namespace, key: $0) }
    }

    /// A key with a given hash (tests force collisions with it).
    init(namespace: UInt16, key: [UInt8], hash: UInt64) {
        self.namespace = namespace
        self.key = key
        self.hash = hash
    }

    /// Whether `other` is the same key (hashes first: they differ for almost every other key).
    @inline(__always)
    func matches(_ other: PendingKey) -> Bool {
        hash == other.hash && namespace == other.namespace && key == other.key
    }
}

/// Writes that are queued in the log but not yet durable, per key, and the conditional writes
/// (their `Waiter`s, continuations in the store) waiting for them to finish.
///
/// This is how compare-and-swap stays linearizable with writes in flight: a conditional
/// write whose keys have writes in flight does not validate against the index (which shows
/// only acknowledged writes) but waits until those writes are durable or failed, then
/// validates again. Unconditional writes never wait.
///
/// ## Layout
/// Open addressing with linear probing over a power-of-two table of slots, each holding a key,
/// its count of writes in flight and its waiters. A key's home slot is the low bits of its
/// precomputed ``PendingKey/hash``; a probe compares that hash before any key byte. Removal
/// moves later slots of the run back (backward shift, no tombstones) and growth re-places slots,
/// both from the stored hashes. So nothing here hashes a key: this replaced a `Dictionary`
/// whose every insert, lookup and removal ran `Hasher` (seed, combine, finalize), a visible part
/// of the CPU of each durable put, on the completing thread that completes them too.
///
/// Thread safety: none; the store guards it with its pending lock.
struct PendingWrites<Waiter> {
    /// One slot of the table: empty when `key` is `nil`.
    private struct Slot {
        var key: PendingKey?
        /// Writes of `key` queued and not yet finished (at least 1 in a used slot).
        var inFlight = 0
        /// Waiting for `inFlight` to reach 0 (empty, without allocating, almost always).
        var waiters: [Waiter] = []
    }

    /// Smallest table: a power of two.
    private static var minimumSlots: Int { 64 }

    /// The table; its count is a power of two, at most half full (a miss then probes ~2.5 slots).
    private var slots = ContiguousArray(repeating: Slot(), count: PendingWrites.minimumSlots)
    /// Keys with writes in flight (used slots).
    private(set) var count = 0

    /// An empty table.
    init() {}

    /// The slot of `key`, or `nil` when it has no write in flight.
    @inline(__always)
    private func find(_ key: PendingKey) -> Int? {
        slots.withUnsafeBufferPointer { slots in
            let mask = slots.count - 1
            var i = Int(truncatingIfNeeded: key.hash) & mask
            while let stored = slots[i].key {
                if stored.matches(key) { return i }
                i = (i + 1) & mask
            }
            return nil
        }
    }

    /// True if a write of `key` is queued and not yet finished.
    func isPending(_ key: PendingKey) -> Bool { find(key) != nil }

    /// Records one queued write of `key`.
    mutating func add(_ key: PendingKey) {
        if (count + 1) * 2 > slots.count { grow() }
        slots.withUnsafeMutableBufferPointer { slots in
            let mask = slots.count - 1
            var i = Int(truncatingIfNeeded: key.hash) & mask
            while let stored = slots[i].key {
                if stored.matches(key) {
                    slots[i].inFlight += 1
                    return
                }
                i = (i + 1) & mask
            }
            slots[i].key = key
            slots[i].inFlight = 1
            count += 1
        }
    }

    /// If `key` has a write in flight, keeps `waiter` until it has none (``finish(_:waking:)``
    /// then hands it back) and returns `true`; else returns `false` and keeps nothing.
    mutating func wait(for key: PendingKey, _ waiter: Waiter) -> Bool {
        guard let i = find(key) else { return false }
        slots[i].waiters.append(waiter)
        return true
    }

    /// Marks one write of `key` finished. When it was the key's last write in flight, appends
    /// the key's waiters to `woken` (for the caller to resume outside the lock).
    mutating func finish(_ key: PendingKey, waking woken: inout [Waiter]) {
        guard let i = find(key) else { return }
        if slots[i].inFlight > 1 {
            slots[i].inFlight -= 1
            return
        }
        if !slots[i].waiters.isEmpty { woken += slots[i].waiters }
        remove(at: i)
    }

    /// Empties slot `hole`, moving back the later slots of its run that may not be skipped.
    private mutating func remove(at hole: Int) {
        slots.withUnsafeMutableBufferPointer { slots in
            let mask = slots.count - 1
            var hole = hole, j = hole
            while true {
                j = (j + 1) & mask
                guard let stored = slots[j].key else { break }
                // Slot j may move to the hole unless its home lies cyclically in (hole, j]:
                // then its distance from home is below the hole's distance from j.
                let home = Int(truncatingIfNeeded: stored.hash) & mask
                if (j &- home) & mask >= (j &- hole) & mask {
                    slots.swapAt(hole, j)  // a swap moves the key and waiters without retaining them
                    hole = j
                }
            }
            slots[hole] = Slot()  // the removed key, swapped down to the run's last moved slot
        }
        count -= 1
    }

    /// Doubles the table, placing every used slot again from its stored hash.
    private mutating func grow() {
        var fresh = ContiguousArray(repeating: Slot(), count: slots.count * 2)
        fresh.withUnsafeMutableBufferPointer { fresh in
            let mask = fresh.count - 1
            for slot in slots {
                guard let key = slot.key else { continue }
                var i = Int(truncatingIfNeeded: key.hash) & mask
                while fresh[i].key != nil { i = (i + 1) & mask }
                fresh[i] = slot
            }
        }
        slots = fresh
    }
}
