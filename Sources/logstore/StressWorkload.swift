import Foundation
import LogStore

/// What every task of a `logstore stress` run shares.
struct StressContext: Sendable {
    /// The open store.
    let store: Store
    /// Where ACK lines go.
    let writer: AckWriter
    /// This run's writer id in hex: part of every value and payload, so each is unique.
    let writerTag: String
    /// Whether Raft writes return before they are durable (then each is awaited durable
    /// before its ACK).
    let memFirst: Bool
    /// When the tasks stop starting operations (nil: never; run until killed).
    let deadline: ContinuousClock.Instant?
    /// The namespaces written (`stress-0`, ...).
    let namespaces: [Namespace]
    /// Keys per namespace.
    let keysPerNamespace: Int

    /// Whether tasks should start another operation.
    var running: Bool {
        if Task.isCancelled { return false }
        guard let deadline else { return true }
        return ContinuousClock.now < deadline
    }
}

/// How many operations of each kind a task acknowledged (keys like `kv put`, `raft append`),
/// and `nak` for refusals.
typealias StressCounts = [String: Int]

/// One task writing keys: puts, deletes, compare-and-swaps and atomic batches over a bounded
/// key space (half of the picks from its first eight keys, so keys are overwritten, deleted
/// and contended).
struct StressKVTask {
    /// The task's number (the first part of its operation ids).
    let index: Int
    /// The shared context.
    let context: StressContext
    /// The task's generator.
    var rng: StressRandom
    /// The number of the task's next operation.
    var sequence = 0
    /// What it acknowledged.
    var counts: StressCounts = [:]

    init(index: Int, context: StressContext, seed: UInt64) {
        self.index = index
        self.context = context
        self.rng = StressRandom(seed: StressRandom.mix(seed ^ UInt64(index) &* 0x1000_0001))
    }

    /// Runs operations until the deadline or cancellation.
    ///
    /// - Throws: ``CLIFailure`` for any failure other than a refused condition (which is
    ///   printed as NAK): the store failed, or a self-check found the store answering
    ///   something its documentation rules out.
    mutating func run() async throws(CLIFailure) -> StressCounts {
        while context.running {
            sequence += 1
            try await step(op: "\(index).\(sequence)")
        }
        return counts
    }

    private mutating func pickKey() -> (StressKey, Namespace) {
        let n = Int.random(in: 0..<context.namespaces.count, using: &rng)
        let hot = min(8, context.keysPerNamespace)
        let k = rng.chance(50) ? Int.random(in: 0..<hot, using: &rng) : Int.random(in: 0..<context.keysPerNamespace, using: &rng)
        let namespace = context.namespaces[n]
        return (StressKey(namespace: namespace.name, key: Array("key-\(k)".utf8)), namespace)
    }

    private mutating func newValue(op: String, item: Int, key: StressKey) -> [UInt8] {
        let filler = rng.chance(2) ? Int.random(in: 1...16_384, using: &rng) : Int.random(in: 0...200, using: &rng)
        return StressPayloads.value(writer: context.writerTag, op: op, item: item, key: key, filler: filler)
    }

    /// The current version of `key` (0: absent); one time in ten a version that is surely
    /// wrong, so refusals happen too.
    private mutating func expectation(_ key: StressKey, _ namespace: Namespace) throws(CLIFailure) -> UInt64 {
        let current: UInt64
        do { current = try context.store.get(key.key, in: namespace)?.version.lsn ?? 0 } catch {
            throw CLIFailure("reading \(key) failed: \(error)")
        }
        if rng.chance(10) { return current == 0 ? 1 : 0 }
        return current
    }

    private mutating func step(op: String) async throws(CLIFailure) {
        let store = context.store
        let choice = Int.random(in: 0..<100, using: &rng)
        let (key, namespace) = pickKey()
        let operation: StressOperation
        let work: @Sendable () async throws(StoreError) -> UInt64
        if choice < 35 {
            let value = newValue(op: op, item: 0, key: key)
            operation = .put(key, ContentID(of: value))
            work = { () throws(StoreError) in try await store.put(value, for: key.key, in: namespace).lsn }
        } else if choice < 50 {
            // A batch of one delete writes a tombstone even for an absent key and returns its
            // version (store.delete returns only whether it wrote).
            var batch = WriteBatch()
            batch.delete(key.key, in: namespace)
            operation = .delete(key)
            let oneDelete = batch
            work = { () throws(StoreError) in try await store.write(oneDelete)[0].lsn }
        } else if choice < 75 {
            let expected = try expectation(key, namespace)
            let value: [UInt8]? = expected != 0 && rng.chance(30) ? nil : newValue(op: op, item: 0, key: key)
            operation = .compareAndSwap(key, expected: expected, value.map { ContentID(of: $0) })
            work = { () throws(StoreError) in
                try await store.compareAndSwap(key.key, in: namespace, expected: Version(lsn: expected), newValue: value).lsn
            }
        } else {
            var picked: [(StressKey, Namespace)] = [(key, namespace)]
            let size = Int.random(in: 2...4, using: &rng)
            for _ in 0..<(size * 3) where picked.count < size {
                let other = pickKey()
                if !picked.contains(where: { $0.0 == other.0 }) { picked.append(other) }
            }
            var batch = WriteBatch()
            var writes: [StressWrite] = []
            for (item, (k, ns)) in picked.enumerated() {
                if rng.chance(25) {
                    batch.delete(k.key, in: ns)
                    writes.append(StressWrite(key: k, value: nil))
                } else {
                    let value = newValue(op: op, item: item, key: k)
                    batch.put(value, for: k.key, in: ns)
                    writes.append(StressWrite(key: k, value: ContentID(of: value)))
                }
            }
            var conditions: [(key: StressKey, version: UInt64)] = []
            if rng.chance(40) {
                let (k, ns) = rng.chance(50) ? picked[0] : pickKey()
                let version = try expectation(k, ns)
                batch.require(k.key, in: ns, version: Version(lsn: version))
                conditions.append((k, version))
            }
            operation = .batch(writes: writes, conditions: conditions)
            let count = writes.count
            let finalBatch = batch
            work = { () throws(StoreError) in
                let versions = try await store.write(finalBatch).map(\.lsn)
                // docs/STORE.md §1: record i of a batch has version first + i.
                guard versions.count == count, versions.enumerated().allSatisfy({ $0.element == versions[0] + UInt64($0.offset) }) else {
                    throw StoreError(kind: .invalidArgument, message: "self-check: a batch of \(count) writes returned versions \(versions)")
                }
                return versions[0]
            }
        }
        try context.writer.emit(.attempt(op: op, operation))
        let version: UInt64
        do {
            version = try await work()
        } catch where error.kind == .versionMismatch {
            try context.writer.emit(.nak(op: op, reason: "version-mismatch"))
            counts["nak", default: 0] += 1
            return
        } catch {
            throw CLIFailure("operation \(op) (\(operation.body)) failed: \(error)")
        }
        try context.writer.emit(.ack(op: op, operation, result: [version]))
        counts[String(operation.body.split(separator: " ").prefix(2).joined(separator: " ")), default: 0] += 1
    }
}

/// What a Raft task knows of one of its groups: the state after its last operation (it is
/// the group's only writer), and the running term, vote and commit index of a pretend node.
struct StressGroupDriver: Sendable {
    /// The group.
    let id: RaftGroupID
    /// Its first index.
    var first: UInt64 = 1
    /// Its last index.
    var last: UInt64 = 0
    /// The highest term used; new entries get it.
    var term: UInt64 = 0
    /// The vote of the current term.
    var vote: UInt64 = 0
    /// The commit index: entries up to it are never overwritten or cut off.
    var commit: UInt64 = 0
    /// The newest snapshot's index (0: none).
    var snapshotIndex: UInt64 = 0

    /// A driver for `id`, continuing from `observed` (the group's state at open), if any.
    init(id: RaftGroupID, observed: ObservedGroup?) {
        self.id = id
        guard let g = observed else { return }
        first = g.firstIndex
        last = g.lastIndex
        snapshotIndex = g.snapshot?.index ?? 0
        term = max(g.hardState.term, g.entries.last?.term ?? 0, g.previousTerm, g.snapshot?.term ?? 0)
        vote = g.hardState.vote
        // The commit index never passes the last index nor lags the compacted prefix.
        commit = min(max(g.hardState.commit, snapshotIndex, first - 1), last)
    }

    /// The hard state of the pretend node: term, vote, commit index.
    var hardState: RaftHardState { RaftHardState(term: term, vote: vote, commit: commit) }
}

/// One task driving Raft groups as a Raft node would: appends with hard states, conflicting
/// overwrites with a higher term, suffix and prefix truncations, hard-state saves,
/// snapshots (keeping the log, or replacing it as one received from a leader does) and,
/// rarely, removals. Each group has exactly one task, so its operations are in order.
///
/// DiskFirst: one operation at a time, acknowledged when it returns (durable). MemFirst: a
/// burst of one to four operations, each returning once visible, then one wait for
/// durability (`waitUntilDurable` through the last index when the burst ends with an append,
/// else `flush()`), then an ACK for each, in order: so several writes of a group are queued
/// at once, and a crash can leave any prefix of a burst durable.
struct StressRaftTask {
    /// The task's number (the first part of its operation ids).
    let index: Int
    /// The shared context.
    let context: StressContext
    /// The task's generator.
    var rng: StressRandom
    /// The groups it drives.
    var groups: [StressGroupDriver]
    /// The number of the task's next operation.
    var sequence = 0
    /// What it acknowledged.
    var counts: StressCounts = [:]

    /// One planned operation: what it is, the call, the driver's state after it, and (for an
    /// append) the index to await durability through in MemFirst.
    struct Planned {
        /// The operation, as its lines spell it.
        let operation: StressOperation
        /// The call that makes it.
        let work: @Sendable () async throws(StoreError) -> Void
        /// The group's state once it is done.
        let next: StressGroupDriver
        /// For an append, its last index (MemFirst awaits durability through it).
        let durableThrough: UInt64?
    }

    init(index: Int, context: StressContext, seed: UInt64, groups: [StressGroupDriver]) {
        self.index = index
        self.context = context
        self.rng = StressRandom(seed: StressRandom.mix(seed ^ UInt64(index) &* 0x1000_0001))
        self.groups = groups
    }

    /// Runs operations until the deadline or cancellation.
    ///
    /// - Throws: ``CLIFailure`` for any failure: the store failed, refused a write the
    ///   driver built as valid, or answered something its documentation rules out.
    mutating func run() async throws(CLIFailure) -> StressCounts {
        while context.running {
            let g = Int.random(in: 0..<groups.count, using: &rng)
            groups[g] = try await burst(groups[g])
        }
        return counts
    }

    /// Makes one to four operations on one group (one in DiskFirst) and acknowledges them
    /// once durable; returns the driver's state after them.
    private mutating func burst(_ start: StressGroupDriver) async throws(CLIFailure) -> StressGroupDriver {
        let raft = context.store.raft
        let id = start.id, g = id.rawValue
        var driver = start
        var done: [(op: String, operation: StressOperation, result: [UInt64])] = []
        var durableThrough: UInt64? = nil
        for _ in 0..<(context.memFirst ? Int.random(in: 1...4, using: &rng) : 1) {
            sequence += 1
            let op = "\(index).\(sequence)"
            let planned = try plan(op: op, driver: driver)
            try context.writer.emit(.attempt(op: op, planned.operation))
            do { try await planned.work() } catch {
                throw CLIFailure("operation \(op) (\(planned.operation.body)) failed: \(error)")
            }
            let first = raft.firstIndex(id), last = raft.lastIndex(id)
            guard first == planned.next.first, last == planned.next.last else {
                throw CLIFailure(
                    "self-check: after operation \(op) (\(planned.operation.body)) group \(g) has entries \(first)...\(last), expected \(planned.next.first)...\(planned.next.last)")
            }
            if context.memFirst {
                // A durability claim about the state as visible now, for check to hold the store to.
                let durable = raft.durableIndex(id)
                guard durable <= last else {
                    throw CLIFailure("self-check: after operation \(op) group \(g)'s durableIndex \(durable) is past its last index \(last)")
                }
                try context.writer.emit(.durable(op: op, group: g, index: durable))
            }
            done.append((op, planned.operation, [first, last]))
            durableThrough = planned.durableThrough
            driver = planned.next
        }
        if context.memFirst {
            // Only durable facts are acknowledged. A burst that ends with an append is durable
            // once its entries are (writes reach the log in order); any other once flush() returns.
            do {
                if let durableThrough {
                    try await raft.waitUntilDurable(id, through: durableThrough)
                } else {
                    try await raft.flush()
                }
            } catch {
                throw CLIFailure("waiting for the durability of operations \(done.map(\.op)) of group \(g) failed: \(error)")
            }
            let visible = raft.hardState(id), durable = raft.durableHardState(id)
            guard durable == visible, raft.durableIndex(id) == raft.lastIndex(id) else {
                throw CLIFailure(
                    "self-check: after operations \(done.map(\.op)) of group \(g) are durable, durableIndex is \(raft.durableIndex(id)) (last index \(raft.lastIndex(id))) and the durable hard state \(durable) (visible \(visible))")
            }
        }
        for (op, operation, result) in done {
            try context.writer.emit(.ack(op: op, operation, result: result))
            counts[String(operation.body.split(separator: " ").prefix(2).joined(separator: " ")), default: 0] += 1
        }
        return driver
    }

    private func entries(op: String, group: UInt64, from index: UInt64, count: UInt64, term: UInt64) -> [RaftEntry] {
        (0..<count).map { i in
            RaftEntry(
                index: index + i, term: term,
                payload: StressPayloads.entry(writer: context.writerTag, op: op, group: group, index: index + i, term: term))
        }
    }

    /// Picks the next operation on a group in state `current`.
    private mutating func plan(op: String, driver current: StressGroupDriver) throws(CLIFailure) -> Planned {
        let raft = context.store.raft
        var d = current
        let id = d.id, g = d.id.rawValue
        if d.term == 0 { d.term = 1 }
        var next = d  // the driver's state after the operation
        let operation: StressOperation
        var durableThrough: UInt64? = nil  // MemFirst: an append's last index
        let work: @Sendable () async throws(StoreError) -> Void
        var kind = RaftStep.pick(Int.random(in: 0..<100, using: &rng), remove: rng.chance(15))
        if d.last > d.first + 300 && d.commit >= d.first { kind = .cutPrefix }  // keep the retained log short
        if !kind.applies(to: d) { kind = .append }
        switch kind {
        case .append, .conflict:
            let conflict = kind == .conflict
            let start = conflict ? UInt64.random(in: max(d.commit + 1, d.first)...d.last, using: &rng) : d.last + 1
            let count = UInt64.random(in: 1...(conflict ? 6 : 8), using: &rng)
            if conflict {
                next.term += 1
                next.vote = UInt64.random(in: 1...5, using: &rng)
            }
            next.last = start + count - 1
            var withHardState: RaftHardState? = nil
            if conflict || rng.chance(60) {
                next.commit = UInt64.random(in: d.commit...next.last, using: &rng)
                withHardState = next.hardState
            }
            let hardState = withHardState
            let batch = entries(op: op, group: g, from: start, count: count, term: next.term)
            let digest = StressPayloads.digest(batch.map { StressChecksum.crc32c($0.payload) })
            operation = .raftAppend(group: g, first: start, count: count, term: next.term, digest: digest, hardState: hardState)
            durableThrough = next.last
            work = { () throws(StoreError) in try await raft.append(id, batch, hardState: hardState) }
        case .cutSuffix:
            let after = UInt64.random(in: max(d.commit, d.first - 1)...(d.last - 1), using: &rng)
            next.last = after
            operation = .raftTruncateSuffix(group: g, after: after)
            work = { () throws(StoreError) in try await raft.truncateSuffix(id, after: after) }
        case .cutPrefix:
            let upTo = UInt64.random(in: (d.first + 1)...(min(d.commit, d.last) + 1), using: &rng)
            next.first = upTo
            operation = .raftTruncatePrefix(group: g, upTo: upTo)
            work = { () throws(StoreError) in try await raft.truncatePrefix(id, upTo: upTo) }
        case .snapshotKeep:
            // A snapshot of the committed state: the log holds its last entry, so entries stay.
            let index = d.commit
            let term: UInt64
            do { term = try raft.term(id, index) } catch { throw CLIFailure("group \(g): term(\(index)) failed: \(error)") }
            let data = StressPayloads.snapshot(writer: context.writerTag, op: op, group: g, index: index, term: term)
            next.snapshotIndex = index
            operation = .raftSnapshot(group: g, index: index, term: term, ContentID(of: data))
            work = { () throws(StoreError) in
                try await raft.saveSnapshot(id, RaftSnapshot(metadata: RaftSnapshotMetadata(index: index, term: term), data: data))
            }
        case .snapshotReplace:
            // A snapshot from a leader ahead of us: the whole log goes; it continues after the snapshot.
            let index = d.last + UInt64.random(in: 1...4, using: &rng)
            next.term += 1
            let term = next.term
            let data = StressPayloads.snapshot(writer: context.writerTag, op: op, group: g, index: index, term: term)
            next.snapshotIndex = index
            next.first = index + 1
            next.last = index
            next.commit = index
            operation = .raftSnapshot(group: g, index: index, term: term, ContentID(of: data))
            work = { () throws(StoreError) in
                try await raft.saveSnapshot(id, RaftSnapshot(metadata: RaftSnapshotMetadata(index: index, term: term), data: data))
            }
        case .remove:
            next = StressGroupDriver(id: id, observed: nil)
            next.term = d.term
            operation = .raftRemove(group: g)
            work = { () throws(StoreError) in try await raft.removeGroup(id) }
        case .hardState:
            if rng.chance(30) {
                next.term += 1
                next.vote = UInt64.random(in: 1...5, using: &rng)
            } else if d.last > d.commit {
                next.commit = UInt64.random(in: d.commit...d.last, using: &rng)
            }
            let hardState = next.hardState
            operation = .raftHardState(group: g, hardState)
            work = { () throws(StoreError) in try await raft.saveHardState(id, hardState) }
        }
        return Planned(operation: operation, work: work, next: next, durableThrough: durableThrough)
    }
}

/// The kinds of operation a Raft task makes, and when each is possible.
enum RaftStep: Equatable {
    /// New entries after the last one, often with a hard state.
    case append
    /// Entries from an uncommitted index on, with a higher term and a hard state (a new leader's log).
    case conflict
    /// `truncateSuffix` after an index at or above the commit index.
    case cutSuffix
    /// `truncatePrefix` up to at most the commit index + 1.
    case cutPrefix
    /// A snapshot at the commit index: the log holds that entry, so it stays.
    case snapshotKeep
    /// A snapshot past the last index with a higher term: the log is replaced.
    case snapshotReplace
    /// `removeGroup`.
    case remove
    /// `saveHardState`: a new term and vote, or a higher commit index.
    case hardState

    /// The step for a roll of 0..<100: append 50 %, conflicting overwrite 8 %, suffix
    /// truncation 5 %, prefix truncation 7 %, snapshots 2 % + 2 %, removal 0.15 %, hard state
    /// the rest.
    static func pick(_ roll: Int, remove: Bool) -> RaftStep {
        switch roll {
        case 0..<50: .append
        case 50..<58: .conflict
        case 58..<63: .cutSuffix
        case 63..<70: .cutPrefix
        case 70..<72: .snapshotKeep
        case 72..<74: .snapshotReplace
        case 74 where remove: .remove
        default: .hardState
        }
    }

    /// Whether the step can be made on a group in state `d` without touching committed entries.
    func applies(to d: StressGroupDriver) -> Bool {
        switch self {
        case .conflict: d.last >= max(d.commit + 1, d.first)
        case .cutSuffix: d.last > max(d.commit, d.first - 1)
        case .cutPrefix: d.commit >= d.first
        case .snapshotKeep: d.commit > d.snapshotIndex
        case .append, .snapshotReplace, .remove, .hardState: true
        }
    }
}
