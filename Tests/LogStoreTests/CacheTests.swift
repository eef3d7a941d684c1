import Foundation
import Testing

@testable import LogStore

/// The byte-bounded LRU cache (Sources/LogStore/Cache/) and the store's value cache on top of it.
@Suite struct CacheTests {
    // MARK: - the cache

    @Test("LRU order: a hit refreshes recency; eviction takes the least recently used until within bytes")
    func lruOrderAndEvictionByBytes() {
        let cache = ByteBoundedCache<String, [UInt8]>(capacityBytes: 300)
        cache.insert([1], for: "a", bytes: 100)
        cache.insert([2], for: "b", bytes: 100)
        cache.insert([3], for: "c", bytes: 100)
        #expect(cache.keysByRecency == ["c", "b", "a"])
        #expect(cache.value(for: "a") == [1])
        #expect(cache.keysByRecency == ["a", "c", "b"])
        cache.insert([4], for: "d", bytes: 100)  // 400 > 300: "b" goes
        #expect(cache.keysByRecency == ["d", "a", "c"])
        #expect(cache.statistics.bytes == 300)
        // One entry of 250 bytes needs three of the 100-byte ones to leave, oldest first.
        cache.insert([5], for: "e", bytes: 250)
        #expect(cache.keysByRecency == ["e"])
        #expect(cache.statistics.evictions == 4)
        // A small one fits next to it; a third evicts the older of the two.
        cache.insert([6], for: "f", bytes: 50)
        #expect(cache.keysByRecency == ["f", "e"])
        cache.insert([7], for: "g", bytes: 1)
        #expect(cache.keysByRecency == ["g", "f"])
        #expect(cache.value(for: "e") == nil)
        #expect(cache.value(for: "f") == [6])
        #expect(cache.value(for: "g") == [7])
    }

    @Test("replacing a key's value changes its bytes and makes it the most recent")
    func replaceAdjustsBytes() {
        let cache = ByteBoundedCache<Int, [UInt8]>(capacityBytes: 1000)
        cache.insert([1], for: 1, bytes: 100)
        cache.insert([2], for: 2, bytes: 100)
        cache.insert([9, 9], for: 1, bytes: 300)
        #expect(cache.keysByRecency == [1, 2])
        #expect(cache.value(for: 1) == [9, 9])
        #expect(cache.statistics.bytes == 400)
        #expect(cache.statistics.entries == 2)
        // Growing past the capacity evicts the others, never the entry being written.
        cache.insert([8], for: 1, bytes: 1000)
        #expect(cache.keysByRecency == [1])
        #expect(cache.statistics.bytes == 1000)
    }

    @Test("a value larger than the capacity is not cached, and drops the key's old value")
    func oversizeValues() {
        let cache = ByteBoundedCache<Int, [UInt8]>(capacityBytes: 100)
        cache.insert([1], for: 1, bytes: 101)
        #expect(cache.value(for: 1) == nil)
        #expect(cache.statistics == CacheStatistics(misses: 1, capacityBytes: 100))
        cache.insert([2], for: 2, bytes: 100)  // exactly the capacity fits
        #expect(cache.value(for: 2) == [2])
        cache.insert([3], for: 2, bytes: 101)  // an oversize replacement removes the old value
        #expect(cache.value(for: 2) == nil)
        #expect(cache.statistics.entries == 0)
        #expect(cache.statistics.bytes == 0)
        #expect(cache.statistics.evictions == 0)
    }

    @Test("capacity 0 disables the cache: every lookup misses, nothing is stored")
    func disabled() {
        for capacity in [0, -5] {
            let cache = ByteBoundedCache<Int, [UInt8]>(capacityBytes: capacity)
            #expect(!cache.isEnabled)
            cache.insert([1], for: 1, bytes: 0)
            #expect(cache.value(for: 1) == nil)
            #expect(cache.value(for: 2) == nil)
            cache.remove(1)
            cache.removeAll()
            #expect(cache.keysByRecency.isEmpty)
            #expect(cache.statistics == CacheStatistics(misses: 2, capacityBytes: 0))
        }
    }

    @Test("statistics count hits, misses, insertions and evictions; remove and removeAll are not evictions")
    func statistics() {
        let cache = ByteBoundedCache<Int, [UInt8]>(capacityBytes: 250)
        #expect(cache.statistics == CacheStatistics(capacityBytes: 250))
        #expect(cache.statistics.hitRatio == 0)
        for key in 0..<3 { cache.insert([UInt8(key)], for: key, bytes: 100) }  // key 0 evicted
        #expect(cache.value(for: 0) == nil)
        #expect(cache.value(for: 1) == [1])
        #expect(cache.value(for: 2) == [2])
        #expect(cache.value(for: 2) == [2])
        #expect(
            cache.statistics
                == CacheStatistics(hits: 3, misses: 1, insertions: 3, evictions: 1, bytes: 200, entries: 2, capacityBytes: 250))
        #expect(cache.statistics.hitRatio == 0.75)
        cache.remove(1)
        cache.remove(42)  // absent: nothing happens
        #expect(cache.statistics.entries == 1)
        #expect(cache.statistics.bytes == 100)
        #expect(cache.statistics.evictions == 1)
        cache.removeAll()
        #expect(
            cache.statistics
                == CacheStatistics(hits: 3, misses: 1, insertions: 3, evictions: 1, bytes: 0, entries: 0, capacityBytes: 250))
        // Usable again after removeAll, with free slots reused.
        for key in 10..<20 { cache.insert([UInt8(key)], for: key, bytes: 50) }
        #expect(cache.keysByRecency == [19, 18, 17, 16, 15])
        #expect(cache.statistics.bytes == 250)
    }

    @Test("random operations agree with a plain reference LRU (order, bytes, values)")
    func matchesReferenceModel() {
        var rng = SplitMix(state: 0xCAC4E)
        for capacity in [1, 64, 500] {
            let cache = ByteBoundedCache<Int, [UInt8]>(capacityBytes: capacity)
            var model = ReferenceLRU(capacity: capacity)
            for step in 0..<20_000 {
                let key = Int(rng.next() % 40)
                switch rng.next() % 10 {
                case 0..<4:
                    let bytes = Int(rng.next() % UInt64(capacity + capacity / 4 + 2))
                    let value = [UInt8(truncatingIfNeeded: key), UInt8(truncatingIfNeeded: step)]
                    cache.insert(value, for: key, bytes: bytes)
                    model.insert(value, for: key, bytes: bytes)
                case 4..<8:
                    #expect(cache.value(for: key) == model.value(for: key))
                case 8:
                    cache.remove(key)
                    model.remove(key)
                default:
                    if rng.next() % 50 == 0 {
                        cache.removeAll()
                        model.entries.removeAll()
                    }
                }
                if step % 97 == 0 || capacity == 1 {
                    #expect(cache.keysByRecency == model.entries.map(\.key))
                    #expect(cache.statistics.bytes == model.bytes)
                    #expect(cache.statistics.bytes <= capacity)
                }
            }
            #expect(cache.keysByRecency == model.entries.map(\.key))
            #expect(cache.statistics.hits == model.hits)
            #expect(cache.statistics.misses == model.misses)
            #expect(cache.statistics.evictions == model.evictions)
        }
    }

    @Test("many tasks at once: no crash, values belong to their keys, the byte bound holds")
    func concurrentUse() async {
        let capacity = 20_000
        let cache = ByteBoundedCache<Int, [UInt8]>(capacityBytes: capacity)
        let tasks = 16
        let opsPerTask = 20_000
        let lookups = await withTaskGroup(of: Int.self, returning: Int.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var rng = SplitMix(state: UInt64(task) + 1)
                    var lookups = 0
                    for _ in 0..<opsPerTask {
                        let key = Int(rng.next() % 2000)
                        switch rng.next() % 8 {
                        case 0..<4:
                            lookups += 1
                            if let value = cache.value(for: key) {
                                #expect(value == Self.valueOf(key))
                            } else {
                                cache.insert(Self.valueOf(key), for: key, bytes: Self.valueOf(key).count)
                            }
                        case 4..<7:
                            cache.insert(Self.valueOf(key), for: key, bytes: Self.valueOf(key).count)
                        default:
                            if rng.next() % 64 == 0 { cache.removeAll() } else { cache.remove(key) }
                        }
                        if rng.next() % 1024 == 0 { #expect(cache.statistics.bytes <= capacity) }
                    }
                    return lookups
                }
            }
            return await group.reduce(0, +)
        }
        let stats = cache.statistics
        #expect(stats.hits + stats.misses == lookups)
        #expect(stats.bytes <= capacity)
        let keys = cache.keysByRecency
        #expect(keys.count == stats.entries)
        #expect(Set(keys).count == keys.count)
        #expect(keys.reduce(0) { $0 + Self.valueOf($1).count } == stats.bytes)
    }

    /// A value of 1...64 bytes that says which key it belongs to.
    static func valueOf(_ key: Int) -> [UInt8] {
        [UInt8](repeating: UInt8(truncatingIfNeeded: key), count: 1 + key % 64)
    }

    // MARK: - the store's value cache

    /// Small segments, every append compressed into a zstd container, the given cache size.
    func compressedStore(cacheBytes: Int = StoreConfiguration().cacheBytes) -> StoreConfiguration {
        var configuration = smallStore()
        configuration.log.compressionThreshold = 1
        configuration.cacheBytes = cacheBytes
        return configuration
    }

    /// A value that zstd shrinks (a single put of it is stored as a container of one record).
    func big(_ text: String) -> [UInt8] {
        Array(String(repeating: text + " ", count: 400 / (text.count + 1)).utf8)
    }

    @Test("gets served from the cache return exactly the stored bytes and version (values from zstd containers)")
    func cachedGetsAreExact() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: compressedStore())
        defer { try? store.close() }
        let ns = try Namespace("cache")
        var batch = WriteBatch()
        var expected: [[UInt8]: [UInt8]] = [:]
        for i in 0..<50 {
            let key = Array("key-\(i)".utf8)
            let value = testValue(writer: 7, seq: i, size: i * 13)
            batch.put(value, for: key, in: ns)
            expected[key] = value
        }
        let versions = try await store.write(batch)
        #expect(store.segments.count >= 1)
        for round in 0..<3 {
            for i in 0..<50 {
                let key = Array("key-\(i)".utf8)
                let found = try store.get(key, in: ns)
                #expect(found == VersionedValue(value: expected[key]!, version: versions[i]), "round \(round) key \(i)")
            }
        }
        let stats = store.statistics.cache
        #expect(stats.misses == 50)
        #expect(stats.hits == 100)
        #expect(stats.entries == 50)
        #expect(stats.insertions == 50)
        #expect(stats.capacityBytes == StoreConfiguration().cacheBytes)
        #expect(stats.bytes == expected.values.reduce(0) { $0 + store.cache.cost(of: $1) })
        // Each entry is charged its value plus about 130 bytes (docs/STORE.md §3).
        #expect((110...160).contains(store.cache.cost(of: [])))
    }

    @Test("plain records are read from the segment mapping and bypass the cache")
    func plainRecordsBypassTheCache() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: smallStore())
        defer { try? store.close() }
        let ns = try Namespace("cache")
        let version = try await store.put(bytes("plain"), for: bytes("k"), in: ns)
        for _ in 0..<3 { #expect(try store.get(bytes("k"), in: ns) == VersionedValue(value: bytes("plain"), version: version)) }
        #expect(store.statistics.cache == CacheStatistics(capacityBytes: StoreConfiguration().cacheBytes))
    }

    @Test("overwrite, delete and compare-and-swap never leave a stale value visible through the cache")
    func neverStale() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: compressedStore())
        defer { try? store.close() }
        let ns = try Namespace("cache")
        let key = bytes("k")
        let v1 = try await store.put(big("one"), for: key, in: ns)
        #expect(try store.get(key, in: ns) == VersionedValue(value: big("one"), version: v1))
        #expect(try store.get(key, in: ns) == VersionedValue(value: big("one"), version: v1))  // a hit
        let v2 = try await store.put(big("two"), for: key, in: ns)
        #expect(try store.get(key, in: ns) == VersionedValue(value: big("two"), version: v2))
        #expect(try await store.delete(key, in: ns))
        #expect(try store.get(key, in: ns) == nil)
        let v3 = try await store.compareAndSwap(key, in: ns, expected: .absent, newValue: big("three"))
        #expect(try store.get(key, in: ns) == VersionedValue(value: big("three"), version: v3))
        let v4 = try await store.compareAndSwap(key, in: ns, expected: v3, newValue: big("four"))
        #expect(try store.get(key, in: ns) == VersionedValue(value: big("four"), version: v4))
        var batch = WriteBatch()
        batch.put(big("five"), for: key, in: ns)
        batch.put(big("other"), for: bytes("k2"), in: ns)
        let versions = try await store.write(batch)
        #expect(try store.get(key, in: ns) == VersionedValue(value: big("five"), version: versions[0]))
        #expect(try store.get(bytes("k2"), in: ns) == VersionedValue(value: big("other"), version: versions[1]))
        // Every old value is still cached (locations are never reused), yet none was returned.
        #expect(store.statistics.cache.entries == 6)
        #expect(store.statistics.cache.hits == 1)
    }

    @Test("the byte bound holds after many gets, and values stay exact while entries are evicted")
    func capacityBoundHolds() async throws {
        let dir = TemporaryDirectory()
        let capacity = 8 * 1024
        let store = try Store.open(at: dir.logPath, configuration: compressedStore(cacheBytes: capacity))
        defer { try? store.close() }
        let ns = try Namespace("cache")
        var versions: [Version] = []
        for chunk in 0..<10 {
            var batch = WriteBatch()
            for i in chunk * 40..<(chunk + 1) * 40 { batch.put(testValue(writer: 1, seq: i, size: 100), for: Array("key-\(i)".utf8), in: ns) }
            versions += try await store.write(batch)
        }
        var rng = SplitMix(state: 99)
        for _ in 0..<3000 {
            let i = Int(rng.next() % 400)
            let found = try store.get(Array("key-\(i)".utf8), in: ns)
            #expect(found == VersionedValue(value: testValue(writer: 1, seq: i, size: 100), version: versions[i]))
        }
        let stats = store.statistics.cache
        #expect(stats.bytes <= capacity)
        #expect(stats.bytes > capacity / 2)
        #expect(stats.evictions > 0)
        #expect(stats.hits > 0)
        #expect(stats.hits + stats.misses == 3000)
        #expect(stats.entries == stats.insertions - stats.evictions)
    }

    @Test("cacheBytes 0 turns the cache off; a negative size is refused")
    func disabledInStore() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: compressedStore(cacheBytes: 0))
        let ns = try Namespace("cache")
        let version = try await store.put(big("v"), for: bytes("k"), in: ns)
        for _ in 0..<2 { #expect(try store.get(bytes("k"), in: ns) == VersionedValue(value: big("v"), version: version)) }
        #expect(store.statistics.cache == CacheStatistics(misses: 2, capacityBytes: 0))
        try store.close()
        // The cache lives in memory only: after reopening it starts empty and reads stay exact.
        let reopened = try Store.open(at: dir.logPath, configuration: compressedStore())
        #expect(try reopened.get(bytes("k"), in: ns) == VersionedValue(value: big("v"), version: version))
        #expect(reopened.statistics.cache.misses == 1)
        try reopened.close()

        let other = TemporaryDirectory()
        #expect(throws: StoreError.self) { try Store.open(at: other.logPath, configuration: compressedStore(cacheBytes: -1)) }
    }
}

/// LRU the obvious way (an array, most recent first), to check the cache against.
private struct ReferenceLRU {
    let capacity: Int
    var entries: [(key: Int, value: [UInt8], bytes: Int)] = []
    var hits = 0, misses = 0, evictions = 0
    var bytes: Int { entries.reduce(0) { $0 + $1.bytes } }

    init(capacity: Int) { self.capacity = capacity }

    mutating func value(for key: Int) -> [UInt8]? {
        guard let i = entries.firstIndex(where: { $0.key == key }) else {
            misses += 1
            return nil
        }
        hits += 1
        let entry = entries.remove(at: i)
        entries.insert(entry, at: 0)
        return entry.value
    }

    mutating func insert(_ value: [UInt8], for key: Int, bytes: Int) {
        remove(key)
        guard bytes <= capacity else { return }
        entries.insert((key, value, bytes), at: 0)
        while self.bytes > capacity {
            entries.removeLast()
            evictions += 1
        }
    }

    mutating func remove(_ key: Int) {
        entries.removeAll { $0.key == key }
    }
}
