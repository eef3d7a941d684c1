import Testing

@testable import LogStore

/// The DiskFirst entry cache as the Raft log uses it: write-through, prefetch on a miss, and
/// what conflicting appends, truncations, snapshots and removals leave in it.
@Suite struct RaftEntryCacheStoreTests {
    /// A DiskFirst store with an entry cache of `cacheBytes`.
    static func store(cacheBytes: Int = 1 << 20, prefetch: Int = 32, keepAfterSnapshot: Int? = nil) throws -> RaftTestStore {
        var c = raftStoreConfiguration(.diskFirst)
        c.raft.entryCacheBytes = cacheBytes
        c.raft.prefetchEntries = prefetch
        c.raft.keepEntriesAfterSnapshot = keepAfterSnapshot
        return try RaftTestStore(c)
    }

    /// The cached index ranges of group `id`.
    static func cached(_ t: RaftTestStore, _ id: RaftGroupID) throws -> [Range<UInt64>] {
        t.raft.cache.cachedRanges(try #require(t.raft.existing(id)).generation)
    }

    @Test("appended entries are read back from the cache: every lookup hits")
    func hitsAfterWriteThrough() async throws {
        let t = try Self.store()
        let entries = raftEntries(from: 1, terms: Array(repeating: 1, count: 40))
        for start in stride(from: 0, to: 40, by: 8) { try await t.raft.append(1, Array(entries[start..<start + 8])) }
        #expect(try Self.cached(t, 1) == [1..<9, 9..<17, 17..<25, 25..<33, 33..<41])
        #expect(try t.raft.entries(1, 1..<41) == entries)
        #expect(try t.raft.entry(1, 17) == entries[16])
        let metrics = t.raft.metricsSnapshot
        #expect(metrics.cacheHits == 41)
        #expect(metrics.cacheMisses == 0)
        #expect(t.raft.cache.statistics.hits == 41)
        #expect(t.raft.cache.statistics.insertions == 40)
    }

    @Test("a miss reads from the log and prefetches the following entries, which then hit")
    func prefetchOnMiss() async throws {
        let t = try Self.store(prefetch: 5)
        let entries = raftEntries(from: 1, terms: Array(repeating: 2, count: 20))
        try await t.raft.append(1, entries)
        try t.reopen()  // an empty cache
        #expect(try Self.cached(t, 1).isEmpty)
        #expect(try t.raft.entries(1, 3..<5) == Array(entries[2..<4]))
        #expect(t.raft.metricsSnapshot.cacheMisses == 2)
        #expect(try Self.cached(t, 1) == [3..<10], "the two read and the five after them")
        #expect(try t.raft.entries(1, 5..<10) == Array(entries[4..<9]))
        #expect(t.raft.metricsSnapshot.cacheHits == 5)
        // A miss before the cached run fills only the indexes not held.
        #expect(try t.raft.entries(1, 1..<4) == Array(entries[0..<3]))
        #expect(try Self.cached(t, 1) == [1..<3, 3..<10])
        #expect(t.raft.metricsSnapshot.cacheHits == 6)
        #expect(t.raft.metricsSnapshot.cacheMisses == 4)
    }

    @Test("a conflicting append replaces the cached suffix: the new entries are served, the old never")
    func conflictingAppend() async throws {
        let t = try Self.store()
        try await t.raft.append(1, raftEntries(from: 1, terms: Array(repeating: 1, count: 10)))
        let replacement = raftEntries(from: 6, terms: [2, 2, 2])
        try await t.raft.append(1, replacement)
        #expect(try Self.cached(t, 1) == [1..<6, 6..<9])
        let hits = t.raft.cache.statistics.hits
        #expect(try t.raft.entries(1, 6..<9) == replacement)
        #expect(t.raft.cache.statistics.hits == hits + 3)
    }

    @Test("truncateSuffix and truncatePrefix drop what they discard from the cache")
    func truncations() async throws {
        let t = try Self.store()
        let entries = raftEntries(from: 1, terms: Array(repeating: 1, count: 20))
        try await t.raft.append(1, Array(entries[0..<10]))
        try await t.raft.append(1, Array(entries[10..<20]))
        let full = t.raft.cache.statistics.bytes
        try await t.raft.truncateSuffix(1, after: 15)
        #expect(try Self.cached(t, 1) == [1..<11, 11..<16])
        try await t.raft.truncatePrefix(1, upTo: 12)
        #expect(try Self.cached(t, 1) == [12..<16])
        let stats = t.raft.cache.statistics
        #expect(stats.entries == 4)
        #expect(stats.bytes < full)
        #expect(stats.evictions == 0)
        // Re-appending after the cut: the new entries, from the cache.
        let again = raftEntries(from: 16, terms: [3, 3])
        try await t.raft.append(1, again)
        #expect(try t.raft.entries(1, 12..<18) == Array(entries[11..<15]) + again)
        #expect(t.raft.metricsSnapshot.cacheMisses == 0)
    }

    @Test("a snapshot that replaces the log empties the group's cache; one that keeps entries trims it")
    func snapshots() async throws {
        let t = try Self.store(keepAfterSnapshot: 3)
        try await t.raft.append(1, raftEntries(from: 1, terms: Array(repeating: 1, count: 10)))
        try await t.raft.saveSnapshot(1, RaftSnapshot(metadata: .init(index: 8, term: 1), data: [1]))
        #expect(t.raft.firstIndex(1) == 6)
        #expect(try Self.cached(t, 1) == [6..<11])
        try await t.raft.saveSnapshot(1, RaftSnapshot(metadata: .init(index: 30, term: 4), data: [2]))
        #expect(t.raft.lastIndex(1) == 30)
        #expect(try Self.cached(t, 1).isEmpty)
        #expect(t.raft.cache.statistics.entries == 0)
    }

    @Test("a small cache shared by groups evicts the oldest appends across them; reads stay exact")
    func evictionAcrossGroups() async throws {
        let sizeOfOne = RaftEntryCacheState.cost(of: raftEntries(from: 1, terms: Array(repeating: 1, count: 4))) + RaftEntryCacheState.runOverheadBytes
        let t = try Self.store(cacheBytes: 3 * sizeOfOne + sizeOfOne / 2)
        var all: [RaftGroupID: [RaftEntry]] = [:]
        for round in 0..<4 {
            for group in [RaftGroupID(1), RaftGroupID(2)] {
                let entries = raftEntries(from: UInt64(round * 4 + 1), terms: [1, 1, 1, 1])
                try await t.raft.append(group, entries)
                all[group, default: []] += entries
            }
        }
        // Eight appends of the same size, room for three: the last three remain, oldest first.
        let generation1 = try #require(t.raft.existing(1)).generation
        let generation2 = try #require(t.raft.existing(2)).generation
        #expect(t.raft.cache.runsByAge.map(\.generation) == [generation2, generation1, generation2])
        #expect(t.raft.cache.runsByAge.map(\.indexes) == [9..<13, 13..<17, 13..<17])
        #expect(t.raft.cache.statistics.evictions == 20)
        #expect(t.raft.cache.statistics.bytes <= t.raft.cache.capacityBytes)
        for group in [RaftGroupID(1), RaftGroupID(2)] { #expect(try t.raft.entries(group, 1..<17) == all[group]) }
    }

    @Test("MemFirst keeps no entry cache")
    func memFirstHasNoCache() async throws {
        let t = try RaftTestStore(.memFirstImmediate)
        try await t.raft.append(1, raftEntries(from: 1, terms: [1, 1]))
        #expect(try t.raft.entries(1, 1..<3).count == 2)
        #expect(!t.raft.cache.isEnabled)
        #expect(t.raft.cache.statistics == CacheStatistics())
        #expect(t.raft.metricsSnapshot.cacheHits + t.raft.metricsSnapshot.cacheMisses == 0)
    }
}
