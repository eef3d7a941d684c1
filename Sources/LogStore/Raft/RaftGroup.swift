import Synchronization

/// One Raft group in memory: its state under a lock, the gate that orders its DiskFirst
/// writes, and (MemFirst) what of it is durable.
final class RaftGroup: @unchecked Sendable {  // safe: `lock` guards every var
    let id: RaftGroupID
    /// Unique to this object in this process: a removed and recreated group gets another, so
    /// its entries never meet the old group's in the entry cache (``RaftEntryCache``).
    let generation = RaftGroup.generations.add(1, ordering: .relaxed).oldValue
    private static let generations = Atomic<UInt64>(1)
    let lock = ReadWriteLock()
    let gate = WriteGate()
    /// Visible state: acknowledged writes (DiskFirst), or every accepted write (MemFirst).
    var state: RaftGroupState
    /// Set once the group is removed; later writes recreate it as a new object.
    var removed = false

    // MemFirst durability, guarded by `lock`.
    /// The last index as of the newest durable write of this group.
    var durableLast: UInt64
    /// The hard state as of the newest durable write.
    var durableHardState: RaftHardState
    /// Writes of this group queued but not yet durable, oldest first.
    var inFlight: [InFlightWrite] = []
    private var inFlightHead = 0
    /// Callers of ``RaftLog/waitUntilDurable(_:through:)`` and the index each waits for.
    var durableWaiters: [(index: UInt64, continuation: UnsafeContinuation<Result<Void, StoreError>, Never>)] = []

    /// What a queued MemFirst write changes, for the durable watermark.
    struct InFlightWrite {
        /// The lowest entry index it replaces or removes (`.max` for none).
        var firstChanged: UInt64
        /// The group's last index once it is applied.
        var lastIndex: UInt64
        /// The group's hard state once it is applied.
        var hardState: RaftHardState
    }

    init(id: RaftGroupID, state: RaftGroupState) {
        self.id = id
        self.state = state
        durableLast = state.lastIndex
        durableHardState = state.hardState
    }

    /// The highest index `d` such that entries `firstIndex ... d` as visible now are durable:
    /// the durable log's last index, lowered below every entry a queued write replaces.
    /// Call with `lock` held.
    var durableIndex: UInt64 {
        var index = min(durableLast, state.lastIndex)
        for write in inFlight[inFlightHead...] where write.firstChanged != .max {
            index = min(index, write.firstChanged - 1)
        }
        return index
    }

    /// Records a queued write (MemFirst). Call with `lock` held, in queue order.
    func queued(_ write: InFlightWrite) { inFlight.append(write) }

    /// The oldest queued write is durable: advances the watermark and returns the waiters it
    /// satisfies (resume them after releasing `lock`). Call with `lock` held.
    func oldestWriteDurable() -> [UnsafeContinuation<Result<Void, StoreError>, Never>] {
        guard inFlightHead < inFlight.count else { return [] }
        let write = inFlight[inFlightHead]
        inFlightHead += 1
        if inFlightHead == inFlight.count {
            inFlight.removeAll(keepingCapacity: true)
            inFlightHead = 0
        }
        durableLast = write.lastIndex
        durableHardState = write.hardState
        let durable = durableIndex
        var ready: [UnsafeContinuation<Result<Void, StoreError>, Never>] = []
        durableWaiters.removeAll { waiter in
            guard waiter.index <= durable else { return false }
            ready.append(waiter.continuation)
            return true
        }
        return ready
    }

    /// Every durability waiter, to fail them (the store failed, or the group was removed).
    func takeAllWaiters() -> [UnsafeContinuation<Result<Void, StoreError>, Never>] {
        let all = durableWaiters.map(\.continuation)
        durableWaiters.removeAll()
        return all
    }
}
