import CLogStore
import Foundation
import Testing

@testable import LogStore

// A model-based randomized test of the Raft log (RaftLog: etcd semantics, DESIGN §4 and §6).
//
// 20 groups; each round several tasks run seeded random operations (appends with random
// overlaps, conflicts, compacted prefixes and the odd gap or falling term; hard states;
// truncatePrefix; truncateSuffix; saveSnapshot that keeps or replaces the log or is out of date;
// removeGroup; flush; waitUntilDurable). Each task owns the groups g with g % tasks == task, so
// each group's operations have one order. After every operation the group, read through the
// public API (indexes, boundary term, every entry, hard state, snapshot file), must equal the
// model, and a refusal must be the one the model predicts.
//
// Rounds end with a clean close and reopen (every group equals its model exactly) or a simulated
// crash over the fault-injecting I/O: a power cut at a random call (a write tears at a random
// byte), or a group commit whose fsync fails (EIO) followed by the power cut. After a crash,
// each group must equal its model after some prefix k of the round's writes that were
// acknowledged or in flight (so an unacknowledged write survives whole or not at all), where k is
// at least:
//  - DiskFirst: every acknowledged write (acknowledged means durable);
//  - MemFirst: every write before a successful flush(), saveSnapshot or removeGroup (those return
//    once durable), and the write that set any hard state durableHardState reported;
// and every durableIndex / waitUntilDurable claim made after write j holds: k ≥ j, or the
// state after k holds the entries up to the claimed index exactly as after j. Hard states only
// grow (the generator makes them unique and increasing), so this also says that a hard state
// never goes backwards from an acknowledged (DiskFirst) or reported-durable (MemFirst) one.
// Writing then goes on over the recovered store. Seeds alternate DiskFirst, MemFirst immediate
// and MemFirst batch; some use keepEntriesAfterSnapshot. LOGSTORE_LONG=1 runs more of everything.

struct RaftModelParameters {
    let rounds: Int
    let opsPerTask: Int
    let tasks: ClosedRange<Int>
    let groups: Int

    static let current =
        ModelParameters.isLong
        ? RaftModelParameters(rounds: 14, opsPerTask: 120, tasks: 3...8, groups: 40)
        : RaftModelParameters(rounds: 8, opsPerTask: 50, tasks: 3...5, groups: 20)
    static let seeds: [UInt64] = ModelParameters.isLong ? Array(1...36) : [1, 2, 3, 4, 5, 6]
}

/// One write of the model: what the test asks of the Raft log.
enum RaftModelOp: Sendable, CustomStringConvertible {
    case append([RaftEntry], RaftHardState?)
    case hardState(RaftHardState)
    case truncatePrefix(UInt64)
    case truncateSuffix(UInt64)
    case snapshot(RaftSnapshot)
    case remove

    var description: String {
        switch self {
        case .append(let entries, let hs):
            let terms = entries.map { "\($0.term)" }.joined(separator: ",")
            let range = entries.isEmpty ? "none" : "\(entries[0].index)...\(entries[entries.count - 1].index)"
            return "append \(range) terms \(terms)" + (hs.map { " hs \($0.term)/\($0.vote)/\($0.commit)" } ?? "")
        case .hardState(let hs): return "hardState \(hs.term)/\(hs.vote)/\(hs.commit)"
        case .truncatePrefix(let i): return "truncatePrefix(upTo: \(i))"
        case .truncateSuffix(let i): return "truncateSuffix(after: \(i))"
        case .snapshot(let s): return "saveSnapshot(\(s.metadata.index), t\(s.metadata.term), \(s.data.count)B)"
        case .remove: return "removeGroup"
        }
    }

    /// Whether it returns only once durable in MemFirst too.
    var durableOnReturn: Bool {
        switch self {
        case .snapshot, .remove: true
        default: false
        }
    }

    func perform(_ raft: RaftLog, _ group: RaftGroupID) async throws {
        switch self {
        case .append(let entries, let hs): try await raft.append(group, entries, hardState: hs)
        case .hardState(let hs): try await raft.saveHardState(group, hs)
        case .truncatePrefix(let i): try await raft.truncatePrefix(group, upTo: i)
        case .truncateSuffix(let i): try await raft.truncateSuffix(group, after: i)
        case .snapshot(let s): try await raft.saveSnapshot(group, s)
        case .remove: try await raft.removeGroup(group)
        }
    }
}

/// A group of the model: what the log shows.
struct RaftModelGroup: Equatable, Sendable {
    var view = RaftGroupView()

    /// Whether ``RaftLog/groupIDs`` lists it: it holds entries, a hard state, a snapshot or a
    /// compacted prefix.
    var listed: Bool { view != RaftGroupView() }

    /// Applies `op` as the Raft log specifies; returns the refusal it must give, if any (then
    /// nothing changes).
    mutating func apply(_ op: RaftModelOp, maxEntrySize: Int, keep: Int?) -> StoreError.Kind? {
        var v = view
        switch op {
        case .append(let entries, let hs):
            if let first = entries.first {
                if first.index == 0 { return .invalidArgument }
                if entries.contains(where: { $0.payload.count > maxEntrySize }) { return .valueTooLarge }
                for (a, b) in zip(entries, entries.dropFirst()) where b.index != a.index + 1 || b.term < a.term { return .outOfOrder }
            }
            let kept = entries.filter { $0.index >= v.first }
            if let start = kept.first?.index {
                if start > v.last + 1 { return .outOfOrder }
                if let before = v.term(start - 1), kept[0].term < before { return .outOfOrder }
                v.entries.removeLast(Int(v.last + 1 - start))
                v.entries += kept
            }
            if let hs { v.hardState = hs }
        case .hardState(let hs):
            v.hardState = hs
        case .truncatePrefix(let i):
            if i == v.first { return nil }
            if i < v.first { return .compacted }
            guard i <= v.last + 1, let term = v.term(i - 1) else { return .unavailable }
            v.entries.removeFirst(Int(i - v.first))
            v.first = i
            v.previousTerm = term
        case .truncateSuffix(let i):
            if i >= v.last { return nil }
            if i < v.first - 1 { return .compacted }
            v.entries.removeLast(Int(v.last - i))
        case .snapshot(let s):
            let m = s.metadata
            if m.index == 0 || m.context.count > 64 << 10 { return .invalidArgument }
            if m.index <= (v.snapshot?.metadata.index ?? 0) || m.index < v.first - 1 { return .snapshotOutOfDate }
            v.snapshot = s
            if v.term(m.index) != m.term || m.index < v.first - 1 {
                v.entries = []
                v.first = m.index + 1
                v.previousTerm = m.term
            }
            if let keep, m.index + 1 > UInt64(keep) {
                let newFirst = m.index + 1 - UInt64(keep)
                if newFirst > v.first, let term = v.term(newFirst - 1) {
                    v.entries.removeFirst(Int(newFirst - v.first))
                    v.first = newFirst
                    v.previousTerm = term
                }
            }
        case .remove:
            v = RaftGroupView()
        }
        view = v
        return nil
    }
}

/// A group's writes in one round: the model state after each (states[0]: at the round's start)
/// and what durability the test was promised.
struct RaftGroupHistory: Sendable {
    var states: [RaftModelGroup]
    var ops: [String] = []
    /// No state before states[lowerBound] may be recovered after a crash.
    var lowerBound = 0
    /// After write j, durableIndex (or a successful waitUntilDurable) said entries up to d are durable.
    var claims: [(j: Int, d: UInt64)] = []

    init(_ start: RaftModelGroup) { states = [start] }
    var current: RaftModelGroup { states[states.count - 1] }
    var writes: Int { states.count - 1 }

    /// Whether recovering states[k] is consistent with every durability claim.
    func honoursClaims(_ k: Int) -> Bool {
        claims.allSatisfy { claim in
            if k >= claim.j { return true }
            let then = states[claim.j].view
            let now = states[k].view
            guard then.first <= claim.d else { return true }
            for x in then.first...claim.d {
                guard let a = then.term(x), x >= now.first, x <= now.last, now.term(x) == a,
                    now.entries[Int(x - now.first)] == then.entries[Int(x - then.first)]
                else { return false }
            }
            return true
        }
    }
}

/// Per-group generator state that lives across rounds: terms and commits only grow, so every
/// hard state written is unique and larger than the ones before.
struct RaftGeneratorState: Sendable {
    var term: UInt64 = 1
    var commit: UInt64 = 0
    var salt: UInt64 = 0
}

@Suite struct RaftModelTests {
    @Test("random concurrent Raft operations match the model, across clean reopens and simulated crashes",
          .timeLimit(.minutes(5)), arguments: RaftModelParameters.seeds)
    func randomizedModel(seed: UInt64) async throws {
        try await RaftModelRun(seed: seed, parameters: .current).run()
    }
}

final class RaftModelRun {
    let seed: UInt64
    let parameters: RaftModelParameters
    let mode: RaftMode
    let configuration: StoreConfiguration
    let dir = TemporaryDirectory("logstore-raft-model")
    var rng: SplitMix
    var models: [RaftGroupID: RaftModelGroup] = [:]
    var generators: [RaftGroupID: RaftGeneratorState] = [:]
    var counts: [String: Int] = [:]

    init(seed: UInt64, parameters: RaftModelParameters) {
        self.seed = seed
        self.parameters = parameters
        rng = SplitMix(state: seed ^ 0x0AF7_10C5)
        mode = RaftMode.allCases[Int(seed % 3)]
        var c = raftStoreConfiguration(mode, maxEntrySize: 4096)
        c.segmentSize = 128 * 1024
        c.maxValueSize = 32 * 1024
        c.raft.keepEntriesAfterSnapshot = [nil, 2, nil, 0][Int(seed % 4)]
        if seed % 2 == 0 { c.raft.entryCacheBytes = 4096 }  // DiskFirst: most reads go to the segments
        if seed % 5 == 1 { c.log.pipelining = .always }  // completions on the completer thread
        configuration = c
        for g in 1...parameters.groups {
            models[RaftGroupID(UInt64(g))] = RaftModelGroup()
            generators[RaftGroupID(UInt64(g))] = RaftGeneratorState()
        }
    }

    var label: String { "seed \(seed) (\(mode.rawValue), keep \(configuration.raft.keepEntriesAfterSnapshot.map(String.init) ?? "all"))" }

    func run() async throws {
        var crashed: [RaftGroupID: RaftGroupHistory]? = nil
        var crashes = 0
        for round in 0...parameters.rounds {
            let last = round == parameters.rounds
            let crash = !last && (round == 1 || (round > 1 && rng.next() % 2 == 0))
            var faults: OpaquePointer? = nil
            var io: UnsafeMutablePointer<ls_io>? = nil
            let store: Store
            if crash {
                var inner: UnsafeMutablePointer<ls_io>?
                try #require(ls_io_posix_create(LS_BACKEND_PWRITEV, LS_URING_LINKED_FDATASYNC, &inner) == 0, "\(label)")
                try #require(ls_faultio_create(inner, seed &* 1000 &+ UInt64(round), &faults) == 0, "\(label)")
                io = ls_faultio_as_io(faults!)
                store = try Store(path: dir.logPath, configuration: configuration, io: io)
            } else {
                store = try Store.open(at: dir.logPath, configuration: configuration)
            }
            // Check the reopened store: exact after a clean close, a permitted prefix after a crash.
            try checkAfterOpen(store, crashed: crashed, round: round)
            crashed = nil
            if last {
                try store.close()
                break
            }
            let tasks = parameters.tasks.lowerBound + Int(rng.next() % UInt64(parameters.tasks.count))
            if crash, let faults {
                let calls = ls_faultio_call_count(faults)
                if rng.next() % 2 == 0 {
                    // Every check reads the group's snapshot file too (several calls), so a wide range.
                    ls_faultio_plan_random_crash(faults, calls + 5, calls + 5 + 1 + rng.next() % 3000)
                } else {
                    ls_faultio_plan_durable_write(faults, ls_faultio_durable_write_count(faults) + rng.next() % 150, LS_FAULT_SYNC_EIO, 0)
                }
                let histories = await workload(store, round: round, tasks: tasks, ops: parameters.opsPerTask * 3, crashing: true)
                if ls_faultio_crashed(faults) == 0 { ls_faultio_crash_now(faults) }
                do { try store.close() } catch { /* a crashed process cannot close cleanly */ }
                #expect(ls_faultio_apply_crash(faults) == 0, "\(label)")
                ls_io_destroy(io!)
                crashed = histories
                crashes += 1
            } else {
                let histories = await workload(store, round: round, tasks: tasks, ops: parameters.opsPerTask, crashing: false)
                for (g, h) in histories { models[g] = h.current }
                try store.close()
            }
        }
        let summary = counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("RaftModel \(label): \(crashes) crash rounds; \(summary)")
    }

    /// After open: every group equals its model (clean) or a permitted prefix state (crash).
    func checkAfterOpen(_ store: Store, crashed: [RaftGroupID: RaftGroupHistory]?, round: Int) throws {
        let raft = store.raft
        for g in models.keys.sorted() {
            let got = try RaftGroupView(raft, g)
            guard let history = crashed?[g] else {
                #expect(got == models[g]!.view, "\(label): round \(round) after a clean reopen, group \(g): got \(got), model \(models[g]!.view)")
                continue
            }
            let fits = (history.lowerBound...history.writes).filter { k in
                history.states[k].view == got && history.honoursClaims(k)
            }
            guard let k = fits.last else {
                let states = history.states.enumerated().map { "  after \($0.offset): \($0.element.view)" }.joined(separator: "\n")
                let ops = history.ops.enumerated().map { "  write \($0.offset + 1): \($0.element)" }.joined(separator: "\n")
                let claims = history.claims.map { "after \($0.j): durable through \($0.d)" }.joined(separator: "; ")
                let matching = (0...history.writes).filter { history.states[$0].view == got }
                Issue.record(
                    """
                    \(label): round \(round - 1) crashed; group \(g) recovered as \(got), which is no permitted prefix \
                    (at least \(history.lowerBound) of \(history.writes) writes; states equal to it: \(matching); claims: \(claims))
                    writes:
                    \(ops)
                    states:
                    \(states)
                    """)
                models[g] = RaftModelGroup(view: got)
                continue
            }
            let lost = history.writes - k
            if lost > 0 { counts["writes lost in crashes", default: 0] += lost }
            counts["writes kept in crashes", default: 0] += k
            models[g] = history.states[k]
            if mode == .diskFirst {
                // Spelled out: acknowledged hard state never goes backwards.
                let acked = history.states[history.lowerBound].view.hardState
                let removed = history.ops[history.lowerBound...].contains { $0.hasPrefix("removeGroup") }
                #expect(removed || got.hardState.commit >= acked.commit, "\(label): group \(g) hard state went back from \(acked) to \(got.hardState)")
            }
        }
        let listed = Set(raft.groupIDs)
        let existing = Set(models.filter { $0.value.listed }.keys)
        #expect(listed == existing, "\(label): round \(round) after open, groups \(listed.sorted()) but the model has \(existing.sorted())")
    }

    // MARK: - workload

    func workload(_ store: Store, round: Int, tasks: Int, ops: Int, crashing: Bool) async -> [RaftGroupID: RaftGroupHistory] {
        let taskSeeds = (0..<tasks).map { _ in rng.next() }
        let label = label
        let configuration = configuration.raft
        let models = models
        let generators = generators
        let results = await withTaskGroup(of: RaftTaskResult.self) { group in
            for task in 0..<tasks {
                let owned = models.keys.filter { Int($0.rawValue) % tasks == task }.sorted()
                let start = Dictionary(uniqueKeysWithValues: owned.map { ($0, (models[$0]!, generators[$0]!)) })
                let taskSeed = taskSeeds[task]
                group.addTask {
                    var runner = RaftModelTask(
                        raft: store.raft, label: "\(label) round \(round) task \(task)", configuration: configuration,
                        rng: SplitMix(state: taskSeed), crashing: crashing, start: start)
                    await runner.run(ops: ops)
                    return runner.result
                }
            }
            var all: [RaftTaskResult] = []
            for await r in group { all.append(r) }
            return all
        }
        var histories: [RaftGroupID: RaftGroupHistory] = [:]
        for r in results {
            for (g, h) in r.histories { histories[g] = h }
            for (g, s) in r.generators { self.generators[g] = s }
            for (k, v) in r.counts { counts[k, default: 0] += v }
        }
        return histories
    }
}

struct RaftTaskResult: Sendable {
    var histories: [RaftGroupID: RaftGroupHistory] = [:]
    var generators: [RaftGroupID: RaftGeneratorState] = [:]
    var counts: [String: Int] = [:]
}

/// One task of a round: random operations on the groups it owns, each checked against the model.
struct RaftModelTask {
    let raft: RaftLog
    let label: String
    let configuration: RaftConfiguration
    var rng: SplitMix
    let crashing: Bool
    var result = RaftTaskResult()
    let groups: [RaftGroupID]

    init(
        raft: RaftLog, label: String, configuration: RaftConfiguration, rng: SplitMix, crashing: Bool,
        start: [RaftGroupID: (RaftModelGroup, RaftGeneratorState)]
    ) {
        self.raft = raft
        self.label = label
        self.configuration = configuration
        self.rng = rng
        self.crashing = crashing
        groups = start.keys.sorted()
        for (g, (model, generator)) in start {
            result.histories[g] = RaftGroupHistory(model)
            result.generators[g] = generator
        }
    }

    var isMemFirst: Bool { configuration.isMemFirst }

    mutating func random(_ n: Int) -> Int { Int(rng.next() % UInt64(max(n, 1))) }
    mutating func chance(_ percent: Int) -> Bool { random(100) < percent }

    /// Errors a failing (crashing) store may give.
    static let failureKinds: Set<StoreError.Kind> = [.outcomeUnknown, .failed, .io, .closed, .noSpace]

    mutating func run(ops: Int) async {
        guard !groups.isEmpty else { return }
        for _ in 0..<ops {
            let g = groups[random(groups.count)]
            let choice = random(100)
            let ok: Bool
            switch choice {
            case 0..<6: ok = await flush()
            case 6..<11: ok = await waitUntilDurable(g)
            default: ok = await write(g, makeOp(g, choice: choice))
            }
            if !ok { return }
        }
    }

    // MARK: generating

    mutating func newHardState(_ g: RaftGroupID) -> RaftHardState {
        var gen = result.generators[g]!
        if chance(30) { gen.term += 1 }
        gen.commit += 1
        result.generators[g] = gen
        return RaftHardState(term: gen.term, vote: UInt64(random(4)), commit: gen.commit)
    }

    mutating func payload(_ index: UInt64, _ term: UInt64, _ g: RaftGroupID) -> [UInt8] {
        var gen = result.generators[g]!
        gen.salt += 1
        result.generators[g] = gen
        let size = chance(3) ? 1000 + random(3000) : random(200)
        return raftPayload(index: index, term: term, size: max(size, 12), salt: gen.salt)
    }

    mutating func makeOp(_ g: RaftGroupID, choice: Int) -> RaftModelOp {
        let v = result.histories[g]!.current.view
        switch choice {
        case 11..<55:
            // Append: mostly at the end, often overlapping (conflicts), sometimes from the
            // compacted prefix; rarely a gap or a falling term (refused).
            var start: UInt64
            switch random(100) {
            case 0..<50: start = v.last + 1
            case 50..<53: start = v.last + 2
            default:
                let lo = v.first > 3 ? v.first - 3 : 1
                start = lo + UInt64(random(Int(v.last + 2 - lo)))
            }
            if chance(35) { result.generators[g]!.term += 1 }
            let before = start >= v.first ? v.term(start - 1) ?? v.previousTerm : v.previousTerm
            var term = max(result.generators[g]!.term, before)
            if chance(2) && term > 1 { term = before > 0 ? before - 1 : 0 }
            let count = random(6)
            var entries: [RaftEntry] = []
            for i in 0..<count {
                if i > 0 && chance(10) { term += 1 }
                entries.append(RaftEntry(index: start + UInt64(i), term: term, payload: payload(start + UInt64(i), term, g)))
            }
            result.generators[g]!.term = max(result.generators[g]!.term, term)
            let hs: RaftHardState? = chance(30) || entries.isEmpty ? newHardState(g) : nil
            return .append(entries, hs)
        case 55..<65:
            return .hardState(newHardState(g))
        case 65..<75:
            // Mostly valid; sometimes below the first index or past last + 1.
            let count = UInt64(v.entries.count)
            let upTo: UInt64 = chance(85) ? v.first + UInt64(random(Int(count) + 1)) : (chance(50) && v.first > 1 ? v.first - 1 : v.last + 2)
            return .truncatePrefix(upTo)
        case 75..<85:
            let lo = v.first > 2 ? v.first - 2 : 0
            return .truncateSuffix(lo + UInt64(random(Int(v.last + 2 - lo))))
        case 85..<96:
            // A snapshot the log holds (entries kept), one past the end (log replaced), one with
            // a conflicting term, or an out-of-date one.
            let current = v.snapshot?.metadata.index ?? 0
            var index: UInt64
            var term: UInt64
            switch random(4) {
            case 0 where v.last >= v.first:
                index = v.first + UInt64(random(v.entries.count))
                term = v.term(index)!
            case 1:
                index = v.last + 1 + UInt64(random(3))
                result.generators[g]!.term += 1
                term = result.generators[g]!.term
            case 2 where v.last >= v.first:
                index = v.first + UInt64(random(v.entries.count))
                result.generators[g]!.term += 1
                term = result.generators[g]!.term
            default:
                index = current > 0 ? current - UInt64(random(Int(min(current, 3)))) : v.first - 1
                term = v.term(index) ?? 1
            }
            if index == 0 { index = 1 }
            let data = (0..<random(600)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(index)) }
            return .snapshot(RaftSnapshot(metadata: .init(index: index, term: term, context: Array("g\(g)i\(index)".utf8)), data: data))
        default:
            return .remove
        }
    }

    // MARK: running

    /// Performs one write and checks it; false stops the task (the store failed).
    mutating func write(_ g: RaftGroupID, _ op: RaftModelOp) async -> Bool {
        var history = result.histories[g]!
        defer { result.histories[g] = history }
        var next = history.current
        let refusal = next.apply(op, maxEntrySize: configuration.maxEntrySize!, keep: configuration.keepEntriesAfterSnapshot)
        let kind: String
        switch op {
        case .append: kind = "append"
        case .hardState: kind = "hardState"
        case .truncatePrefix: kind = "truncatePrefix"
        case .truncateSuffix: kind = "truncateSuffix"
        case .snapshot: kind = "snapshot"
        case .remove: kind = "remove"
        }
        do {
            try await op.perform(raft, g)
            if let refusal {
                Issue.record("\(label): group \(g): \(op) succeeded; the model expected \(refusal) on \(history.current.view)")
                return false
            }
            result.counts[kind, default: 0] += 1
        } catch let error as StoreError {
            if let refusal, error.kind == refusal {
                result.counts["\(kind) refused", default: 0] += 1
                return check(g, history.current, after: "refused \(op)")
            }
            if crashing && Self.failureKinds.contains(error.kind) {
                // In flight: it may survive (whole) or not.
                history.states.append(next)
                history.ops.append("\(op) (failed: \(error.kind))")
                result.counts["failed in crash", default: 0] += 1
                return false
            }
            Issue.record("\(label): group \(g): \(op) threw \(error); the model expected \(refusal.map { "\($0)" } ?? "success") on \(history.current.view)")
            return false
        } catch {
            Issue.record("\(label): group \(g): \(op) threw \(error)")
            return false
        }
        history.states.append(next)
        history.ops.append("\(op)")
        if !isMemFirst || op.durableOnReturn { history.lowerBound = history.writes }
        result.histories[g] = history
        guard check(g, next, after: "\(op)") else { return false }
        history = result.histories[g]!
        if isMemFirst { recordDurability(g, &history) }
        return true
    }

    /// Compares the group with the model; false stops the task (a read failed after a crash).
    func check(_ g: RaftGroupID, _ model: RaftModelGroup, after what: String) -> Bool {
        do {
            let got = try RaftGroupView(raft, g)
            #expect(got == model.view, "\(label): group \(g) after \(what): got \(got), model \(model.view)")
            #expect(raft.groupIDs.contains(g) == model.listed, "\(label): group \(g) after \(what): listed \(raft.groupIDs.contains(g)), model \(model.listed)")
            return got == model.view
        } catch let error as StoreError where crashing && error.kind == .io {
            return false
        } catch {
            Issue.record("\(label): group \(g) after \(what): reading failed: \(error)")
            return false
        }
    }

    /// MemFirst: what durableIndex and durableHardState say now becomes a claim to check after a crash.
    func recordDurability(_ g: RaftGroupID, _ history: inout RaftGroupHistory) {
        let d = raft.durableIndex(g)
        let hs = raft.durableHardState(g)
        let v = history.current.view
        #expect(d <= v.last, "\(label): group \(g): durable index \(d) past the last index \(v.last)")
        if d > 0 { history.claims.append((history.writes, d)) }
        if hs != RaftHardState() {
            // Hard states are unique: the write that set it is durable.
            if let a = history.states.firstIndex(where: { $0.view.hardState == hs }) {
                history.lowerBound = max(history.lowerBound, a)
            } else {
                Issue.record("\(label): group \(g): durable hard state \(hs) was never written (\(history.ops))")
            }
        }
    }

    mutating func flush() async -> Bool {
        do {
            try await raft.flush()
            result.counts["flush", default: 0] += 1
            for g in groups { result.histories[g]!.lowerBound = result.histories[g]!.writes }
            return true
        } catch {
            if crashing && Self.failureKinds.contains(error.kind) { return false }
            Issue.record("\(label): flush threw \(error)")
            return false
        }
    }

    mutating func waitUntilDurable(_ g: RaftGroupID) async -> Bool {
        let last = result.histories[g]!.current.view.last
        do {
            try await raft.waitUntilDurable(g, through: last)
            result.counts["waitUntilDurable", default: 0] += 1
            if last > 0 { result.histories[g]!.claims.append((result.histories[g]!.writes, last)) }
            #expect(raft.durableIndex(g) >= last || !isMemFirst, "\(label): group \(g): waited for \(last), durable index \(raft.durableIndex(g))")
            return true
        } catch {
            if crashing && Self.failureKinds.contains(error.kind) { return false }
            Issue.record("\(label): group \(g): waitUntilDurable(\(last)) threw \(error)")
            return false
        }
    }
}
