import CLogStore
import Synchronization

/// Where a ``KeyIndex``'s hash slots are, published for threads that do not hold the index's lock,
/// so they can start loading the slot a key will be looked up or inserted at.
///
/// A put's caller prefetches its key's home slot before queuing the write; a few hundred
/// microseconds later the log's completing thread inserts the key there, one of a batch of
/// inserts it makes while every caller of the batch waits. On a large index that slot is
/// otherwise a cache miss on that serial path.
///
/// Only a hint: the table can be replaced (the index grew) between the two loads here or after
/// them, and the address may then be stale or outside any table. That makes the prefetch useless,
/// never wrong: a prefetch reads nothing into the program and never faults.
final class SlotTableHint: Sendable {
    /// The index's hash seed (see ``KeyIndex/tag(seed:_:_:)``).
    let seed: UInt64
    /// Address of the first slot of the current table.
    private let base = Atomic<UInt>(0)
    /// Slots in the current table.
    private let capacity = Atomic<Int>(0)

    /// A hint for an index hashing with `seed`, with no table published yet.
    init(seed: UInt64) {
        self.seed = seed
    }

    /// Publishes `slots` as the current table (the index calls this whenever it replaces it).
    func publish(_ slots: UnsafeBufferPointer<UInt64>) {
        base.store(UInt(bitPattern: slots.baseAddress), ordering: .relaxed)
        capacity.store(slots.count, ordering: .relaxed)
    }

    /// Slots in the table published last (for tests).
    var publishedCapacity: Int { capacity.load(ordering: .relaxed) }

    /// Starts loading the home slot of `(namespace, key)` into the cache.
    @inline(__always)
    func prefetch(namespace: UInt16, key: UnsafeRawBufferPointer) {
        let capacity = capacity.load(ordering: .relaxed)
        let base = base.load(ordering: .relaxed)
        guard capacity > 0, base != 0 else { return }
        let slot = KeyIndex.home(KeyIndex.tag(seed: seed, namespace, key), capacity)
        ls_prefetch(UnsafeRawPointer(bitPattern: base &+ UInt(slot) &* UInt(MemoryLayout<UInt64>.stride)))
    }
}
