import Testing

@testable import LogStore

/// The DiskFirst entry cache on its own (Sources/LogStore/Raft/RaftEntryCache*.swift): runs,
/// eviction by bytes across groups, cuts, trims, group removal, fills and its counters.
@Suite struct RaftEntryCacheTests {
    /// Entries `first ..< first + count` of `term`, payloads of `size` bytes naming them and `salt`.
    static func run(_ first: UInt64, count: Int, term: UInt64 = 1, size: Int = 100, salt: UInt64 = 0) -> [RaftEntry] {
        (0..<UInt64(count)).map { RaftEntry(index: first + $0, term: term, payload: raftPayload(index: first + $0, term: term, size: size, salt: salt)) }
    }

    /// The keys of `entries`, for a lookup.
    static func keys(_ entries: [RaftEntry]) -> [(index: UInt64, term: UInt64)] { entries.map { ($0.index, $0.term) } }

    /// What a run of `entries` is charged, its overhead included.
    static func charged(_ entries: [RaftEntry]) -> Int { RaftEntryCacheState.cost(of: entries) + RaftEntryCacheState.runOverheadBytes }

    @Test("written-through entries hit with their term, miss with another; counters count entries")
    func writeThroughThenHits() {
        let cache = RaftEntryCache(capacityBytes: 1 << 20)
        let entries = Self.run(1, count: 10, term: 2)
        cache.writeThrough(7, entries)
        #expect(cache.payloads(7, for: Self.keys(entries)) == entries.map(\.payload))
        // Another term at the same index, another generation, an index past the run: misses.
        #expect(cache.payloads(7, for: [(index: 3, term: 1), (index: 11, term: 2)]) == [nil, nil])
        #expect(cache.payloads(8, for: [(index: 3, term: 2)]) == [nil])
        let stats = cache.statistics
        #expect(stats == CacheStatistics(
            hits: 10, misses: 3, insertions: 10, evictions: 0, bytes: Self.charged(entries), entries: 10, capacityBytes: 1 << 20))
        #expect(cache.cachedRanges(7) == [1..<11])
    }

    @Test("eviction by bytes takes the oldest appends first, across groups, until within the capacity")
    func evictionAcrossGroupsOldestFirst() {
        let a = Self.run(1, count: 8)  // group 1
        let b = Self.run(1, count: 8, salt: 2)  // group 2
        let c = Self.run(9, count: 8)  // group 1
        let d = Self.run(9, count: 8, salt: 2)  // group 2
        let capacity = 3 * Self.charged(a)  // all four runs cost the same
        let cache = RaftEntryCache(capacityBytes: capacity)
        cache.writeThrough(1, a)
        cache.writeThrough(2, b)
        cache.writeThrough(1, c)
        #expect(cache.statistics.evictions == 0)
        cache.writeThrough(2, d)  // over by one run: group 1's first append goes
        #expect(cache.runsByAge.map(\.generation) == [2, 1, 2])
        #expect(cache.runsByAge.map(\.indexes) == [1..<9, 9..<17, 9..<17])
        #expect(cache.cachedRanges(1) == [9..<17])
        #expect(cache.cachedRanges(2) == [1..<9, 9..<17])
        #expect(cache.payloads(1, for: Self.keys(a)).allSatisfy { $0 == nil })
        #expect(cache.payloads(1, for: Self.keys(c)) == c.map(\.payload))
        var stats = cache.statistics
        #expect(stats.evictions == 8)
        #expect(stats.entries == 24)
        #expect(stats.bytes == capacity)
        // A run as large as two evicts the two oldest (group 2's, then group 1's).
        let big = Self.run(17, count: 16, salt: 2)
        cache.writeThrough(2, big)
        #expect(cache.runsByAge.map(\.generation) == [2, 2])
        #expect(cache.cachedRanges(1).isEmpty)
        #expect(cache.cachedRanges(2) == [9..<17, 17..<33])
        stats = cache.statistics
        #expect(stats.evictions == 24)
        #expect(stats.bytes <= capacity)
        #expect(stats.bytes == Self.charged(d) + Self.charged(big))
    }

    @Test("an append overlapping the cached entries replaces them from its first index on")
    func conflictingAppendCutsTheSuffix() {
        let cache = RaftEntryCache(capacityBytes: 1 << 20)
        let old = Self.run(1, count: 10, term: 1)
        cache.writeThrough(3, Array(old[0..<5]))
        cache.writeThrough(3, Array(old[5..<10]))
        let new = Self.run(4, count: 3, term: 2)
        cache.writeThrough(3, new)
        #expect(cache.cachedRanges(3) == [1..<4, 4..<7])
        // The replaced entries miss under their old term, and 7...10 are gone whatever the term.
        #expect(cache.payloads(3, for: Self.keys(Array(old[3..<10]))).allSatisfy { $0 == nil })
        #expect(cache.payloads(3, for: Self.keys(Array(old[0..<3]) + new)) == (Array(old[0..<3]) + new).map(\.payload))
        let stats = cache.statistics
        #expect(stats.entries == 6)
        #expect(stats.evictions == 0, "a cut is not an eviction")
        // The emptied run 6...10 stays queued behind the live 1...3 until it reaches the front,
        // charged its overhead.
        #expect(stats.bytes == Self.charged(Array(old[0..<3])) + Self.charged(new) + RaftEntryCacheState.runOverheadBytes)
        // Re-appending the same index again (a retry) replaces, never duplicates.
        cache.writeThrough(3, new)
        #expect(cache.cachedRanges(3) == [1..<4, 4..<7])
        #expect(cache.statistics.entries == 6)
    }

    @Test("retain drops what compaction and suffix truncation discard, in part or whole runs")
    func retainTrimsBothEnds() {
        let cache = RaftEntryCache(capacityBytes: 1 << 20)
        let entries = Self.run(1, count: 30)
        for start in stride(from: 0, to: 30, by: 10) { cache.writeThrough(5, Array(entries[start..<start + 10])) }
        cache.writeThrough(6, Self.run(1, count: 4))
        cache.retain(5, 14..<26)  // truncatePrefix(upTo: 14), then truncateSuffix(after: 25)
        #expect(cache.cachedRanges(5) == [14..<21, 21..<26])
        #expect(cache.cachedRanges(6) == [1..<5], "other groups keep theirs")
        #expect(cache.payloads(5, for: Self.keys(Array(entries[12..<27]))) == entries[12..<27].map { (14..<26).contains($0.index) ? $0.payload : nil })
        cache.retain(5, 40..<40)  // everything discarded (a snapshot past the log)
        #expect(cache.cachedRanges(5).isEmpty)
        let stats = cache.statistics
        #expect(stats.entries == 4)
        #expect(stats.evictions == 0)
        #expect(stats.bytes == Self.charged(Self.run(1, count: 4)), "emptied runs no longer charged once dequeued")
    }

    @Test("a removed group's entries leave; a new generation of the same group id sees none of them")
    func removedGroupsLeave() {
        let cache = RaftEntryCache(capacityBytes: 1 << 20)
        let old = Self.run(1, count: 5, salt: 1)
        cache.writeThrough(10, old)
        cache.writeThrough(11, Self.run(1, count: 5, salt: 3))
        cache.removeGroup(10)
        #expect(cache.cachedRanges(10).isEmpty)
        #expect(cache.payloads(10, for: Self.keys(old)).allSatisfy { $0 == nil })
        let recreated = Self.run(1, count: 5, salt: 2)  // same indexes and terms, other payloads
        cache.writeThrough(12, recreated)
        #expect(cache.payloads(12, for: Self.keys(recreated)) == recreated.map(\.payload))
        #expect(cache.runsByAge.map(\.generation) == [11, 12])
        #expect(cache.statistics.entries == 10)
    }

    @Test("a fill caches only indexes the group holds nothing for, never overwriting a newer entry")
    func fillLeavesHeldIndexes() {
        let cache = RaftEntryCache(capacityBytes: 1 << 20)
        let newer = Self.run(5, count: 3, term: 2)
        cache.writeThrough(1, newer)
        // A read that saw the log before the conflicting append brings term-1 entries 1...10
        // (with index 4 missing: a hit in the read).
        let stale = Self.run(1, count: 10, term: 1).filter { $0.index != 4 }
        cache.fill(1, stale)
        #expect(cache.cachedRanges(1) == [1..<4, 5..<8, 8..<11])
        #expect(cache.payloads(1, for: Self.keys(newer)) == newer.map(\.payload))
        #expect(cache.payloads(1, for: [(index: 6, term: 1)]) == [nil])
        #expect(cache.payloads(1, for: [(index: 2, term: 1), (index: 9, term: 1)]) == [stale[1].payload, stale[7].payload])
        #expect(cache.statistics.insertions == 3 + 6)
        // The next append cuts the filled entries after it like any others.
        cache.writeThrough(1, Self.run(8, count: 1, term: 2))
        #expect(cache.cachedRanges(1) == [1..<4, 5..<8, 8..<9])
    }

    @Test("runs larger than the capacity keep what fits: an append its newest entries, a fill its first")
    func oversizeRuns() {
        let entries = Self.run(1, count: 10)
        let capacity = Self.charged(Array(entries[0..<3]))
        let cache = RaftEntryCache(capacityBytes: capacity)
        cache.writeThrough(1, entries)
        #expect(cache.cachedRanges(1) == [8..<11])
        #expect(cache.statistics.bytes == capacity)
        cache.fill(2, entries)
        #expect(cache.cachedRanges(2) == [1..<4])
        #expect(cache.cachedRanges(1).isEmpty, "the older run made room")
        #expect(cache.statistics.bytes <= capacity)
        // One entry too large for the cache is not cached at all.
        let huge = Self.run(1, count: 1, size: capacity)
        cache.writeThrough(3, huge)
        #expect(cache.cachedRanges(3).isEmpty)
    }

    @Test("capacity 0 disables the cache: lookups miss, nothing is stored")
    func disabled() {
        let cache = RaftEntryCache(capacityBytes: 0)
        #expect(!cache.isEnabled)
        let entries = Self.run(1, count: 3)
        cache.writeThrough(1, entries)
        cache.fill(1, entries)
        #expect(cache.payloads(1, for: Self.keys(entries)) == [nil, nil, nil])
        #expect(cache.cachedRanges(1).isEmpty)
        #expect(cache.statistics == CacheStatistics(misses: 3, capacityBytes: 0))
    }

    @Test("a group's run list agrees with an array through front removals, reclaiming and inserts")
    func runListAgreesWithAnArray() {
        var random = SplitMix(state: 9)
        var list = RaftRunList()
        var model: [UInt64] = []
        for step in 0..<20_000 {
            switch random.next() % 6 {
            case 0, 1, 2:
                list.append(UInt64(step))
                model.append(UInt64(step))
            case 3 where !model.isEmpty:
                let k = Int(random.next() % UInt64(min(model.count, 3))) + 1
                list.removeFirst(k)
                model.removeFirst(k)
            case 4:
                let position = model.isEmpty ? 0 : Int(random.next() % UInt64(model.count + 1))
                let front = random.next() % 2 == 0 ? 0 : position  // the front reuses reclaimable room
                list.insert(UInt64(step), at: front)
                model.insert(UInt64(step), at: front)
            case 5 where !model.isEmpty:
                let position = Int(random.next() % UInt64(model.count))
                if random.next() % 2 == 0 {
                    list.remove(at: position)
                    model.remove(at: position)
                } else {
                    list.removeLast()
                    model.removeLast()
                }
            default:
                break
            }
            #expect(list.count == model.count)
            if step % 1000 == 0 { #expect(Array(list) == model, "step \(step)") }
        }
        #expect(Array(list) == model)
    }

    @Test("random appends, conflicts, truncations, removals and fills: hits are always the latest content; the bound holds",
          arguments: [1, 2, 3, 4])
    func randomOperationsAgreeWithAModel(seed: UInt64) {
        var random = SplitMix(state: seed)
        let capacity = Int(random.next() % 40_000) + 2_000
        let cache = RaftEntryCache(capacityBytes: capacity)
        // The model: per generation, the log as the group's state would list it. Four groups; a
        // removed one comes back under a new generation, as a recreated group object does.
        var logs: [UInt64: [RaftEntry]] = [:]
        var generations: [UInt64] = [1, 2, 3, 4]
        var version: UInt64 = 0
        for step in 0..<4_000 {
            let group = Int(random.next() % 4)
            let generation = generations[group]
            var log = logs[generation] ?? []
            let last = UInt64(log.count)
            switch random.next() % 8 {
            case 0...3:  // an append at the end or overlapping it
                let start = last == 0 ? 1 : max(1, last + 1 - random.next() % min(last + 1, 6))
                let term = (log.last?.term ?? 1) + random.next() % 2
                version += 1
                let entries = Self.run(start, count: Int(random.next() % 12) + 1, term: term, size: Int(random.next() % 200), salt: version)
                log = Array(log[0..<Int(start - 1)]) + entries
                cache.writeThrough(generation, entries)
            case 4:  // truncateSuffix
                let keep = last == 0 ? 0 : random.next() % last
                log = Array(log[0..<Int(keep)])
                cache.retain(generation, 1..<keep + 1)
            case 5:  // a read that missed and prefetched: what the log holds now
                if last > 0 {
                    let start = Int(random.next() % last)
                    cache.fill(generation, Array(log[start..<min(log.count, start + 8)]))
                }
            case 6:  // removal: the model gets a fresh log under a generation never used again
                cache.removeGroup(generation)
                #expect(cache.cachedRanges(generation).isEmpty)
                logs[generation] = nil
                generations[group] = generations.max()! + 1
                continue
            default:  // reads of the listed entries
                let got = cache.payloads(generation, for: Self.keys(log))
                for (entry, payload) in zip(log, got) where payload != nil {
                    #expect(payload == entry.payload, "seed \(seed) step \(step): generation \(generation) entry \(entry.index)")
                }
            }
            logs[generation] = log
            let stats = cache.statistics
            #expect(stats.bytes <= capacity)
            let ranges = generations.flatMap { cache.cachedRanges($0) }
            #expect(stats.entries == ranges.reduce(0) { $0 + $1.count })
        }
        #expect(cache.statistics.hits > 0, "the model should see hits")
        #expect(cache.statistics.evictions > 0, "the model should see evictions")
    }
}
