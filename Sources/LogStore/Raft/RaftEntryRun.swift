/// Consecutive entries of one group that the entry cache holds, and evicts, together: the
/// entries of one append (written through), or a stretch one read brought in from the log.
///
/// Holding whole appends lets the cache take an append's entries array as it is (no work per
/// entry), and find an entry by `index - first` instead of hashing.
struct RaftEntryRun {
    /// The generation of the group object the entries belong to (``RaftGroup/generation``).
    let generation: UInt64
    /// The entries, at consecutive indexes `first ..< end`; empty once the run left the cache.
    private(set) var entries: [RaftEntry]
    /// The index of the first entry.
    private(set) var first: UInt64
    /// One past the index of the last entry; `first` once the run left the cache. Kept apart from
    /// `entries.count`, so that locating a run reads no entry storage.
    private(set) var end: UInt64
    /// What the entries are charged (``RaftEntryCacheState/cost(of:)``), without the run's own
    /// overhead.
    private(set) var bytes: Int

    /// A run of `entries` (not empty, consecutive indexes) charged `bytes`.
    init(generation: UInt64, entries: [RaftEntry], bytes: Int) {
        precondition(!entries.isEmpty, "a cached run holds at least one entry")
        self.generation = generation
        self.entries = entries
        first = entries[0].index
        end = first + UInt64(entries.count)
        self.bytes = bytes
    }

    /// Whether the run still holds entries.
    var isLive: Bool { end > first }

    /// Entries held.
    var count: Int { Int(end - first) }

    /// Keeps only the entries at `indexes` (within `first ..< end`, not empty) in an array of their
    /// own, so the others' payloads are freed; returns the bytes no longer charged.
    mutating func keep(_ indexes: Range<UInt64>) -> Int {
        precondition(indexes.lowerBound >= first && indexes.upperBound <= end && !indexes.isEmpty, "keep: not a part of the run")
        let kept = Array(entries[Int(indexes.lowerBound - first)..<Int(indexes.upperBound - first)])
        let keptBytes = RaftEntryCacheState.cost(of: kept)
        let freed = bytes - keptBytes
        entries = kept
        first = indexes.lowerBound
        end = indexes.upperBound
        bytes = keptBytes
        return freed
    }

    /// Empties the run (it left the cache); returns its entries, for the caller to release.
    mutating func clear() -> [RaftEntry] {
        let old = entries
        entries = []
        end = first
        bytes = 0
        return old
    }
}
