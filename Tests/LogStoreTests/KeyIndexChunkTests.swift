import Testing

@testable import LogStore

/// The chunked storage under the index (Index/ChunkedArray.swift) and the index across many chunk
/// boundaries: growth without moving elements, per-chunk copy-on-write, contiguous runs for key
/// tails, and the index against a model with chunks small enough to cross hundreds of them.
extension KeyIndexTests {
    /// The address of element `i` of `array`, to tell whether it moved or is shared.
    static func address<T>(_ array: ChunkedArray<T>, _ i: Int) -> UnsafePointer<T> {
        array.withUnsafeView { $0.address(i) }
    }

    @Test("a chunked array doubles its first chunk up to full size, then adds chunks without moving elements")
    func chunkedArrayGrowth() {
        var array = ChunkedArray<UInt64>(chunkShift: 6)  // 64 per chunk
        #expect(array.count == 0 && array.capacity == 0 && array.chunkCapacity == 64)
        var capacities: [Int] = []
        for i in 0..<65 {
            array.append(UInt64(i) &* 0x9E37_79B9)
            if capacities.last != array.capacity { capacities.append(array.capacity) }
        }
        // 16, doubled to 32 and 64 (the full first chunk), then one more full chunk.
        #expect(capacities == [16, 32, 64, 128])
        // From here on no element moves: record the first element of every chunk as it is filled.
        var firsts: [Int: UnsafePointer<UInt64>] = [0: Self.address(array, 0), 64: Self.address(array, 64)]
        for i in 65..<10_000 {
            array.append(UInt64(i) &* 0x9E37_79B9)
            if i % 64 == 0 { firsts[i] = Self.address(array, i) }
        }
        #expect(array.count == 10_000)
        #expect(array.capacity == (10_000 + 63) / 64 * 64)
        #expect(array.memoryBytes >= array.capacity * MemoryLayout<UInt64>.stride)
        #expect(firsts.allSatisfy { Self.address(array, $0.key) == $0.value })
        #expect((0..<10_000).allSatisfy { array[$0] == UInt64($0) &* 0x9E37_79B9 })
        // Elements of one chunk are contiguous.
        #expect((0..<64).allSatisfy { Self.address(array, 128 + $0) == Self.address(array, 128) + $0 })
        array[9_999] = 7
        #expect(array[9_999] == 7 && array[9_998] == 9_998 &* 0x9E37_79B9)
    }

    @Test("copies of a chunked array share chunks until one writes, and then copy only that chunk")
    func chunkedArrayCopyOnWrite() {
        var original = ChunkedArray<UInt32>(chunkShift: 4)  // 16 per chunk
        for i in 0..<100 { original.append(UInt32(i)) }
        var copy = original
        #expect(Self.address(copy, 20) == Self.address(original, 20))

        copy[20] = 1_000
        #expect(original[20] == 20 && copy[20] == 1_000)
        // Chunk 1 (16..<32) was copied, with its other elements; the others are still shared.
        #expect(Self.address(copy, 20) != Self.address(original, 20))
        #expect((16..<32).allSatisfy { $0 == 20 || copy[$0] == UInt32($0) })
        #expect(Self.address(copy, 0) == Self.address(original, 0))
        #expect(Self.address(copy, 99) == Self.address(original, 99))
        // Now that the copy holds chunk 1 alone, it writes there in place.
        let copied = Self.address(copy, 16)
        copy[21] = 1_001
        #expect(Self.address(copy, 16) == copied && original[21] == 21)

        // Appending to one does not show in the other, even into the shared last chunk.
        original.append(100)
        copy.append(5_000)
        #expect(original.count == 101 && copy.count == 101)
        #expect(original[100] == 100 && copy[100] == 5_000)
        #expect(original[99] == 99 && copy[99] == 99)

        // A bulk update through a mutable view first unshares every chunk.
        var third = original
        third.withUnsafeMutableView { view in
            for i in 0..<101 { view[i] = view[i] &* 2 }
        }
        #expect((0..<101).allSatisfy { third[$0] == UInt32($0) * 2 && original[$0] == UInt32($0) })
        #expect((0..<101).allSatisfy { Self.address(third, $0) != Self.address(original, $0) })
        // A view over chunks the array holds alone writes in place.
        let before = (0..<101).map { Self.address(third, $0) }
        third.withUnsafeMutableView { $0[50] = 0 }
        #expect((0..<101).map { Self.address(third, $0) } == before && third[50] == 0)
    }

    @Test("a contiguous run that does not fit in the rest of a chunk starts the next one, after padding")
    func chunkedArrayContiguousRuns() {
        var array = ChunkedArray<UInt32>(chunkShift: 4)  // 16 per chunk
        for i in 0..<10 { array.append(UInt32(i)) }
        func run(_ length: Int, _ value: UInt32) -> Int {
            array.appendContiguous(count: length, padding: 0xEEEE) { $0.initialize(repeating: value) }
        }
        #expect(run(8, 1) == 16)  // 10 + 8 > 16: starts chunk 1
        #expect((10..<16).allSatisfy { array[$0] == 0xEEEE })
        #expect(run(8, 2) == 24)  // fills chunk 1 exactly
        #expect(run(16, 3) == 32)  // a whole chunk
        #expect(run(1, 4) == 48)
        #expect(run(15, 5) == 49)  // fills chunk 3 exactly
        #expect(run(3, 6) == 64)
        #expect(array.count == 67)
        let expected: [UInt32] = Array(0..<10) + Array(repeating: 0xEEEE, count: 6) + Array(repeating: 1, count: 8)
            + Array(repeating: 2, count: 8) + Array(repeating: 3, count: 16) + [4] + Array(repeating: 5, count: 15)
            + Array(repeating: 6, count: 3)
        #expect((0..<67).map { array[$0] } == expected)
        // Each run is contiguous.
        for (start, length) in [(16, 8), (32, 16), (49, 15)] {
            #expect((0..<length).allSatisfy { Self.address(array, start + $0) == Self.address(array, start) + $0 })
        }
    }

    @Test("reserving capacity allocates the chunks up front; appends up to it move nothing")
    func chunkedArrayReserve() {
        var array = ChunkedArray<PackedEntry>(chunkShift: 4)
        array.reserveCapacity(10)
        #expect(array.capacity == 10)  // a partial first chunk, sized as asked
        array.reserveCapacity(100)
        #expect(array.capacity == 112)
        let entry = PackedEntry(
            version: 1, head0: 2, head1: 3, segment: 4, offset: 5, item: 6, valueLength: 7, keyRef: 8, namespace: 9, keyLength: 10)
        array.append(entry)
        let first = Self.address(array, 0)
        for _ in 1..<112 { array.append(entry) }
        #expect(array.capacity == 112 && Self.address(array, 0) == first)
        #expect(array[111].keyRef == 8 && array[111].keyLength == 10)
        array[111].keyRef = 99
        #expect(array[111].keyRef == 99 && array[110].keyRef == 8)
    }

    /// One random operation on `index` and `model`, checked against each other.
    static func randomOperation(
        _ index: inout KeyIndex, _ model: inout KeyIndexModel, _ rng: inout SplitMix, upsertBelow: Int, removeBelow: Int,
        maxTail: Int
    ) {
        let ns = [UInt16(0), 1, 7].randomElement(using: &rng)!
        let roll = Int.random(in: 0..<100, using: &rng)
        // Fresh keys: mostly short (most fit in the entry), some with long tails that fill arena
        // chunks quickly and often do not fit in the rest of one.
        func freshKey() -> [UInt8] {
            guard Int.random(in: 0..<10, using: &rng) == 0 else { return randomKey(&rng) }
            let length = Int.random(in: 17...(16 + maxTail), using: &rng)
            var key = stems.randomElement(using: &rng)!
            while key.count < length { key.append(alphabet.randomElement(using: &rng)!) }
            return key
        }
        func someKey(existingPercent: Int) -> [UInt8] {
            let keys = model.keys(ns)
            if !keys.isEmpty && Int.random(in: 0..<100, using: &rng) < existingPercent { return keys.randomElement(using: &rng)! }
            return freshKey()
        }
        if roll < upsertBelow {
            let key = someKey(existingPercent: 25), entry = randomEntry(&rng)
            #expect(index.upsert(namespace: ns, key: key, entry: entry) == model.upsert(ns, key, entry))
        } else if roll < removeBelow {
            let key = someKey(existingPercent: 80)
            #expect(index.remove(namespace: ns, key: key) == model.remove(ns, key))
        } else if roll < 97 {
            let key = someKey(existingPercent: 70)
            #expect(index.lookup(namespace: ns, key: key) == model.lookup(ns, key))
        } else {
            let prefix = Array(someKey(existingPercent: 70).prefix(Int.random(in: 0...3, using: &rng)))
            checkScan(index, model, ns, prefix: prefix, after: nil, limit: 200)
        }
        #expect(index.count == model.count)
    }

    /// Every key of the model is found with its entry, and full listings agree.
    static func fullCheck(_ index: KeyIndex, _ model: KeyIndexModel, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(index.count == model.count, sourceLocation: sourceLocation)
        var mismatches = 0
        for ns in model.sorted.keys {
            for key in model.keys(ns) where index.lookup(namespace: ns, key: key) != model.lookup(ns, key) { mismatches += 1 }
            checkScan(index, model, ns, prefix: [], after: nil, limit: .max, sourceLocation: sourceLocation)
        }
        #expect(mismatches == 0, sourceLocation: sourceLocation)
        #expect(index.validate() == nil, sourceLocation: sourceLocation)
    }

    /// With 16-entry and 512-word chunks, thousands of keys span hundreds of entry chunks and key
    /// tails of up to 1,200 bytes regularly skip to the next arena chunk. Copies taken midway (one
    /// before the ordered keys exist, one after) are then changed independently of the original.
    @Test("agrees with a model across hundreds of small chunks, and copies stay independent", arguments: [11, 12])
    func modelBasedSmallChunks(seed: UInt64) {
        var rng = SplitMix(state: seed)
        var index = KeyIndex(entryChunkShift: 4, arenaChunkShift: 9)
        var model = KeyIndexModel()
        let maxTail = 1_200
        var maxCount = 0
        // Insert-heavy: grows through many chunks.
        for _ in 0..<12_000 {
            Self.randomOperation(&index, &model, &rng, upsertBelow: 70, removeBelow: 78, maxTail: maxTail)
            maxCount = max(maxCount, model.count)
        }
        #expect(maxCount > 4_000)  // > 250 entry chunks
        Self.fullCheck(index, model)

        // A copy before the ordered keys exist, one after; each then goes its own way.
        var copyA = index, modelA = model, rngA = SplitMix(state: seed &+ 100)
        index.prepareForScans()
        var copyB = index, modelB = model, rngB = SplitMix(state: seed &+ 200)
        for _ in 0..<4_000 {
            Self.randomOperation(&copyA, &modelA, &rngA, upsertBelow: 40, removeBelow: 80, maxTail: maxTail)
            Self.randomOperation(&copyB, &modelB, &rngB, upsertBelow: 60, removeBelow: 70, maxTail: maxTail)
        }
        // The original is untouched by both.
        Self.fullCheck(index, model)
        Self.fullCheck(copyA, modelA)
        Self.fullCheck(copyB, modelB)

        // Remove-heavy, then insert-heavy again: arena compaction and reuse of freed entry ids.
        let compactionsBefore = index.arenaCompactions
        for _ in 0..<14_000 {
            Self.randomOperation(&index, &model, &rng, upsertBelow: 15, removeBelow: 85, maxTail: maxTail)
        }
        #expect(index.arenaCompactions > compactionsBefore)
        Self.fullCheck(index, model)
        for _ in 0..<6_000 {
            Self.randomOperation(&index, &model, &rng, upsertBelow: 75, removeBelow: 80, maxTail: maxTail)
        }
        Self.fullCheck(index, model)
        // The copies did not see any of it.
        Self.fullCheck(copyA, modelA)
        Self.fullCheck(copyB, modelB)
    }

    @Test("an index sized for its keys does not grow while they are inserted")
    func presizedDoesNotGrow() {
        let n = 1_000, keyLength = 24
        var index = KeyIndex(expectedKeys: n, expectedKeyBytes: n * keyLength, entryChunkShift: 4)
        let sized = index.memoryBytes
        #expect(sized >= n * MemoryLayout<PackedEntry>.stride)
        var rng = SplitMix(state: 3)
        var model: [[UInt8]: IndexEntry] = [:]
        for i in 0..<n {
            let key = Array("presized-key-\(10_000_000_000 + i)".utf8)  // 24 bytes: 8 in the arena
            #expect(key.count == keyLength)
            let entry = Self.randomEntry(&rng)
            model[key] = entry
            index.upsert(namespace: 2, key: key, entry: entry)
        }
        #expect(index.count == n && model.count == n)
        #expect(index.memoryBytes == sized)
        #expect(model.allSatisfy { index.lookup(namespace: 2, key: $0.key) == $0.value })
    }

    /// The key of number `i` in `largeDefaultChunks`: its first 8 bytes are `i` big-endian, so keys
    /// sort by `i`; one in ten is 24 bytes long (8 bytes in the arena).
    static func numberedKey(_ i: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt64(i).bigEndian) { Array($0) } + withUnsafeBytes(of: UInt64(i) &* 0xA076_1D64_78BD_642F) { Array($0) }
            + (i % 10 == 0 ? [UInt8](repeating: UInt8(i & 0x7F), count: 8) : [])
    }

    @Test("300,000 keys across the default-size entry chunks: updates, removes, reinserts, copies, scans")
    func largeDefaultChunks() {
        let n = 300_000  // 2^17 entries per chunk: ids span three chunks
        var rng = SplitMix(state: 2_026)
        var index = KeyIndex()
        var model: [Int: IndexEntry] = [:]
        var mismatches = 0
        func entry() -> IndexEntry { Self.randomEntry(&rng) }
        func checkAll(_ index: KeyIndex, _ model: [Int: IndexEntry]) -> Int {
            (0..<n).reduce(0) { bad, i in bad + (index.lookup(namespace: 1, key: Self.numberedKey(i)) == model[i] ? 0 : 1) }
        }
        for i in 0..<n {
            let e = entry()
            if index.upsert(namespace: 1, key: Self.numberedKey(i), entry: e) != nil { mismatches += 1 }
            model[i] = e
        }
        #expect(mismatches == 0)
        #expect(index.count == n)
        #expect(index.memoryBytes >= n * MemoryLayout<PackedEntry>.stride)
        #expect(checkAll(index, model) == 0)

        // Remove a third of the 16-byte keys, then put them back: the freed entry ids are reused,
        // and nothing else grows (16-byte keys take no arena words; the count is unchanged).
        let removed = (0..<n).filter { $0 % 3 == 0 && $0 % 10 != 0 }
        for i in removed {
            if index.remove(namespace: 1, key: Self.numberedKey(i)) != model.removeValue(forKey: i) { mismatches += 1 }
        }
        #expect(mismatches == 0 && index.count == n - removed.count)
        let bytesAfterRemoves = index.memoryBytes
        for i in removed {
            let e = entry()
            if index.upsert(namespace: 1, key: Self.numberedKey(i), entry: e) != nil { mismatches += 1 }
            model[i] = e
        }
        #expect(mismatches == 0 && index.count == n)
        #expect(index.memoryBytes == bytesAfterRemoves)
        #expect(checkAll(index, model) == 0)

        // A copy, updated and shrunk on its own.
        var copy = index
        var copyModel = model
        for i in stride(from: 0, to: n, by: 7) {
            let e = entry()
            if copy.upsert(namespace: 1, key: Self.numberedKey(i), entry: e) != copyModel.updateValue(e, forKey: i) { mismatches += 1 }
        }
        for i in stride(from: 5, to: n, by: 11) {
            if copy.remove(namespace: 1, key: Self.numberedKey(i)) != copyModel.removeValue(forKey: i) { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(checkAll(index, model) == 0)
        #expect(checkAll(copy, copyModel) == 0)

        // Listings in key order (= number order).
        let listed = index.scan(namespace: 1, prefix: [], after: nil, limit: .max)
        #expect(listed.count == n)
        #expect(listed.indices.allSatisfy { listed[$0].key == Self.numberedKey($0) && listed[$0].entry == model[$0] })
        let copyListed = copy.scan(namespace: 1, prefix: [], after: Self.numberedKey(199_999), limit: 1_000).map(\.key)
        #expect(copyListed == copyModel.keys.filter { $0 >= 200_000 }.sorted().prefix(1_000).map(Self.numberedKey))
        #expect(index.validate() == nil && copy.validate() == nil)
    }
}
