/// Counters of a byte-bounded read cache (``StoreStatistics/cache`` for a store's value cache).
///
/// Counters run from the cache's creation (for a store, from open); `bytes`, `entries` and
/// `capacityBytes` describe the moment they were read.
public struct CacheStatistics: Sendable, Equatable {
    /// Lookups that found their entry.
    public var hits: Int
    /// Lookups that found nothing (every lookup of a disabled cache is one).
    public var misses: Int
    /// Entries stored (a value larger than the capacity, or any value while the cache is
    /// disabled, is not stored and not counted).
    public var insertions: Int
    /// Entries dropped to make room for others (explicit removals are not counted).
    public var evictions: Int
    /// Bytes charged for the entries held now; never more than ``capacityBytes``.
    public var bytes: Int
    /// Entries held now.
    public var entries: Int
    /// The most bytes the cache holds; 0 when it is disabled.
    public var capacityBytes: Int

    /// Counters with the given values (all zero by default).
    public init(
        hits: Int = 0, misses: Int = 0, insertions: Int = 0, evictions: Int = 0, bytes: Int = 0, entries: Int = 0,
        capacityBytes: Int = 0
    ) {
        self.hits = hits
        self.misses = misses
        self.insertions = insertions
        self.evictions = evictions
        self.bytes = bytes
        self.entries = entries
        self.capacityBytes = capacityBytes
    }

    /// Hits per lookup, 0...1; 0 before the first lookup.
    public var hitRatio: Double {
        let lookups = hits + misses
        return lookups == 0 ? 0 : Double(hits) / Double(lookups)
    }
}
