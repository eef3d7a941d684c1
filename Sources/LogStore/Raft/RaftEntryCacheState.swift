/// The runs, byte count and counters of a ``RaftEntryCache``. Not thread-safe: the cache calls it
/// with its mutex held.
///
/// Raft entries are appended, and mostly read, in index order per group, so the cache holds
/// ``RaftEntryRun``s (consecutive entries) rather than single entries:
/// - per group generation, its runs' sequence numbers sorted by index (runs never overlap), so an
///   entry is found by a binary search over the group's runs and `index - first`, and a read of
///   consecutive entries walks a run;
/// - one ``RaftEntryRunQueue`` of all runs in the order they entered, which is the eviction
///   order: oldest run first, across groups.
///
/// An append costs one cut (usually nothing to cut) and one run, and evicting costs one run per
/// evicted append, whatever the number of entries; nothing is hashed per entry.
///
/// Correctness does not rest on invalidation: a lookup names the term the group's state lists,
/// and an entry is served only when its cached term matches (Raft's log matching property makes
/// index and term name one entry's content). Cuts and trims keep memory to what can still be
/// asked for, and an append's write-through cuts whatever its group held from its first index on.
/// A read racing a truncation or a removal may bring back entries no state lists any more: they
/// are never served, and leave in eviction order.
struct RaftEntryCacheState {
    /// Bytes charged per cached entry besides its payload: its slot in the run's array, and its
    /// payload array's heap header and allocator overhead (about 48 bytes). A one-entry run holds
    /// its entry inline and is charged the same, a little more than it takes.
    static var entryOverheadBytes: Int { MemoryLayout<RaftEntry>.stride + 48 }

    /// Bytes charged per queued run, live or not: its queue slot, its place in its group's list,
    /// and its entries array's heap header and allocator overhead.
    static var runOverheadBytes: Int { MemoryLayout<RaftEntryRun>.stride + MemoryLayout<UInt64>.stride + 48 }

    /// What caching `entries` costs, without the run's overhead.
    static func cost(of entries: some Collection<RaftEntry>) -> Int {
        entries.reduce(0) { $0 + $1.payload.count + entryOverheadBytes }
    }

    /// The most bytes the runs may be charged together.
    let capacityBytes: Int
    /// Every run, live or emptied, in the order it entered: the eviction order.
    private var queue = RaftEntryRunQueue()
    /// Per group generation, its live runs. A group without runs has no key.
    private var groups: [UInt64: GroupRuns] = [:]
    /// Bytes charged now: the live runs' entries and every queued run's overhead.
    private var bytes = 0
    /// Entries in live runs.
    private var entryCount = 0
    // Counters since creation, in entries (see ``CacheStatistics``).
    private var hits = 0
    private var misses = 0
    private var insertions = 0
    private var evictions = 0
    /// The storage of runs that left the cache, for the owner to release after its lock when
    /// there is much of it (releasing a run frees every payload no one else holds).
    private var dropped: [RaftEntryRun.Storage] = []
    /// Entries in `dropped`.
    private var droppedEntries = 0

    /// The most dropped entries released under the lock (``takeDropped()``): freeing a few takes
    /// less than handing a new array over to the owner does.
    static let entriesReleasedUnderLock = 64

    /// The live runs of one group. A class, so that an append or an eviction changes a group's
    /// runs in place, with one dictionary lookup.
    private final class GroupRuns {
        /// The runs' sequence numbers, ascending by index.
        var list = RaftRunList()
        /// A bound on where the runs end (no run holds an index at or past it), when known without
        /// reading the queue. A write-through or a cut sets it; removing runs keeps it true; a
        /// fill, which may add a run past it, forgets it. An append at or past it cuts nothing, so
        /// the common append reads no queue slot of an older run.
        var tailEnd: UInt64?
    }

    /// An empty cache state that holds at most `capacityBytes`.
    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    /// The counters now; `entries` counts cached entries, `insertions` and `evictions` entries too.
    var statistics: CacheStatistics {
        CacheStatistics(
            hits: hits, misses: misses, insertions: insertions, evictions: evictions, bytes: bytes, entries: entryCount,
            capacityBytes: capacityBytes)
    }

    /// The index ranges cached for `generation`, ascending (for tests and diagnostics).
    func ranges(_ generation: UInt64) -> [Range<UInt64>] {
        (groups[generation]?.list ?? RaftRunList()).map { queue[$0].first..<queue[$0].end }
    }

    /// The live runs, oldest (next to evict) first (for tests and diagnostics).
    var runsByAge: [(generation: UInt64, indexes: Range<UInt64>)] {
        queue.sequences.map { queue[$0] }.filter(\.isLive).map { ($0.generation, $0.first..<$0.end) }
    }

    /// Takes the storage of the runs that left the cache since the last call, when it holds more
    /// than ``entriesReleasedUnderLock`` entries; releases it here otherwise and returns nothing.
    mutating func takeDropped() -> [RaftEntryRun.Storage] {
        guard !dropped.isEmpty else { return [] }
        defer { droppedEntries = 0 }
        if droppedEntries <= Self.entriesReleasedUnderLock {
            dropped.removeAll(keepingCapacity: true)
            return []
        }
        defer { dropped = [] }
        return dropped
    }

    // MARK: - lookups

    /// The payload of each of `keys` (ascending indexes) of `generation`, or `nil` where the cache
    /// holds no entry of that index with that term. Counts a hit or a miss per key.
    mutating func lookup<Keys: Collection>(_ generation: UInt64, _ keys: Keys) -> [[UInt8]?]
    where Keys.Element == (index: UInt64, term: UInt64) {
        guard let runs = groups[generation]?.list else {
            misses += keys.count
            return Array(repeating: nil, count: keys.count)
        }
        var result: [[UInt8]?] = []
        result.reserveCapacity(keys.count)
        // The run found last (its sequence number and indexes); consecutive keys mostly stay in it.
        var sequence: UInt64 = 0
        var first: UInt64 = 0
        var end: UInt64 = 0
        for (index, term) in keys {
            if index < first || index >= end {
                guard let position = position(in: runs, containing: index) else {
                    misses += 1
                    result.append(nil)
                    continue
                }
                sequence = runs[position]
                first = queue[sequence].first
                end = queue[sequence].end
            }
            if queue[sequence].term(at: index) == term {
                hits += 1
                result.append(queue[sequence].payload(at: index))
            } else {
                misses += 1
                result.append(nil)
            }
        }
        return result
    }

    // MARK: - insertions

    /// Caches an append's `entries` (consecutive, not empty) of `generation`: first drops every
    /// entry of the group from the first one's index on (the suffix the append replaces), then
    /// holds the entries as one run (the latest that fit, if they all do not), then evicts.
    mutating func writeThrough(_ generation: UInt64, _ entries: [RaftEntry]) {
        guard let firstIndex = entries.first?.index else { return }
        let runs = runs(of: generation)
        cut(runs, from: firstIndex)
        var stored = entries
        var cost = Self.cost(of: entries)
        if cost + Self.runOverheadBytes > capacityBytes {
            // Keep the newest entries that fit: a leader reads back what it appended last.
            var start = entries.count
            cost = 0
            while start > 0, cost + Self.runOverheadBytes + entries[start - 1].payload.count + Self.entryOverheadBytes <= capacityBytes {
                start -= 1
                cost += entries[start].payload.count + Self.entryOverheadBytes
            }
            stored = Array(entries[start...])
        }
        if !stored.isEmpty {
            let run = RaftEntryRun(generation: generation, entries: stored, bytes: cost)
            runs.tailEnd = run.end
            runs.list.append(enqueue(run))
        }
        forgetIfEmpty(runs, generation)
        evictToCapacity()
    }

    /// Caches entries of `generation` read from the log (ascending indexes, gaps allowed): those
    /// at indexes the group holds no run for, in runs of consecutive entries; entries at indexes
    /// it holds stay as they are (they may be newer than what this read saw). Then evicts.
    mutating func fill(_ generation: UInt64, _ entries: [RaftEntry]) {
        guard !entries.isEmpty else { return }
        let runs = runs(of: generation)
        runs.tailEnd = nil  // a filled run may go past it
        var pending: [RaftEntry] = []
        for entry in entries {
            if let last = pending.last?.index, last &+ 1 != entry.index {
                insertFilled(&pending, generation, into: runs)
            }
            if position(in: runs.list, containing: entry.index) != nil {
                insertFilled(&pending, generation, into: runs)
            } else {
                pending.append(entry)
            }
        }
        insertFilled(&pending, generation, into: runs)
        forgetIfEmpty(runs, generation)
        evictToCapacity()
    }

    /// Makes `pending` (consecutive, at indexes no run of `runs` holds) a run of `generation`,
    /// its first entries that fit if not all do, and empties it.
    private mutating func insertFilled(_ pending: inout [RaftEntry], _ generation: UInt64, into runs: GroupRuns) {
        guard !pending.isEmpty else { return }
        defer { pending.removeAll(keepingCapacity: true) }
        var count = 0
        var cost = 0
        // Keep the first entries: the ones asked for come before the prefetched ones.
        while count < pending.count, cost + Self.runOverheadBytes + pending[count].payload.count + Self.entryOverheadBytes <= capacityBytes {
            cost += pending[count].payload.count + Self.entryOverheadBytes
            count += 1
        }
        guard count > 0 else { return }
        let sequence = enqueue(RaftEntryRun(generation: generation, entries: Array(pending[..<count]), bytes: cost))
        runs.list.insert(sequence, at: runsStarting(atOrBefore: pending[0].index, in: runs.list))
    }

    /// Queues `run`, charges it and counts its entries as inserted; returns its sequence number.
    private mutating func enqueue(_ run: RaftEntryRun) -> UInt64 {
        bytes += run.bytes + Self.runOverheadBytes
        entryCount += run.count
        insertions += run.count
        return queue.append(run)
    }

    // MARK: - removals

    /// Drops every cached entry of `generation` outside `indexes` (the group's retained entries
    /// after a compaction, a suffix truncation or a snapshot).
    mutating func retain(_ generation: UInt64, _ indexes: Range<UInt64>) {
        guard let runs = groups[generation] else { return }
        cut(runs, from: indexes.upperBound)
        trim(runs, before: indexes.lowerBound)
        forgetIfEmpty(runs, generation)
        dropDeadFront()
    }

    /// Drops every cached entry of `generation` (its group was removed).
    mutating func removeGroup(_ generation: UInt64) {
        guard let runs = groups.removeValue(forKey: generation) else { return }
        for sequence in runs.list { release(sequence) }
        dropDeadFront()
    }

    /// Drops the entries of `runs` at `index` and after.
    private mutating func cut(_ runs: GroupRuns, from index: UInt64) {
        if let tailEnd = runs.tailEnd, tailEnd <= index { return }
        defer { runs.tailEnd = index }
        while let last = runs.list.last, queue[last].first >= index {
            release(last)
            runs.list.removeLast()
        }
        if let last = runs.list.last, queue[last].end > index {
            let before = queue[last].count
            bytes -= queue[last].keep(queue[last].first..<index)
            entryCount -= before - queue[last].count
        }
    }

    /// Drops the entries of `runs` before `index`.
    private mutating func trim(_ runs: GroupRuns, before index: UInt64) {
        var gone = 0
        while gone < runs.list.count, queue[runs.list[gone]].end <= index {
            release(runs.list[gone])
            gone += 1
        }
        runs.list.removeFirst(gone)
        if let first = runs.list.first, queue[first].first < index {
            let before = queue[first].count
            bytes -= queue[first].keep(index..<queue[first].end)
            entryCount -= before - queue[first].count
        }
    }

    /// Empties the queued run `sequence` (already out of its group's list): it stays queued,
    /// charged its overhead, until it reaches the front.
    private mutating func release(_ sequence: UInt64) {
        bytes -= queue[sequence].bytes
        entryCount -= queue[sequence].count
        droppedEntries += queue[sequence].count
        dropped.append(queue[sequence].clear())
    }

    // MARK: - eviction

    /// Evicts the oldest runs until the bytes are within the capacity.
    private mutating func evictToCapacity() {
        while bytes > capacityBytes && !queue.isEmpty {
            let sequence = queue.frontSequence
            if queue[sequence].isLive {
                // Out of its group's list first: the search reads the queue, the run included.
                let generation = queue[sequence].generation
                guard let runs = groups[generation] else { preconditionFailure("an evicted run's group has no runs") }
                // Mostly the group's first run: its oldest is mostly its lowest.
                let position = runs.list.first == sequence ? 0 : runsStarting(atOrBefore: queue[sequence].first, in: runs.list) - 1
                precondition(position >= 0 && runs.list[position] == sequence, "an evicted run is not in its group's list")
                runs.list.remove(at: position)
                forgetIfEmpty(runs, generation)
            }
            var run = queue.removeFirst()
            bytes -= Self.runOverheadBytes
            guard run.isLive else { continue }
            bytes -= run.bytes
            entryCount -= run.count
            evictions += run.count
            droppedEntries += run.count
            dropped.append(run.clear())
        }
        dropDeadFront()
    }

    /// Dequeues the emptied runs at the front, which only occupy their overhead.
    private mutating func dropDeadFront() {
        while !queue.isEmpty && !queue[queue.frontSequence].isLive {
            _ = queue.removeFirst()
            bytes -= Self.runOverheadBytes
        }
    }

    // MARK: - a group's runs

    /// The runs of `generation`, added (empty) if it has none.
    private mutating func runs(of generation: UInt64) -> GroupRuns {
        if let runs = groups[generation] { return runs }
        let runs = GroupRuns()
        groups[generation] = runs
        return runs
    }

    /// Removes the key of `generation` when `runs`, its runs, are none.
    private mutating func forgetIfEmpty(_ runs: GroupRuns, _ generation: UInt64) {
        if runs.list.isEmpty { groups[generation] = nil }
    }

    /// How many of `runs` start at or before `index` (where a run starting at `index` goes).
    private func runsStarting(atOrBefore index: UInt64, in runs: RaftRunList) -> Int {
        var low = 0
        var high = runs.count
        while low < high {
            let middle = (low + high) / 2
            if queue[runs[middle]].first <= index { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The position in `runs` of the run holding `index`, if any.
    private func position(in runs: RaftRunList, containing index: UInt64) -> Int? {
        let candidate = runsStarting(atOrBefore: index, in: runs) - 1
        guard candidate >= 0, queue[runs[candidate]].end > index else { return nil }
        return candidate
    }
}
