import Testing

@testable import LogStore

/// The store's table of writes in flight (Sources/LogStore/Store/PendingWrites.swift), against a
/// dictionary model.
@Suite struct StorePendingWritesTests {
    /// What the table should hold for one key.
    struct ModelEntry {
        var inFlight = 0
        var waiters: [Int] = []
    }

    /// A key among `keys` distinct ones whose hashes share few low bits on purpose, so probe runs
    /// are long, wrap around the end of the table and removals shift slots back across it. The
    /// namespace and key bytes still tell keys apart (equal hashes, different keys).
    static func key(_ n: Int) -> PendingKey {
        let hash = UInt64(n % 5) &* 0x9E37_79B9_7F4A_7C15 | 0x3F  // low bits: 5 values, near the table's end
        return PendingKey(namespace: UInt16(n % 3), key: [UInt8(truncatingIfNeeded: n), UInt8(n >> 8)], hash: hash)
    }

    @Test("random adds, finishes and waits agree with a dictionary, through growth, long runs and wrap-around",
          arguments: [1, 2, 3] as [UInt64])
    func agreesWithDictionary(seed: UInt64) {
        var random = SplitMix(state: seed)
        var table = PendingWrites<Int>()
        var model: [Int: ModelEntry] = [:]  // by the number of the key, see `key(_:)`
        var nextWaiter = 0
        // Few keys first (short of a growth), then many (several growths).
        for (steps, keys) in [(5_000, 40), (30_000, 600)] {
            for _ in 0..<steps {
                let name = Int(random.next() % UInt64(keys))
                let key = Self.key(name)
                #expect(table.isPending(key) == (model[name] != nil), "key \(name)")
                switch random.next() % 8 {
                case 0..<4:  // writes outnumber finishes, so the table fills up
                    table.add(key)
                    model[name, default: ModelEntry()].inFlight += 1
                case 4..<7:
                    var woken: [Int] = []
                    table.finish(key, waking: &woken)
                    if var entry = model[name] {
                        entry.inFlight -= 1
                        if entry.inFlight == 0 {
                            #expect(woken == entry.waiters)
                            model[name] = nil
                        } else {
                            #expect(woken.isEmpty)
                            model[name] = entry
                        }
                    } else {
                        #expect(woken.isEmpty)
                    }
                default:
                    nextWaiter += 1
                    let kept = table.wait(for: key, nextWaiter)
                    #expect(kept == (model[name] != nil))
                    if kept { model[name]!.waiters.append(nextWaiter) }
                }
                #expect(table.count == model.count)
            }
        }
        // Draining every key wakes exactly the waiters the model holds, in order of arrival.
        for (name, entry) in model {
            var woken: [Int] = []
            for _ in 0..<entry.inFlight { table.finish(Self.key(name), waking: &woken) }
            #expect(woken == entry.waiters)
            #expect(!table.isPending(Self.key(name)))
        }
        #expect(table.count == 0)
    }

    @Test("keys that differ only in namespace, or only in bytes, are different keys")
    func keysAreExact() {
        var table = PendingWrites<Int>()
        let a = PendingKey(namespace: 1, key: Array("k".utf8))
        table.add(a)
        #expect(table.isPending(PendingKey(namespace: 1, key: Array("k".utf8))))
        #expect(!table.isPending(PendingKey(namespace: 2, key: Array("k".utf8))))
        #expect(!table.isPending(PendingKey(namespace: 1, key: Array("K".utf8))))
        #expect(!table.isPending(PendingKey(namespace: 1, key: a.key, hash: a.hash ^ 1)))
        #expect(!table.isPending(PendingKey(namespace: 1, key: Array("kk".utf8), hash: a.hash)))
        var woken: [Int] = []
        table.finish(PendingKey(namespace: 2, key: Array("k".utf8)), waking: &woken)  // not pending: ignored
        #expect(table.count == 1)
        table.finish(a, waking: &woken)
        #expect(table.count == 0 && woken.isEmpty)
    }
}
