/// Consecutive entries of one group that the entry cache holds, and evicts, together: the
/// entries of one append (written through), or a stretch one read brought in from the log.
///
/// Holding whole appends lets the cache take an append's entries array as it is (no work per
/// entry), and find an entry by `index - first` instead of hashing. A run of one entry (the
/// append of a group that writes one entry at a time) holds its term and payload inline: no
/// array of its own to allocate now and to free, cold, when it is evicted.
struct RaftEntryRun {
    /// What a run holds; what it hands back when it leaves the cache, to be released later.
    enum Storage {
        /// Nothing: the run left the cache.
        case empty
        /// One entry, at index `first`.
        case single(term: UInt64, payload: [UInt8])
        /// Two or more entries, at indexes `first ..< end`.
        case many([RaftEntry])

        /// How a run holds `entries` (not empty): inline when there is one.
        init(_ entries: [RaftEntry]) {
            self = entries.count == 1 ? .single(term: entries[0].term, payload: entries[0].payload) : .many(entries)
        }
    }

    /// The generation of the group object the entries belong to (``RaftGroup/generation``).
    let generation: UInt64
    /// The entries; `.empty` once the run left the cache.
    private(set) var storage: Storage
    /// The index of the first entry.
    private(set) var first: UInt64
    /// One past the index of the last entry; `first` once the run left the cache. Kept apart from
    /// the storage, so that locating a run reads no entry storage.
    private(set) var end: UInt64
    /// What the entries are charged (``RaftEntryCacheState/cost(of:)``), without the run's own
    /// overhead.
    private(set) var bytes: Int

    /// A run of `entries` (not empty, consecutive indexes) charged `bytes`.
    init(generation: UInt64, entries: [RaftEntry], bytes: Int) {
        precondition(!entries.isEmpty, "a cached run holds at least one entry")
        self.generation = generation
        storage = Storage(entries)
        first = entries[0].index
        end = first + UInt64(entries.count)
        self.bytes = bytes
    }

    /// Whether the run still holds entries.
    var isLive: Bool { end > first }

    /// Entries held.
    var count: Int { Int(end - first) }

    /// The term of the entry at `index` (within `first ..< end`).
    func term(at index: UInt64) -> UInt64 {
        switch storage {
        case .single(let term, _): return term
        case .many(let entries): return entries[Int(index - first)].term
        case .empty: preconditionFailure("term(at:) on a run that left the cache")
        }
    }

    /// The payload of the entry at `index` (within `first ..< end`).
    func payload(at index: UInt64) -> [UInt8] {
        switch storage {
        case .single(_, let payload): return payload
        case .many(let entries): return entries[Int(index - first)].payload
        case .empty: preconditionFailure("payload(at:) on a run that left the cache")
        }
    }

    /// Keeps only the entries at `indexes` (within `first ..< end`, not empty) in storage of their
    /// own, so the others' payloads are freed; returns the bytes no longer charged.
    mutating func keep(_ indexes: Range<UInt64>) -> Int {
        precondition(indexes.lowerBound >= first && indexes.upperBound <= end && !indexes.isEmpty, "keep: not a part of the run")
        guard case .many(let entries) = storage, indexes != first..<end else { return 0 }
        let kept = Array(entries[Int(indexes.lowerBound - first)..<Int(indexes.upperBound - first)])
        let keptBytes = RaftEntryCacheState.cost(of: kept)
        let freed = bytes - keptBytes
        storage = Storage(kept)
        first = indexes.lowerBound
        end = indexes.upperBound
        bytes = keptBytes
        return freed
    }

    /// Empties the run (it left the cache); returns its storage, for the caller to release.
    mutating func clear() -> Storage {
        let old = storage
        storage = .empty
        end = first
        bytes = 0
        return old
    }
}
