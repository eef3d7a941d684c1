/// The entry cache's runs in the order they entered it, each addressed by a sequence number that
/// stays its own while it is queued. The front is the oldest run, the next to evict.
///
/// A run that leaves the cache early (cut by a conflicting append, trimmed by compaction, its
/// group removed) stays queued, empty, until it reaches the front; the cache charges every queued
/// run its overhead, so such leftovers count against the byte budget and cannot pile up.
struct RaftEntryRunQueue {
    private var storage: [RaftEntryRun] = []
    /// Position in `storage` of the front run.
    private var head = 0
    /// The sequence number of `storage[0]`.
    private var base: UInt64 = 0

    /// Whether no run is queued.
    var isEmpty: Bool { head == storage.count }

    /// Runs queued, live or not.
    var count: Int { storage.count - head }

    /// The sequence number of the front run (the next to be given, when empty).
    var frontSequence: UInt64 { base + UInt64(head) }

    /// The queued run of `sequence` (a number ``append(_:)`` returned, not yet removed).
    subscript(sequence: UInt64) -> RaftEntryRun {
        // A borrow: reading a run's bounds must not retain (and so touch) its entries array,
        // which is cold for the old runs that cuts and evictions look at.
        _read { yield storage[position(sequence)] }
        _modify { yield &storage[position(sequence)] }
    }

    /// Queues `run` at the back; returns its sequence number.
    mutating func append(_ run: RaftEntryRun) -> UInt64 {
        storage.append(run)
        return base + UInt64(storage.count - 1)
    }

    /// Takes the front run out of the queue.
    mutating func removeFirst() -> RaftEntryRun {
        precondition(!isEmpty, "removeFirst on an empty run queue")
        let run = storage[head]
        _ = storage[head].clear()  // the returned copy holds the only reference to the entries
        head += 1
        // Reclaim the dead prefix once it is most of the storage, so the copy is amortized.
        if head == storage.count || (head >= 1024 && head * 2 >= storage.count) {
            storage.removeFirst(head)
            base += UInt64(head)
            head = 0
        }
        return run
    }

    /// The sequence numbers of the queued runs, front first (for tests and diagnostics).
    var sequences: Range<UInt64> { frontSequence..<base + UInt64(storage.count) }

    /// The position in `storage` of the queued run `sequence`.
    private func position(_ sequence: UInt64) -> Int {
        let position = Int(sequence &- base)
        precondition(sequence >= base && position >= head && position < storage.count, "not a queued run")
        return position
    }
}
