import CLogStore
import Foundation
import Testing

@testable import LogStore

// A model-based randomized test of the key-value store's contract (Store.swift: durability,
// visibility, compare-and-swap linearizability, batch atomicity, crash recovery).
//
// Several tasks run seeded random operations (get, put, delete, compare-and-swap with a current,
// stale or `.absent` version, atomic batches with conditions) on 3 namespaces × 6 keys, so keys
// collide and conditions contend. Every operation is recorded with what it submitted, what it
// returned and an LSN window: `lo` (the highest LSN its task had seen before submitting; the
// op's records and the state it validated or read against are at or after it) and `hi` (the
// first LSN its task got acknowledged afterwards, or the end of the round: its records are below).
//
// The model is exact despite concurrency because a version is an LSN: the state at any point
// is "the writes applied in LSN order". Plain deletes return no LSN, so the test closes the
// store and reads its commit log (CommitLog.readAll) and checks the log against the operations:
//  - LSNs are dense from 1 (recovery yields a prefix of the commit order);
//  - every acknowledged write is at the LSN it was acknowledged with, with its bytes
//    (acknowledged writes survive clean reopens and crashes); every acknowledged delete has a
//    tombstone in its window;
//  - every record belongs to a submitted write in its window: values are self-describing
//    (task, round, op, item, key), so a put is traced to its operation; an unacknowledged
//    batch that survived did so whole and contiguous; a write that failed (versionMismatch,
//    refused because the store had failed) is never in the log;
//  - every conditional write in the log saw its conditions hold in the log's state just before
//    its LSN: compare-and-swap never succeeds against a stale version;
//  - failed conditions report an `actual` version the key really had within the op's window,
//    reads return a state the key really had within their window (so only acknowledged state is
//    visible), and a delete that wrote nothing found the key absent within its window;
//  - at every checkpoint (end of each round while open, and right after every reopen: clean or
//    after a simulated crash) `get` of every key and `list` of every namespace equal the state
//    replayed from the log up to the checkpoint's LSN.
// Rounds alternate clean close+reopen and simulated crashes over the fault-injecting I/O
// (a random crash planned a few hundred calls ahead, torn writes included); writing goes on
// on the recovered store. Set LOGSTORE_LONG=1 for more seeds, rounds, tasks and operations.

private let modelNamespaceNames = ["alpha", "beta", "gamma"]
private let modelKeysPerNamespace = 6
private let modelNamespaces = modelNamespaceNames.map { try! Namespace($0) }

/// A key of the model: namespace index and key index ("k<i>").
struct ModelKey: Hashable, Sendable, CustomStringConvertible {
    let ns: Int
    let key: Int
    var bytes: [UInt8] { Array("k\(key)".utf8) }
    var namespace: Namespace { modelNamespaces[ns] }
    var description: String { "\(modelNamespaceNames[ns])/k\(key)" }

    static let all: [ModelKey] = (0..<modelNamespaceNames.count).flatMap { ns in
        (0..<modelKeysPerNamespace).map { ModelKey(ns: ns, key: $0) }
    }
}

/// One put (value) or delete (nil) of an operation.
struct ModelWrite: Sendable {
    let key: ModelKey
    let value: [UInt8]?
}

/// One version condition of an operation.
struct ModelCondition: Sendable {
    let key: ModelKey
    let version: Version
}

/// One operation a task ran, with what it returned.
struct ModelOp: Sendable, CustomStringConvertible {
    enum Kind: Sendable { case get, put, delete, cas, batch }
    enum Outcome: Sendable {
        case read(VersionedValue?)
        case acked([Version])
        /// A plain delete returned: true = a tombstone was written (its LSN is not returned).
        case deleted(Bool)
        case mismatch(StoreError)
        /// `failed` or `closed`: the store refused the write, nothing was written.
        case refused(StoreError)
        /// `outcomeUnknown` and other failures: written or not.
        case unknown(StoreError)
    }

    let round: Int
    let task: Int
    let seq: Int
    let kind: Kind
    let writes: [ModelWrite]
    let conditions: [ModelCondition]
    /// The highest LSN the task had seen before submitting.
    let lo: LSN
    /// Exclusive upper bound of the op's LSNs and of the state it saw (set when the round ends).
    var hi: LSN = .max
    var outcome: Outcome

    var description: String {
        var text = "round \(round) task \(task) op \(seq) \(kind)"
        if kind == .get { text += " \(writes[0].key)" }
        for w in writes where kind != .get {
            text += w.value.map { " put \(w.key)=\(String(decoding: $0.prefix(while: { $0 != 0x3B }), as: UTF8.self))" }
                ?? " delete \(w.key)"
        }
        for c in conditions { text += " if \(c.key)@\(c.version)" }
        text += " window (\(lo), \(hi == .max ? "∞" : String(hi)))"
        switch outcome {
        case .read(let r): text += " -> read \(r.map { "\($0.version)" } ?? "absent")"
        case .acked(let v): text += " -> acked \(v)"
        case .deleted(let d): text += " -> deleted \(d)"
        case .mismatch(let e): text += " -> mismatch expected \(e.expected.map(\.description) ?? "?") actual \(e.actual.map(\.description) ?? "?")"
        case .refused(let e): text += " -> refused \(e.kind)"
        case .unknown(let e): text += " -> unknown \(e.kind)"
        }
        return text
    }
}

/// What an open store showed at a point: every key and every namespace's listing.
struct ModelObservation {
    let label: String
    let lsn: LSN
    let values: [ModelKey: VersionedValue?]
    let lists: [[KeyPage.Entry]]
}

/// The test parameters: short by default, long with LOGSTORE_LONG=1.
struct ModelParameters {
    let rounds: Int
    let opsPerTask: Int
    let tasks: ClosedRange<Int>

    static let isLong = ProcessInfo.processInfo.environment["LOGSTORE_LONG"] == "1"
    static let current =
        isLong
        ? ModelParameters(rounds: 12, opsPerTask: 100, tasks: 4...8)
        : ModelParameters(rounds: 6, opsPerTask: 40, tasks: 4...6)
    static let seeds: [UInt64] = isLong ? Array(1...32) : [1, 2, 3, 4]
}

@Suite("Store model")
struct StoreModelTests {
    @Test(
        "random concurrent operations, clean reopens and simulated crashes match the LSN-ordered model",
        .timeLimit(.minutes(5)), arguments: ModelParameters.seeds)
    func randomizedModel(seed: UInt64) async throws {
        try await StoreModelRun(seed: seed, parameters: .current).run()
    }
}

/// One seeded run: rounds over one store directory, the history of every operation, checks.
final class StoreModelRun {
    let seed: UInt64
    let parameters: ModelParameters
    let dir = TemporaryDirectory("logstore-model")
    let configuration: StoreConfiguration
    var rng: SplitMix
    var history: [ModelOp] = []
    var observations: [ModelObservation] = []
    var summary = ""
    var crashes = 0
    var segments: UInt64 = 0

    init(seed: UInt64, parameters: ModelParameters) {
        self.seed = seed
        self.parameters = parameters
        rng = SplitMix(state: seed ^ 0x5EED_0F_57_0AE)
        var c = smallStore(segmentSize: 64 * 1024)
        if seed % 2 == 1 { c.backend = .ioUring }
        // Completions on the completer thread must keep the model's LSN order too.
        if seed % 3 == 2 { c.log.pipelining = .always }
        configuration = c
    }

    func run() async throws {
        var crashedRoundOps: [ModelOp]? = nil  // ops of a crashed round, waiting for the recovered last LSN
        var cleanEnd: LSN? = nil
        for round in 0...parameters.rounds {
            let last = round == parameters.rounds
            let crash = !last && (round == 1 || (round > 1 && rng.next() % 2 == 0))
            var faults: OpaquePointer? = nil
            var io: UnsafeMutablePointer<ls_io>? = nil
            let store: Store
            if crash {
                var inner: UnsafeMutablePointer<ls_io>?
                let backend = configuration.backend == .ioUring ? LS_BACKEND_URING : LS_BACKEND_PWRITEV
                try #require(ls_io_posix_create(backend, LS_URING_LINKED_FDATASYNC, &inner) == 0, "seed \(seed)")
                try #require(ls_faultio_create(inner, seed &* 1000 &+ UInt64(round), &faults) == 0, "seed \(seed)")
                io = ls_faultio_as_io(faults!)
                store = try Store(path: dir.logPath, configuration: configuration, io: io)
            } else {
                store = try Store.open(at: dir.logPath, configuration: configuration)
            }
            let start = store.recoveryReport.log.lastLSN
            segments = store.recoveryReport.log.segments
            if let ops = crashedRoundOps {
                history += Self.closeWindows(ops, end: start)
                crashedRoundOps = nil
            }
            if let cleanEnd {
                #expect(start == cleanEnd, "seed \(seed): round \(round) reopened at LSN \(start) after a clean close at \(cleanEnd)")
            }
            cleanEnd = nil
            observations.append(try observe(store, at: start, label: "round \(round) after open"))
            if last {
                try store.close()
                break
            }
            let tasks = parameters.tasks.lowerBound
                + Int(rng.next() % UInt64(parameters.tasks.upperBound - parameters.tasks.lowerBound + 1))
            if crash, let faults {
                let calls = ls_faultio_call_count(faults)
                if rng.next() % 2 == 0 {
                    // Power cut at a random call (a write then tears at a random byte).
                    ls_faultio_plan_random_crash(faults, calls + 5, calls + 5 + 1 + rng.next() % 250)
                } else {
                    // A group commit whose sync fails: written, unsynced, outcome unknown; the
                    // power cut then keeps it whole, torn or not at all (by the seed).
                    ls_faultio_plan_durable_write(faults, ls_faultio_durable_write_count(faults) + rng.next() % 150, LS_FAULT_SYNC_EIO, 0)
                }
                let ops = await workload(store, round: round, tasks: tasks, ops: parameters.opsPerTask * 10, start: start, crashing: true)
                if ls_faultio_crashed(faults) == 0 { ls_faultio_crash_now(faults) }
                do { try store.close() } catch { /* a crashed process cannot close cleanly */ }
                #expect(ls_faultio_apply_crash(faults) == 0, "seed \(seed)")
                ls_io_destroy(io!)
                crashedRoundOps = ops
                crashes += 1
            } else {
                let ops = await workload(store, round: round, tasks: tasks, ops: parameters.opsPerTask, start: start, crashing: false)
                let end = store.log.durableLSN
                observations.append(try observe(store, at: end, label: "round \(round) end"))
                history += Self.closeWindows(ops, end: end)
                try store.close()
                cleanEnd = end
                try verify()
            }
        }
        try verify()
        print("StoreModel \(summary); \(crashes) crash rounds, \(segments) segments")
    }

    /// Sets each op's `hi`: the first LSN its task got acknowledged afterwards, else `end + 1`.
    static func closeWindows(_ ops: [ModelOp], end: LSN) -> [ModelOp] {
        var result = ops
        var next: [Int: LSN] = [:]  // task -> first acked LSN after the current op
        for i in result.indices.reversed() {
            let task = result[i].task
            result[i].hi = min(next[task] ?? .max, end + 1)
            if case .acked(let versions) = result[i].outcome, let first = versions.first {
                next[task] = first.lsn
            }
        }
        return result
    }

    func observe(_ store: Store, at lsn: LSN, label: String) throws -> ModelObservation {
        var values: [ModelKey: VersionedValue?] = [:]
        for key in ModelKey.all { values[key] = .some(try store.get(key.bytes, in: key.namespace)) }
        let lists = try modelNamespaces.map { try store.list(in: $0).entries }
        return ModelObservation(label: label, lsn: lsn, values: values, lists: lists)
    }

    // MARK: - workload

    func workload(_ store: Store, round: Int, tasks: Int, ops: Int, start: LSN, crashing: Bool) async -> [ModelOp] {
        let seed = self.seed
        let taskSeeds = (0..<tasks).map { _ in rng.next() }
        return await withTaskGroup(of: [ModelOp].self) { group in
            for task in 0..<tasks {
                let taskSeed = taskSeeds[task]
                group.addTask {
                    await Self.runTask(
                        store, seed: seed, taskSeed: taskSeed, round: round, task: task, ops: ops, start: start,
                        crashing: crashing)
                }
            }
            var all: [ModelOp] = []
            for await part in group { all += part }
            return all
        }
    }

    /// One task: `ops` random operations, stopping at the first write error other than a
    /// version mismatch (in a crashing round; any such error is a failure otherwise).
    static func runTask(
        _ store: Store, seed: UInt64, taskSeed: UInt64, round: Int, task: Int, ops: Int, start: LSN, crashing: Bool
    ) async -> [ModelOp] {
        var rng = SplitMix(state: taskSeed)
        var horizon = start
        var lastRead: [ModelKey: Version] = [:]
        var out: [ModelOp] = []
        var seq = 0

        func randomKey() -> ModelKey { ModelKey.all[Int(rng.next() % UInt64(ModelKey.all.count))] }
        func makeValue(_ key: ModelKey, item: Int) -> [UInt8] {
            var v = Array("T\(task).R\(round).O\(seq).I\(item).\(key);".utf8)
            // One value in eight is large enough to be encoded before the store's write lock
            // (Store.encodeBeforeLockBytes), so both ways of queueing a write race each other here.
            let padding = rng.next() % 8 == 0 ? Store.encodeBeforeLockBytes + Int(rng.next() % 4096) : Int(rng.next() % 400)
            for _ in 0..<padding { v.append(UInt8(ascii: "a") + UInt8(rng.next() % 26)) }
            return v
        }
        func randomVersion(_ key: ModelKey) -> Version {
            switch rng.next() % 10 {
            case 0, 1: .absent
            case 2: Version(lsn: (lastRead[key]?.lsn ?? 0) + 1 + rng.next() % 3)  // a version that never was this key's
            default: lastRead[key] ?? .absent
            }
        }
        /// Records a get; returns false if it failed.
        func read(_ key: ModelKey) -> Bool {
            do {
                let r = try store.get(key.bytes, in: key.namespace)
                out.append(ModelOp(round: round, task: task, seq: seq, kind: .get, writes: [ModelWrite(key: key, value: nil)],
                                   conditions: [], lo: horizon, outcome: .read(r)))
                horizon = max(horizon, r?.version.lsn ?? 0)
                lastRead[key] = r?.version ?? .absent
                return true
            } catch {
                // After a simulated crash the "process" is dead and its I/O fails, so a read
                // that must open a segment fails too: expected then, a failure otherwise.
                if !(crashing && error.kind == .io) {
                    Issue.record("seed \(seed): round \(round) task \(task) op \(seq): get \(key) failed: \(error)")
                }
                return false
            }
        }

        loop: while seq < ops {
            defer { seq += 1 }
            let choice = rng.next() % 100
            if choice < 10 {
                if !read(randomKey()) { break loop }
                continue
            }
            var kind: ModelOp.Kind
            var writes: [ModelWrite] = []
            var conditions: [ModelCondition] = []
            switch choice {
            case 10..<35:
                kind = .put
                let key = randomKey()
                writes = [ModelWrite(key: key, value: makeValue(key, item: 0))]
            case 35..<48:
                kind = .delete
                writes = [ModelWrite(key: randomKey(), value: nil)]
            case 48..<78:
                kind = .cas
                let key = randomKey()
                if rng.next() % 2 == 0 { if !read(key) { break loop } }  // often a fresh version, sometimes a stale one
                conditions = [ModelCondition(key: key, version: randomVersion(key))]
                writes = [ModelWrite(key: key, value: rng.next() % 5 == 0 ? nil : makeValue(key, item: 0))]
            default:
                kind = .batch
                let count = 2 + Int(rng.next() % 3)
                let putAt = Int(rng.next() % UInt64(count))  // at least one put, so a batch is recognisable in the log
                for item in 0..<count {
                    let key = randomKey()
                    writes.append(ModelWrite(key: key, value: item == putAt || rng.next() % 3 != 0 ? makeValue(key, item: item) : nil))
                }
                for _ in 0..<Int(rng.next() % 3) {
                    // Conditions mostly on keys the batch writes, so they contend.
                    let key = rng.next() % 3 == 0 ? randomKey() : writes[Int(rng.next() % UInt64(count))].key
                    if rng.next() % 3 == 0 { if !read(key) { break loop } }
                    conditions.append(ModelCondition(key: key, version: randomVersion(key)))
                }
            }
            let lo = horizon
            let outcome: ModelOp.Outcome
            do {
                switch kind {
                case .put:
                    let w = writes[0]
                    outcome = .acked([try await store.put(w.value!, for: w.key.bytes, in: w.key.namespace)])
                case .delete:
                    outcome = .deleted(try await store.delete(writes[0].key.bytes, in: writes[0].key.namespace))
                case .cas:
                    let w = writes[0]
                    outcome = .acked([
                        try await store.compareAndSwap(w.key.bytes, in: w.key.namespace, expected: conditions[0].version, newValue: w.value)
                    ])
                case .batch:
                    var batch = WriteBatch()
                    for w in writes {
                        if let value = w.value { batch.put(value, for: w.key.bytes, in: w.key.namespace) } else {
                            batch.delete(w.key.bytes, in: w.key.namespace)
                        }
                    }
                    for c in conditions { batch.require(c.key.bytes, in: c.key.namespace, version: c.version) }
                    outcome = .acked(try await store.write(batch))
                case .get:
                    fatalError("unreachable")
                }
            } catch {
                switch error.kind {
                case .versionMismatch: outcome = .mismatch(error)
                case .failed, .closed: outcome = .refused(error)
                default: outcome = .unknown(error)
                }
            }
            let op = ModelOp(round: round, task: task, seq: seq, kind: kind, writes: writes, conditions: conditions, lo: lo, outcome: outcome)
            out.append(op)
            switch outcome {
            case .acked(let versions):
                horizon = max(horizon, versions.map(\.lsn).max() ?? 0)
                for (w, v) in zip(writes, versions) { lastRead[w.key] = w.value == nil ? .absent : v }
            case .deleted:
                lastRead[writes[0].key] = .absent
            case .mismatch(let error):
                if let actual = error.actual {
                    horizon = max(horizon, actual.lsn)
                    if let c = conditions.first(where: { $0.version == error.expected }) { lastRead[c.key] = actual }
                }
            case .refused(let error), .unknown(let error):
                if !crashing {
                    Issue.record("seed \(seed): \(op): unexpected error \(error.kind): \(error)")
                } else {
                    #expect([.outcomeUnknown, .failed, .io, .noSpace].contains(error.kind), "seed \(seed): \(op): \(error)")
                }
                return out
            case .read:
                break
            }
        }
        return out
    }

    // MARK: - checking against the log

    /// Reads the (closed) store's log and checks the whole history and every observation.
    func verify() throws {
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration.log)
        let logged = try log.readAll()
        try log.close()
        let n = LSN(logged.count)
        #expect(logged.map(\.lsn) == Array(stride(from: LSN(1), through: n, by: 1)),
                "seed \(seed): the log's LSNs are not dense from 1")

        // Decode records; replay them into per-key histories of states.
        var keyOf: [[UInt8]: ModelKey] = [:]
        for key in ModelKey.all { keyOf[KVRecord.encodeKey(key.namespace, key.bytes)] = key }
        var records: [(key: ModelKey, value: [UInt8]?)?] = [nil]  // index = LSN
        var changes: [ModelKey: [(lsn: LSN, state: VersionedValue?)]] = [:]
        for r in logged {
            guard let key = keyOf[r.record.key], r.record.type == RecordType.kvPut.rawValue || r.record.type == RecordType.kvDelete.rawValue
            else {
                Issue.record("seed \(seed): LSN \(r.lsn) is no record of a model key (type \(r.record.type))")
                records.append(nil)
                continue
            }
            let value = r.record.type == RecordType.kvPut.rawValue ? r.record.value : nil
            records.append((key, value))
            changes[key, default: []].append((r.lsn, value.map { VersionedValue(value: $0, version: Version(lsn: r.lsn)) }))
        }
        func state(_ key: ModelKey, at lsn: LSN) -> VersionedValue? {
            guard let list = changes[key] else { return nil }
            var lower = 0, upper = list.count  // first index with lsn > `lsn`
            while lower < upper {
                let mid = (lower + upper) / 2
                if list[mid].lsn <= lsn { lower = mid + 1 } else { upper = mid }
            }
            return lower == 0 ? nil : list[lower - 1].state
        }
        /// The states `key` had at some LSN in lo...hi (inclusive).
        func states(_ key: ModelKey, from lo: LSN, through hi: LSN) -> [VersionedValue?] {
            var result = [state(key, at: lo)]
            for change in changes[key] ?? [] where change.lsn > lo && change.lsn <= hi { result.append(change.state) }
            return result
        }

        // Trace records to operations.
        var claimed = [Int?](repeating: nil, count: Int(n) + 1)
        var firstLSN: [Int: LSN] = [:]  // op index -> first LSN of its records in the log
        func matches(_ lsn: LSN, _ w: ModelWrite) -> Bool {
            guard lsn >= 1 && lsn <= n, let r = records[Int(lsn)] else { return false }
            return r.key == w.key && r.value == w.value
        }
        for (i, op) in history.enumerated() {
            guard case .acked(let versions) = op.outcome else { continue }
            #expect(versions.count == op.writes.count, "seed \(seed): \(op): \(versions.count) versions for \(op.writes.count) writes")
            guard let first = versions.first?.lsn else { continue }
            #expect(versions.map(\.lsn) == Array(first..<first + LSN(versions.count)), "seed \(seed): \(op): batch versions not contiguous")
            #expect(op.lo < first && first + LSN(versions.count) - 1 < op.hi, "seed \(seed): \(op): LSN \(first) outside its window")
            firstLSN[i] = first
            for (j, w) in op.writes.enumerated() {
                let lsn = first + LSN(j)
                if !matches(lsn, w) {
                    let found = lsn <= n ? describe(records[Int(lsn)]) : "beyond the log's end \(n)"
                    Issue.record("seed \(seed): acknowledged write lost or changed: \(op): item \(j) at LSN \(lsn) is \(found)")
                } else if let other = claimed[Int(lsn)] {
                    Issue.record("seed \(seed): LSN \(lsn) acknowledged to two writes: \(history[other]) and \(op)")
                } else {
                    claimed[Int(lsn)] = i
                }
            }
        }
        var valueOwner: [[UInt8]: (op: Int, item: Int)] = [:]
        for (i, op) in history.enumerated() where op.kind != .get {
            for (j, w) in op.writes.enumerated() { if let v = w.value { valueOwner[v] = (i, j) } }
        }
        var orphanDeletes: [LSN] = []
        for lsn in 1...max(n, 1) where n > 0 && claimed[Int(lsn)] == nil {
            guard let r = records[Int(lsn)] else { continue }
            guard let value = r.value else {
                orphanDeletes.append(lsn)
                continue
            }
            guard let owner = valueOwner[value] else {
                Issue.record("seed \(seed): LSN \(lsn) holds a value no operation wrote: \(describe(r))")
                continue
            }
            let (i, item) = (owner.op, owner.item)
            let op = history[i]
            switch op.outcome {
            case .unknown: break
            case .acked:
                Issue.record("seed \(seed): the value of \(op) item \(item) is also at LSN \(lsn): written twice")
                continue
            default:
                Issue.record("seed \(seed): a write that failed is in the log at LSN \(lsn): \(op)")
                continue
            }
            guard lsn >= LSN(item) + 1 else {
                Issue.record("seed \(seed): \(op) item \(item) at LSN \(lsn): the batch cannot start before LSN 1")
                continue
            }
            let first = lsn - LSN(item)
            firstLSN[i] = first
            #expect(op.lo < first && first + LSN(op.writes.count) - 1 < op.hi,
                    "seed \(seed): unacknowledged \(op) survived at LSN \(first), outside its window")
            for (j, w) in op.writes.enumerated() {
                let at = first + LSN(j)
                if matches(at, w) && (at > n || claimed[Int(at)] == nil) {
                    claimed[Int(at)] = i
                } else {
                    let found = at <= n ? describe(records[Int(at)]) : "beyond the log's end \(n)"
                    Issue.record("seed \(seed): a batch survived in part (not atomic): \(op) item \(j) should be at LSN \(at), which is \(found)")
                }
            }
        }
        // Tombstones without a known LSN: match them to plain deletes (acknowledged: mandatory)
        // or unacknowledged single deletes, by key and window (earliest window end first).
        var candidates: [ModelKey: [(op: Int, mandatory: Bool)]] = [:]
        for (i, op) in history.enumerated() where op.writes.count == 1 && op.writes[0].value == nil && op.kind != .get {
            switch op.outcome {
            case .deleted(true): candidates[op.writes[0].key, default: []].append((i, true))
            case .unknown: candidates[op.writes[0].key, default: []].append((i, false))
            default: break
            }
        }
        var used = Set<Int>()
        for lsn in orphanDeletes where claimed[Int(lsn)] == nil {  // a batch's delete is claimed once its put is seen
            let key = records[Int(lsn)]!.key
            let fitting = (candidates[key] ?? []).filter { !used.contains($0.op) && history[$0.op].lo < lsn && lsn < history[$0.op].hi }
            guard let pick = fitting.min(by: { (history[$0.op].hi, $0.mandatory ? 0 : 1) < (history[$1.op].hi, $1.mandatory ? 0 : 1) }) else {
                let near = history.filter { op in op.lo < lsn && lsn < op.hi && op.writes.contains { $0.key == key } }
                let around = (lsn > 4 ? lsn - 4 : 1)...min(n, lsn + 4)
                let nearText = near.map(\.description).joined(separator: "; ") + "; log around it: "
                    + around.map { "\($0): \(describe(records[Int($0)])) by \(claimed[Int($0)].map { history[$0].description } ?? "?")" }.joined(separator: "; ")
                Issue.record("seed \(seed): the tombstone of \(key) at LSN \(lsn) matches no delete submitted in a window around it; ops on \(key) with LSN \(lsn) in their window: \(nearText)")
                continue
            }
            used.insert(pick.op)
            claimed[Int(lsn)] = pick.op
        }
        for (_, list) in candidates {
            for c in list where c.mandatory && !used.contains(c.op) {
                Issue.record("seed \(seed): acknowledged delete lost: \(history[c.op]) has no tombstone in its window")
            }
        }

        // Conditional writes in the log: conditions held just before their first LSN.
        for (i, first) in firstLSN {
            let op = history[i]
            for c in op.conditions {
                let actual = state(c.key, at: first - 1)?.version ?? .absent
                #expect(actual == c.version,
                        "seed \(seed): stale compare-and-swap succeeded: \(op) committed at LSN \(first) while \(c.key) was at \(actual)")
            }
        }

        // Reads, mismatches and no-op deletes saw a state the key had within their window.
        for op in history {
            let hi = min(op.hi == .max ? n : op.hi - 1, n)
            switch op.outcome {
            case .read(let r):
                let key = op.writes[0].key
                #expect(states(key, from: op.lo, through: hi).contains(r),
                        "seed \(seed): \(op) read a state \(key) never had in its window (model: \(describe(state(key, at: hi))))")
            case .mismatch(let error):
                guard let expected = error.expected, let actual = error.actual else {
                    Issue.record("seed \(seed): \(op): versionMismatch without expected and actual")
                    continue
                }
                #expect(expected != actual, "seed \(seed): \(op): mismatch with equal versions")
                let plausible = op.conditions.contains { c in
                    c.version == expected && states(c.key, from: op.lo, through: hi).map { $0?.version ?? .absent }.contains(actual)
                }
                #expect(plausible, "seed \(seed): \(op): reported actual \(actual) is no version the key had in the op's window")
            case .deleted(false):
                let key = op.writes[0].key
                #expect(states(key, from: op.lo, through: hi).contains(nil),
                        "seed \(seed): \(op) wrote nothing although \(key) existed throughout its window")
            default:
                break
            }
        }

        // A summary, to see that the workload exercises what it should.
        var count: [String: Int] = [:]
        for (i, op) in history.enumerated() {
            switch op.outcome {
            case .read: count["reads", default: 0] += 1
            case .acked: count[op.conditions.isEmpty ? "acked" : "acked conditional", default: 0] += 1
            case .deleted(let d): count[d ? "deletes" : "no-op deletes", default: 0] += 1
            case .mismatch: count["mismatches", default: 0] += 1
            case .refused: count["refused", default: 0] += 1
            case .unknown: count[firstLSN[i] != nil || used.contains(i) ? "unknown survived" : "unknown lost/unseen", default: 0] += 1
            }
        }
        summary = "seed \(seed): \(history.count) ops, \(n) records, \(observations.count) checkpoints, "
            + count.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")

        // Checkpoints: the open store showed exactly the replayed state.
        for observation in observations {
            guard observation.lsn <= n else {
                Issue.record("seed \(seed): \(observation.label) at LSN \(observation.lsn) is beyond the log's end \(n)")
                continue
            }
            for key in ModelKey.all {
                let expected = state(key, at: observation.lsn)
                let got = observation.values[key] ?? nil
                #expect(got == expected,
                        "seed \(seed): \(observation.label) (LSN \(observation.lsn)): get \(key) = \(describe(got)), model \(describe(expected))")
            }
            for (ns, entries) in observation.lists.enumerated() {
                let expected = ModelKey.all.filter { $0.ns == ns }.compactMap { key in
                    state(key, at: observation.lsn).map { KeyPage.Entry(key: key.bytes, version: $0.version, valueLength: $0.value.count) }
                }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
                let show = { (list: [KeyPage.Entry]) in list.map { "\(String(decoding: $0.key, as: UTF8.self))@\($0.version)" } }
                #expect(entries == expected,
                        "seed \(seed): \(observation.label) (LSN \(observation.lsn)): list \(modelNamespaceNames[ns]) = \(show(entries)), model \(show(expected))")
            }
        }
    }

    private func describe(_ record: (key: ModelKey, value: [UInt8]?)?) -> String {
        guard let record else { return "no model record" }
        return record.value.map { "put \(record.key)=\(String(decoding: $0.prefix(while: { $0 != 0x3B }), as: UTF8.self))" }
            ?? "delete \(record.key)"
    }

    private func describe(_ value: VersionedValue?) -> String {
        value.map { "\(String(decoding: $0.value.prefix(while: { $0 != 0x3B }), as: UTF8.self))@\($0.version)" } ?? "absent"
    }
}
