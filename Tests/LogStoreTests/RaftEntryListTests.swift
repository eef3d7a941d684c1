import Testing

@testable import LogStore

/// `RaftEntryList` (chunked storage of a group's entry metadata) against a plain array: seeded
/// random operation sequences that cross chunk boundaries, and copies mutated independently.
@Suite struct RaftEntryListTests {
    static let chunk = RaftEntryList.chunkCapacity

    /// A list and the plain array it must equal, plus where the first entry sits in its chunk
    /// (discarding a prefix advances it; emptying the list resets it), which gives the number
    /// of chunks the list may hold.
    struct Checked {
        var list = RaftEntryList()
        var model: [RaftEntryMeta] = []
        var headOffset = 0

        mutating func append(_ meta: RaftEntryMeta) {
            list.append(meta)
            model.append(meta)
        }

        mutating func removeFirst(_ k: Int) {
            list.removeFirst(k)
            model.removeFirst(k)
            headOffset = model.isEmpty ? 0 : (headOffset + k) % RaftEntryListTests.chunk
        }

        mutating func keepFirst(_ k: Int) {
            list.keepFirst(k)
            model.removeSubrange(k...)
            if model.isEmpty { headOffset = 0 }
        }

        mutating func removeAll() {
            list.removeAll()
            model.removeAll()
            headOffset = 0
        }

        mutating func set(_ position: Int, _ meta: RaftEntryMeta) {
            list[position] = meta
            model[position] = meta
        }

        /// Every entry, the count, and that only the chunks spanning the entries are held.
        func verify(_ comment: Comment) {
            #expect(list.count == model.count, comment)
            #expect(list.isEmpty == model.isEmpty, comment)
            #expect(list.lastTerm == (model.last?.term ?? 0), comment)
            let chunks = model.isEmpty ? 0 : (headOffset + model.count + chunk - 1) / chunk
            let capacities = list.chunkCapacities
            #expect(capacities.count == chunks, comment)
            // A chunk's allocation may be rounded up, to a page at most.
            let most = chunk + 4096 / MemoryLayout<RaftEntryMeta>.stride
            #expect(capacities.allSatisfy { $0 <= most }, "\(comment): capacities \(capacities)")
            guard list.count == model.count else { return }
            let first = (0..<model.count).first { !same(list[$0], model[$0]) }
            #expect(first == nil, "\(comment): first difference at position \(first ?? -1)")
        }
    }

    /// Field-by-field equality (the type is not Equatable).
    static func same(_ a: RaftEntryMeta, _ b: RaftEntryMeta) -> Bool {
        a.term == b.term && a.location == b.location && a.payloadLength == b.payloadLength && a.payload == b.payload
    }

    /// A distinct entry (its term is `serial`) with a random location (or none) and sometimes
    /// a payload.
    /// A list (and its model) holding `count` fresh entries, numbered on from `serial`.
    static func filled(_ count: Int, serial: inout UInt64, _ rng: inout SplitMix) -> Checked {
        var checked = Checked()
        for _ in 0..<count {
            serial += 1
            checked.append(entry(serial, &rng))
        }
        return checked
    }

    static func entry(_ serial: UInt64, _ rng: inout SplitMix) -> RaftEntryMeta {
        let location: RecordLocation? =
            switch rng.next() % 3 {
            case 0: nil
            case 1: RecordLocation(segment: rng.next() % 1000, offset: rng.next() % (1 << 40))
            default: RecordLocation(segment: rng.next(), offset: rng.next(), item: UInt32(rng.next() % 4096))
            }
        let payload: [UInt8]? = rng.next() % 4 == 0 ? [UInt8(truncatingIfNeeded: serial), 7, 9] : nil
        return RaftEntryMeta(term: serial, location: location, payloadLength: UInt32(payload?.count ?? 0), payload: payload)
    }

    /// A count of entries to add or remove: mostly small, sometimes across one or several chunks.
    static func amount(_ rng: inout SplitMix, upTo limit: Int) -> Int {
        guard limit > 0 else { return 0 }
        let scale =
            switch rng.next() % 4 {
            case 0: 8
            case 1: 300
            case 2: chunk + 5
            default: 3 * chunk
            }
        return Int.random(in: 0...min(limit, scale), using: &rng)
    }

    /// One random operation on `checked`, described for failure messages.
    static func step(_ checked: inout Checked, _ serial: inout UInt64, _ rng: inout SplitMix) -> String {
        let count = checked.model.count
        // Past six chunks, shrink more often than grow, so the list stays a manageable size.
        let roll = Int(rng.next() % 100) + (count > 6 * chunk ? 25 : 0)
        switch roll {
        case ..<40:
            let n = amount(&rng, upTo: 4 * chunk)
            for _ in 0..<n {
                serial += 1
                checked.append(entry(serial, &rng))
            }
            return "append \(n) to \(count)"
        case ..<52:
            guard count > 0 else { return "nothing to set" }
            var positions: [Int] = []
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let position = Int.random(in: 0..<count, using: &rng)
                serial += 1
                checked.set(position, entry(serial, &rng))
                positions.append(position)
            }
            return "set \(positions) of \(count)"
        case ..<56:
            checked.removeAll()
            return "removeAll of \(count)"
        case ..<62:
            checked.removeFirst(count)
            return "removeFirst all \(count)"
        case ..<75:
            let k = Int.random(in: 0...count, using: &rng)
            checked.keepFirst(k)
            return "keepFirst \(k) of \(count)"
        default:
            let k = amount(&rng, upTo: count)
            checked.removeFirst(k)
            return "removeFirst \(k) of \(count)"
        }
    }

    @Test("random operations match a plain array", arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func randomOperations(seed: UInt64) {
        var rng = SplitMix(state: seed &* 0x5DEE_CE66_D1CE_4E5B)
        var checked = Checked()
        var serial: UInt64 = 0
        // Copies taken along the way: later mutations of `checked` must not reach them.
        var saved: [Checked] = []
        for operation in 0..<300 {
            let what = Self.step(&checked, &serial, &rng)
            checked.verify("seed \(seed) op \(operation): \(what)")
            if rng.next() % 10 == 0 { saved.append(checked) }
            if rng.next() % 10 == 0 {
                // A copy mutated on its own must leave the original (and the saved copies) alone.
                var fork = checked
                for forkOperation in 0..<3 {
                    let forkWhat = Self.step(&fork, &serial, &rng)
                    fork.verify("seed \(seed) op \(operation) fork op \(forkOperation): \(forkWhat)")
                }
                checked.verify("seed \(seed) op \(operation): original after its fork changed")
            }
        }
        #expect(serial > UInt64(10 * Self.chunk), "the sequence appended across many chunks")
        for (i, copy) in saved.enumerated() { copy.verify("seed \(seed): saved copy \(i)") }
    }

    @Test("draining a long list in steps frees chunks and keeps every entry")
    func drainInSteps() {
        var rng = SplitMix(state: 42)
        var serial: UInt64 = 0
        var checked = Self.filled(20 * Self.chunk + 123, serial: &serial, &rng)
        checked.verify("filled")
        #expect(checked.list.chunkCapacities.count == 21)
        var steps = 0
        while !checked.model.isEmpty {
            checked.removeFirst(min(checked.model.count, Int.random(in: 1...(2 * Self.chunk), using: &rng)))
            if steps < 30 {
                // Keep appending a little for a while, so the tail chunk fills as the head drains.
                for _ in 0..<Int.random(in: 0...100, using: &rng) {
                    serial += 1
                    checked.append(Self.entry(serial, &rng))
                }
            }
            steps += 1
            checked.verify("after \(steps) steps")
        }
        #expect(checked.list.chunkCapacities.isEmpty)
        // Empty, the list starts over at the start of a fresh chunk.
        serial += 1
        checked.append(Self.entry(serial, &rng))
        checked.verify("appended after draining")
    }

    @Test("each operation on a copy leaves the original as it was")
    func copiesAreIndependent() {
        var rng = SplitMix(state: 7)
        var serial: UInt64 = 0
        var original = Self.filled(3 * Self.chunk + 10, serial: &serial, &rng)
        original.removeFirst(Self.chunk / 2)
        let operations: [(String, (inout Checked) -> Void)] = [
            ("append", { $0.append(RaftEntryMeta(term: 0, location: nil, payloadLength: 0, payload: nil)) }),
            ("set first", { $0.set(0, RaftEntryMeta(term: 0, location: nil, payloadLength: 1, payload: [1])) }),
            ("set last", { $0.set($0.model.count - 1, RaftEntryMeta(term: 0, location: nil, payloadLength: 0, payload: nil)) }),
            ("removeFirst across a chunk", { $0.removeFirst(Self.chunk + 1) }),
            ("keepFirst within the first chunk", { $0.keepFirst(3) }),
            ("removeAll", { $0.removeAll() }),
        ]
        for (name, operation) in operations {
            var copy = original
            operation(&copy)
            copy.verify("the copy after \(name)")
            // The original's model is a plain array, so this catches a change to shared chunks.
            original.verify("the original after \(name) on a copy")
        }
    }

    @Test("entry metadata keeps its location in 40 bytes")
    func metaLocation() {
        #expect(MemoryLayout<RaftEntryMeta>.stride == 40)
        let locations: [RecordLocation?] = [
            nil, RecordLocation(segment: 0, offset: 0), RecordLocation(segment: .max, offset: .max),
            RecordLocation(segment: 3, offset: 4096, item: 0), RecordLocation(segment: 9, offset: 64, item: 255),
        ]
        for location in locations {
            var meta = RaftEntryMeta(term: 5, location: location, payloadLength: 12, payload: nil)
            #expect(meta.location == location)
            #expect(meta.term == 5 && meta.payloadLength == 12 && meta.payload == nil)
            meta.location = RecordLocation(segment: 1, offset: 2, item: 3)
            #expect(meta.location == RecordLocation(segment: 1, offset: 2, item: 3))
            meta.location = nil
            #expect(meta.location == nil)
            #expect(meta.term == 5 && meta.payloadLength == 12)
        }
    }
}
