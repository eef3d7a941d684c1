import Synchronization

/// The DiskFirst entry cache of a ``RaftLog``: payloads of recent entries of all its groups,
/// bounded in bytes (``RaftConfiguration/entryCacheBytes``), so that a leader reading back what it
/// appended, or a follower catching up, need not read the segment files.
///
/// Appends are written through (``writeThrough(_:_:)``) as whole runs; reads that missed bring
/// what they read from the log in (``fill(_:_:)``); the oldest runs are evicted first, across
/// groups. ``RaftEntryCacheState`` has the structure and its rules. Entries are named by the
/// group object's generation (``RaftGroup/generation``: a recreated group never sees a removed
/// one's entries), the index and the term. A capacity of 0 disables the cache: every lookup is a
/// miss, nothing is stored, and no lock is taken.
///
/// Thread safety: every method may be called from any thread. One pthread mutex (which
/// ThreadSanitizer understands) guards the state; payloads that leave the cache are released
/// after it is unlocked, unless there are only a few
/// (``RaftEntryCacheState/entriesReleasedUnderLock``).
final class RaftEntryCache: @unchecked Sendable {
    // safe: `state` is a MutexGuarded; `disabledMisses` is atomic.

    /// The most bytes the entries may be charged together; 0 when the cache is disabled.
    let capacityBytes: Int

    /// Whether the cache stores anything (its capacity is above 0).
    var isEnabled: Bool { capacityBytes > 0 }

    private let state: MutexGuarded<RaftEntryCacheState>
    /// Lookups of a disabled cache (which takes no lock).
    private let disabledMisses = Atomic<Int>(0)

    /// A cache holding at most `capacityBytes` bytes of entries; 0 (or less) disables it.
    init(capacityBytes: Int) {
        self.capacityBytes = max(0, capacityBytes)
        state = MutexGuarded(RaftEntryCacheState(capacityBytes: self.capacityBytes))
    }

    /// The payload of each of `keys` (ascending indexes) of the group of `generation`, or `nil`
    /// where the cache holds no entry of that index and term. Counts a hit or a miss per key.
    func payloads<Keys: Collection>(_ generation: UInt64, for keys: Keys) -> [[UInt8]?]
    where Keys.Element == (index: UInt64, term: UInt64) {
        guard isEnabled else {
            disabledMisses.add(keys.count, ordering: .relaxed)
            return Array(repeating: nil, count: keys.count)
        }
        return locked { $0.lookup(generation, keys) }
    }

    /// Caches the entries of an append (consecutive, not empty) of the group of `generation`,
    /// replacing whatever the group held from the first one's index on. Call it before the
    /// append is applied to the group's state (no read asks for the entries before that), and
    /// for one group in the order of its appends.
    func writeThrough(_ generation: UInt64, _ entries: [RaftEntry]) {
        guard isEnabled, !entries.isEmpty else { return }
        locked { $0.writeThrough(generation, entries) }
    }

    /// Caches entries of the group of `generation` read from the log (ascending indexes), at
    /// the indexes the cache holds nothing for.
    func fill(_ generation: UInt64, _ entries: [RaftEntry]) {
        guard isEnabled, !entries.isEmpty else { return }
        locked { $0.fill(generation, entries) }
    }

    /// Drops the cached entries of the group of `generation` outside `indexes` (its retained
    /// entries after a compaction, a suffix truncation or a snapshot). Not counted as evictions.
    func retain(_ generation: UInt64, _ indexes: Range<UInt64>) {
        guard isEnabled else { return }
        locked { $0.retain(generation, indexes) }
    }

    /// Drops every cached entry of the group of `generation` (removed). Not counted as evictions.
    func removeGroup(_ generation: UInt64) {
        guard isEnabled else { return }
        locked { $0.removeGroup(generation) }
    }

    /// The index ranges cached for the group of `generation`, ascending (for tests and diagnostics).
    func cachedRanges(_ generation: UInt64) -> [Range<UInt64>] {
        guard isEnabled else { return [] }
        return locked { $0.ranges(generation) }
    }

    /// The cached runs, the next to be evicted first (for tests and diagnostics).
    var runsByAge: [(generation: UInt64, indexes: Range<UInt64>)] {
        guard isEnabled else { return [] }
        return locked { $0.runsByAge }
    }

    /// The counters now (entries, not runs, for `entries`, `insertions` and `evictions`).
    var statistics: CacheStatistics {
        guard isEnabled else {
            return CacheStatistics(misses: disabledMisses.load(ordering: .relaxed), capacityBytes: 0)
        }
        return locked { $0.statistics }
    }

    /// Runs `body` on the state with the mutex held, then releases what left the cache (if more
    /// than a few entries) without it.
    private func locked<T>(_ body: (inout RaftEntryCacheState) -> T) -> T {
        let (result, dropped) = state.withLock { state in (body(&state), state.takeDropped()) }
        withExtendedLifetime(dropped) {}  // freeing many payloads takes a while: not under the mutex
        return result
    }
}
