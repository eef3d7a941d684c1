import Foundation
import Testing

@testable import LogStore

/// The obviously-correct index the tests compare ``KeyIndex`` against: per namespace, a dictionary
/// and a sorted key list.
struct KeyIndexModel {
    var maps: [UInt16: [[UInt8]: IndexEntry]] = [:]
    var sorted: [UInt16: [[UInt8]]] = [:]
    var count = 0

    /// Index of the first key in `keys` not before `key`.
    static func lowerBound(_ keys: [[UInt8]], _ key: [UInt8]) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid].lexicographicallyPrecedes(key) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    mutating func upsert(_ ns: UInt16, _ key: [UInt8], _ entry: IndexEntry) -> IndexEntry? {
        let previous = maps[ns, default: [:]].updateValue(entry, forKey: key)
        if previous == nil {
            var keys = sorted[ns, default: []]
            keys.insert(key, at: Self.lowerBound(keys, key))
            sorted[ns] = keys
            count += 1
        }
        return previous
    }

    mutating func remove(_ ns: UInt16, _ key: [UInt8]) -> IndexEntry? {
        guard let previous = maps[ns]?.removeValue(forKey: key) else { return nil }
        sorted[ns]!.remove(at: Self.lowerBound(sorted[ns]!, key))
        count -= 1
        return previous
    }

    func lookup(_ ns: UInt16, _ key: [UInt8]) -> IndexEntry? { maps[ns]?[key] }

    func scan(_ ns: UInt16, prefix: [UInt8], after: [UInt8]?, limit: Int) -> [([UInt8], IndexEntry)] {
        let matching = (sorted[ns] ?? []).filter { key in
            key.starts(with: prefix) && (after.map { $0.lexicographicallyPrecedes(key) } ?? true)
        }
        return matching.prefix(max(0, limit)).map { ($0, maps[ns]![$0]!) }
    }

    /// Every key of a namespace, sorted.
    func keys(_ ns: UInt16) -> [[UInt8]] { sorted[ns] ?? [] }
}

/// The in-memory key index (Index/KeyIndex.swift): hashing, entry table, arena, ordered listing.
/// Serialized so the (opt-in) measurement does not share the cores with the other tests.
@Suite("KeyIndex", .serialized)
struct KeyIndexTests {
    static let namespaces: [UInt16] = [0, 1, 7, UInt16.max]
    /// Stems many keys start with, so keys share prefixes (and the 6-byte order hints tie).
    static let stems: [[UInt8]] = [[], Array("a".utf8), Array("ab".utf8), Array("user:0000".utf8), [0, 0, 0, 0, 0, 0, 0],
                                   [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]]
    /// A small alphabet, including the bytes at both ends of the order.
    static let alphabet: [UInt8] = [0x00, 0x01, 0x61, 0x62, 0x7F, 0x80, 0xFF]

    static func randomKey(_ rng: inout SplitMix) -> [UInt8] {
        let length = Int.random(in: 0...40, using: &rng)
        var key = Array(stems.randomElement(using: &rng)!.prefix(length))
        while key.count < length { key.append(alphabet.randomElement(using: &rng)!) }
        return key
    }

    static func randomEntry(_ rng: inout SplitMix) -> IndexEntry {
        IndexEntry(
            version: rng.next(),
            location: RecordLocation(
                segment: UInt64.random(in: 0...KeyIndex.maxSegment, using: &rng),
                offset: UInt64.random(in: 0...KeyIndex.maxOffset, using: &rng),
                item: Bool.random(using: &rng) ? RecordLocation.plain : UInt32.random(in: 0...1000, using: &rng)),
            valueLength: UInt32.random(in: 0...UInt32.max, using: &rng))
    }

    /// A key to operate on: usually one the model holds, else a fresh random one.
    static func pickKey(_ model: KeyIndexModel, _ ns: UInt16, _ rng: inout SplitMix, existingPercent: Int = 70) -> [UInt8] {
        let keys = model.keys(ns)
        if !keys.isEmpty && Int.random(in: 0..<100, using: &rng) < existingPercent { return keys.randomElement(using: &rng)! }
        return randomKey(&rng)
    }

    /// Asserts that the index and the model agree on one scan.
    static func checkScan(_ index: KeyIndex, _ model: KeyIndexModel, _ ns: UInt16, prefix: [UInt8], after: [UInt8]?,
                          limit: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        let got = index.scan(namespace: ns, prefix: prefix, after: after, limit: limit)
        let expected = model.scan(ns, prefix: prefix, after: after, limit: limit)
        #expect(got.map(\.key) == expected.map(\.0), "ns \(ns) prefix \(prefix) after \(String(describing: after)) limit \(limit)",
                sourceLocation: sourceLocation)
        #expect(got.map(\.entry) == expected.map(\.1), sourceLocation: sourceLocation)
    }

    /// Random upserts, removes, lookups and scans against the model, in an insert-heavy phase (table
    /// growth, leaf splits) then a remove-heavy one (arena compaction, leaf merges, free-list reuse).
    /// `firstScanAt` delays the first scan, so the ordered keys are built over a large index.
    @Test("agrees with a dictionary model under random operations", arguments: [(1, 0), (2, 9_000), (3, 25_000), (4, 80_000)])
    func modelBased(seed: UInt64, firstScanAt: Int) {
        var rng = SplitMix(state: seed)
        var index = KeyIndex()
        var model = KeyIndexModel()
        let operations = 80_000
        var maxCount = 0
        for step in 0..<operations {
            let ns = Self.namespaces.randomElement(using: &rng)!
            let insertHeavy = step < operations / 2
            let roll = Int.random(in: 0..<100, using: &rng)
            let (upsertBelow, removeBelow) = insertHeavy ? (60, 70) : (20, 75)
            if roll < upsertBelow {
                let key = Self.pickKey(model, ns, &rng, existingPercent: 25), entry = Self.randomEntry(&rng)
                #expect(index.upsert(namespace: ns, key: key, entry: entry) == model.upsert(ns, key, entry))
            } else if roll < removeBelow {
                let key = Self.pickKey(model, ns, &rng)
                #expect(index.remove(namespace: ns, key: key) == model.remove(ns, key))
            } else if roll < 95 || step < firstScanAt {
                let key = Self.pickKey(model, ns, &rng)
                #expect(index.lookup(namespace: ns, key: key) == model.lookup(ns, key))
            } else {
                let prefix = Array(Self.pickKey(model, ns, &rng).prefix(Int.random(in: 0...6, using: &rng)))
                let after: [UInt8]? =
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: nil
                    case 1: Self.pickKey(model, ns, &rng)
                    default: prefix + Self.randomKey(&rng).prefix(3)
                    }
                let limit = [0, 1, 2, 5, 50, 1000, Int.max].randomElement(using: &rng)!
                Self.checkScan(index, model, ns, prefix: prefix, after: after, limit: limit)
            }
            #expect(index.count == model.count)
            maxCount = max(maxCount, model.count)
            if step % 5000 == 4999 {
                #expect(index.validate() == nil)
            }
        }
        #expect(index.validate() == nil)
        // The run must have exercised growth, compaction and (when scans ran) the ordered keys.
        #expect(maxCount > 10_000)
        #expect(index.arenaCompactions > 0)
        #expect(index.isPreparedForScans == (firstScanAt < operations))
        // Final full comparison.
        for ns in Self.namespaces {
            for key in model.keys(ns) { #expect(index.lookup(namespace: ns, key: key) == model.lookup(ns, key)) }
            Self.checkScan(index, model, ns, prefix: [], after: nil, limit: .max)
        }
    }

    @Test("a removed key can be inserted again, before and after the ordered keys exist")
    func removeThenReinsert() {
        for ordered in [false, true] {
            var index = KeyIndex()
            var rng = SplitMix(state: 99)
            if ordered { index.prepareForScans() }
            let keys = (0..<3000).map { i in Array("k\(i)".utf8) }
            let first = keys.map { _ in Self.randomEntry(&rng) }, second = keys.map { _ in Self.randomEntry(&rng) }
            for (k, e) in zip(keys, first) { #expect(index.upsert(namespace: 3, key: k, entry: e) == nil) }
            // Remove every other key, then put them back with new entries (reusing freed entry ids).
            for i in stride(from: 0, to: keys.count, by: 2) {
                #expect(index.remove(namespace: 3, key: keys[i]) == first[i])
                #expect(index.lookup(namespace: 3, key: keys[i]) == nil)
                #expect(index.remove(namespace: 3, key: keys[i]) == nil)
            }
            #expect(index.count == keys.count / 2)
            #expect(index.validate() == nil)
            for i in stride(from: 0, to: keys.count, by: 2) {
                #expect(index.upsert(namespace: 3, key: keys[i], entry: second[i]) == nil)
            }
            #expect(index.count == keys.count)
            for i in keys.indices {
                #expect(index.lookup(namespace: 3, key: keys[i]) == (i % 2 == 0 ? second[i] : first[i]))
            }
            let listed = index.scan(namespace: 3, prefix: [], after: nil, limit: .max).map(\.key)
            #expect(listed == keys.sorted { $0.lexicographicallyPrecedes($1) })
            #expect(index.validate() == nil)
        }
    }

    @Test("paging with `after` = the last key returned lists everything once, in order")
    func scanPagination() {
        var rng = SplitMix(state: 7)
        var index = KeyIndex()
        var all: [[UInt8]] = []
        for _ in 0..<6000 {
            let key = Self.randomKey(&rng)
            if index.upsert(namespace: 1, key: key, entry: Self.randomEntry(&rng)) == nil { all.append(key) }
            // Neighbouring namespaces must never leak into a listing of namespace 1.
            index.upsert(namespace: 0, key: Self.randomKey(&rng), entry: Self.randomEntry(&rng))
            index.upsert(namespace: 2, key: Self.randomKey(&rng), entry: Self.randomEntry(&rng))
        }
        all.sort { $0.lexicographicallyPrecedes($1) }
        for prefix in [[], Array("a".utf8), Array("user:0".utf8), [0, 0], [0xFF], Array("zz".utf8)] {
            let expected = all.filter { $0.starts(with: prefix) }
            for limit in [1, 7, 100, 5000] {
                var pages: [[UInt8]] = []
                var after: [UInt8]?
                var calls = 0
                while true {
                    let page = index.scan(namespace: 1, prefix: prefix, after: after, limit: limit)
                    #expect(page.count <= limit)
                    pages += page.map(\.key)
                    calls += 1
                    guard let last = page.last, calls <= expected.count + 1 else { break }
                    after = last.key
                }
                #expect(pages == expected, "prefix \(prefix) limit \(limit)")
            }
        }
        #expect(index.validate() == nil)
    }

    @Test("keys of length 0 and 65,535, and extreme locations, round-trip")
    func extremes() {
        var index = KeyIndex()
        let longKey = [UInt8](repeating: 0xAB, count: KeyIndex.maxKeyLength)
        let top = IndexEntry(
            version: .max, location: RecordLocation(segment: KeyIndex.maxSegment, offset: KeyIndex.maxOffset), valueLength: .max)
        let zero = IndexEntry(version: 0, location: RecordLocation(segment: 0, offset: 0, item: 0), valueLength: 0)
        index.upsert(namespace: 0, key: [], entry: top)
        index.upsert(namespace: 0, key: longKey, entry: zero)
        index.upsert(namespace: 1, key: [], entry: zero)
        #expect(index.lookup(namespace: 0, key: []) == top)
        #expect(index.lookup(namespace: 0, key: longKey) == zero)
        #expect(index.lookup(namespace: 1, key: []) == zero)
        #expect(index.lookup(namespace: 2, key: []) == nil)
        #expect(index.lookup(namespace: 0, key: Array(longKey.dropLast())) == nil)
        #expect(index.scan(namespace: 0, prefix: [], after: nil, limit: 10).map(\.key) == [[], longKey])
        #expect(index.scan(namespace: 0, prefix: [], after: [], limit: 10).map(\.key) == [longKey])
        #expect(index.scan(namespace: 0, prefix: [0xAB], after: nil, limit: 0).isEmpty)
        #expect(index.remove(namespace: 0, key: []) == top)
        #expect(index.scan(namespace: 0, prefix: [], after: nil, limit: 10).map(\.key) == [longKey])
        #expect(index.validate() == nil)
        #expect(MemoryLayout<PackedEntry>.stride == PackedEntry.expectedStride)
    }

    @Test("a copy of an index is independent of the original")
    func valueSemantics() {
        var original = KeyIndex()
        var rng = SplitMix(state: 11)
        for i in 0..<500 { original.upsert(namespace: 0, key: Array("k\(i)".utf8), entry: Self.randomEntry(&rng)) }
        _ = original.scan(namespace: 0, prefix: [], after: nil, limit: 1)
        var copy = original
        for i in 0..<250 { copy.remove(namespace: 0, key: Array("k\(i)".utf8)) }
        copy.upsert(namespace: 0, key: Array("new".utf8), entry: Self.randomEntry(&rng))
        #expect(original.count == 500 && copy.count == 251)
        #expect(original.scan(namespace: 0, prefix: [], after: nil, limit: .max).count == 500)
        #expect(copy.scan(namespace: 0, prefix: [], after: nil, limit: .max).count == 251)
        #expect(original.lookup(namespace: 0, key: Array("new".utf8)) == nil)
        #expect(original.validate() == nil && copy.validate() == nil)
    }

    @Test("concurrent first scans build the ordered keys once and agree")
    func concurrentFirstScans() async {
        var index = KeyIndex()
        var rng = SplitMix(state: 5)
        for _ in 0..<20_000 { index.upsert(namespace: 0, key: Self.randomKey(&rng), entry: Self.randomEntry(&rng)) }
        let shared = index
        let listings = await withTaskGroup(of: [[UInt8]].self) { group in
            for _ in 0..<4 { group.addTask { shared.scan(namespace: 0, prefix: [], after: nil, limit: .max).map(\.key) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(listings.count == 4 && listings.allSatisfy { $0 == listings[0] && $0.count == shared.count })
    }

    // MARK: Measurement (not a test)

    /// Prints size and speed figures; run by hand in release mode:
    /// `LOGSTORE_MEASURE=1 swift test -c release --scratch-path .build-index --filter KeyIndex`.
    @Test("measure: 1,000,000 16-byte keys", .enabled(if: ProcessInfo.processInfo.environment["LOGSTORE_MEASURE"] != nil))
    func measure() {
        let n = 1_000_000, keyLength = 16
        var rng = SplitMix(state: 2024)
        var keys = [UInt8](repeating: 0, count: n * keyLength)
        for i in stride(from: 0, to: keys.count, by: 8) {
            withUnsafeBytes(of: rng.next()) { keys.replaceSubrange(i..<i + 8, with: $0) }
        }
        let entry = { (i: Int) in
            IndexEntry(version: UInt64(i), location: RecordLocation(segment: UInt64(i >> 16), offset: UInt64(i) * 64), valueLength: 100)
        }
        let clock = ContinuousClock()
        func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15 }

        keys.withUnsafeBytes { all in
            func key(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: all[i * keyLength..<(i + 1) * keyLength]) }

            for sized in [false, true] {
                var index = sized ? KeyIndex(expectedKeys: n, expectedKeyBytes: n * keyLength) : KeyIndex()
                // Timed in batches of 64 inserts, like the store's group commits apply them: growth
                // of the tables shows as the slowest batches.
                var batchMicros: [Double] = []
                batchMicros.reserveCapacity(n / 64 + 1)
                let insert = clock.measure {
                    var i = 0
                    while i < n {
                        let started = clock.now
                        let end = min(n, i + 64)
                        while i < end {
                            index.upsert(namespace: 1, key: key(i), entry: entry(i))
                            i += 1
                        }
                        batchMicros.append(ms(clock.now - started) * 1e3)
                    }
                }
                batchMicros.sort()
                let bytesBefore = Double(index.memoryBytes) / Double(index.count)
                print("KeyIndex measure [\(sized ? "sized" : "default")]: bulk insert \(n) keys: \(ms(insert)) ms; memory \(bytesBefore) B/key (no ordered keys)")
                print("KeyIndex measure [\(sized ? "sized" : "default")]: 64-insert batches: p50 \(batchMicros[batchMicros.count / 2]) µs, p99.9 \(batchMicros[batchMicros.count * 999 / 1000]) µs, max \(batchMicros.last!) µs; over 100 µs: \(batchMicros.filter { $0 > 100 }.count)")

                // The keys to look up, in random order but laid out one after another, so the
                // figure is the index's cost and not that of fetching the probe key.
                var order = (0..<n).map { $0 }
                order.shuffle(using: &rng)
                var probes = [UInt8]()
                probes.reserveCapacity(n * keyLength)
                for i in order { probes.append(contentsOf: key(i)) }
                var sum: UInt64 = 0
                let lookups = probes.withUnsafeBytes { p in
                    clock.measure {
                        for j in 0..<n {
                            let probe = UnsafeRawBufferPointer(rebasing: p[j * keyLength..<(j + 1) * keyLength])
                            sum &+= index.lookup(namespace: 1, key: probe)?.version ?? 0
                        }
                    }
                }
                precondition(sum == UInt64(n) * UInt64(n - 1) / 2)
                print("KeyIndex measure [\(sized ? "sized" : "default")]: random lookups: \(Double(n) / ms(lookups) / 1e3) M/s")

                let build = clock.measure { index.prepareForScans() }
                let bytesAfter = Double(index.memoryBytes) / Double(index.count)
                print("KeyIndex measure [\(sized ? "sized" : "default")]: first-scan build: \(ms(build)) ms; memory \(bytesAfter) B/key (with ordered keys)")

                var listed = 0
                let scans = 200
                let scanTime = clock.measure {
                    for s in 0..<scans {
                        let prefix = [UInt8(truncatingIfNeeded: s)]
                        listed += index.scan(namespace: 1, prefix: prefix, after: nil, limit: 1000).count
                    }
                }
                precondition(listed == scans * 1000)
                print("KeyIndex measure [\(sized ? "sized" : "default")]: scan of 1,000 keys: \(ms(scanTime) * 1000 / Double(scans)) µs")

                // Incremental upkeep once the ordered keys exist: remove then re-insert 100,000 keys.
                let m = 100_000
                let removes = clock.measure { for i in 0..<m { index.remove(namespace: 1, key: key(i)) } }
                let reinserts = clock.measure { for i in 0..<m { index.upsert(namespace: 1, key: key(i), entry: entry(i)) } }
                print("KeyIndex measure [\(sized ? "sized" : "default")]: with ordered keys: remove \(ms(removes) * 1e3 / Double(m)) µs/key, insert \(ms(reinserts) * 1e3 / Double(m)) µs/key")
                precondition(index.count == n)
            }
        }
    }
}
