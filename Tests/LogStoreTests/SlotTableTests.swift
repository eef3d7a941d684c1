import Testing

@testable import LogStore

// The cache tests key caches by these; they hash through `Hasher` (the protocol's default).
extension String: CacheKey {}
extension Int: CacheKey {}

/// The open-addressing table behind the cache (Sources/LogStore/Cache/SlotTable.swift).
@Suite struct SlotTableTests {
    /// Hashes that collide on purpose: few distinct tags, so probe runs are long, wrap around the
    /// end of the table and removals shift cells back across it.
    static func collidingHash(_ key: Int) -> UInt64 { UInt64(key % 7) << 61 | UInt64(key) }

    @Test("random inserts and removals agree with a dictionary, through growth, long runs and wrap-around",
          arguments: [1, 2, 3])
    func agreesWithDictionary(seed: UInt64) {
        var random = SplitMix(state: seed)
        var table = SlotTable()
        var model: [Int: Int32] = [:]  // key -> slot
        var keyOfSlot: [Int] = []  // slot -> key (slots are never reused here)
        var nextSlot: Int32 = 0
        for _ in 0..<20_000 {
            let key = Int(random.next() % 2_000)
            let hash = Self.collidingHash(key)
            let found = table.find(hash: hash) { keyOfSlot[Int($0)] == key }
            #expect(found == model[key], "key \(key)")
            if let slot = model[key] {
                if random.next() % 2 == 0 {
                    table.remove(hash: hash, slot: slot)
                    model[key] = nil
                }
            } else {
                table.insert(hash: hash, slot: nextSlot)
                model[key] = nextSlot
                keyOfSlot.append(key)
                nextSlot += 1
            }
            #expect(table.count == model.count)
        }
        for (key, slot) in model {
            #expect(table.find(hash: Self.collidingHash(key)) { $0 == slot } == slot)
        }
    }

    @Test("record locations that differ in one field hash apart; equal ones hash equal")
    func locationHashes() {
        let a = RecordLocation(segment: 3, offset: 4096, item: 7)
        #expect(a.cacheHash(seed: 42) == RecordLocation(segment: 3, offset: 4096, item: 7).cacheHash(seed: 42))
        #expect(a.cacheHash(seed: 42) != RecordLocation(segment: 4, offset: 4096, item: 7).cacheHash(seed: 42))
        #expect(a.cacheHash(seed: 42) != RecordLocation(segment: 3, offset: 4104, item: 7).cacheHash(seed: 42))
        #expect(a.cacheHash(seed: 42) != RecordLocation(segment: 3, offset: 4096, item: 8).cacheHash(seed: 42))
        #expect(a.cacheHash(seed: 42) != a.cacheHash(seed: 43))
        // Consecutive offsets spread over the tags (the table's high 32 bits).
        let tags = Set((0..<1000).map { RecordLocation(segment: 1, offset: UInt64($0) * 300).cacheHash(seed: 0) >> 32 })
        #expect(tags.count > 990)
    }
}
