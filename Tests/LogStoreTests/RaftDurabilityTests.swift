import CLogStore
import Foundation
import Synchronization
import Testing

@testable import LogStore

// MemFirst durability reporting (DESIGN §4.7, §6) under a held, delayed or failing fsync, through
// the fault-injecting I/O wrapped in `HeldSyncIO`: durableIndex, durableHardState and
// waitUntilDurable never report a write durable before the write_durable carrying it returned;
// after an fsync failure waiters get an error and the watermark stays; after a crash and reopen,
// everything ever reported durable is there. Plus DiskFirst's fail-stop on a failed fsync, and
// concurrent snapshot saves of one group.

/// A store over a `HeldSyncIO`, reopened after a (simulated) crash over the real I/O.
final class RaftHeldStore {
    let dir = TemporaryDirectory("logstore-raft-durable")
    let configuration: StoreConfiguration
    let held: HeldSyncIO
    let store: Store
    var raft: RaftLog { store.raft }

    init(_ mode: RaftMode, seed: UInt64) throws {
        configuration = raftStoreConfiguration(mode)
        held = try HeldSyncIO(seed: seed)
        store = try Store(path: dir.logPath, configuration: configuration, io: held.io)
    }

    private var destroyed = false

    /// Cuts power now, closes, applies the crash to the files and opens the store over the real I/O.
    func crashAndReopen() throws -> Store {
        crash()
        return try Store.open(at: dir.logPath, configuration: configuration)
    }

    /// Cuts power now, closes, applies the crash to the files and frees the I/O layers.
    func crash() {
        held.release()
        ls_faultio_crash_now(held.faults)
        try? store.close()  // a crashed process cannot close cleanly; the files are closed all the same
        #expect(ls_faultio_apply_crash(held.faults) == 0)
        held.destroy()
        destroyed = true
    }

    /// A test that stopped early still closes the store before its I/O goes away.
    deinit { if !destroyed { crash() } }
}

/// Whether an asynchronous operation finished, and how.
final class RaftOutcome: Sendable {
    private let state = TSanVisibleMutex<Result<Void, StoreError>?>(nil)
    var value: Result<Void, StoreError>? { state.withLock { $0 } }
    var done: Bool { value != nil }

    /// Runs `body` in a task and records its outcome.
    static func start(_ body: @escaping @Sendable () async throws -> Void) -> RaftOutcome {
        let outcome = RaftOutcome()
        Task {
            do {
                try await body()
                outcome.state.withLock { $0 = .success(()) }
            } catch let error as StoreError {
                outcome.state.withLock { $0 = .failure(error) }
            } catch {
                Issue.record("not a StoreError: \(error)")
                outcome.state.withLock { $0 = .failure(StoreError(kind: .invalidArgument, message: "\(error)")) }
            }
        }
        return outcome
    }

    /// Waits until done; true if it succeeded.
    func succeeded(timeout: Duration = .seconds(60)) async -> Bool {
        if case .success = await wait(timeout: timeout) { return true }
        return false
    }

    /// Waits until done (polling), up to `timeout`.
    func wait(timeout: Duration = .seconds(60)) async -> Result<Void, StoreError>? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let value { return value }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return value
    }
}

// Serialized, with generous timeouts: these tests poll for what the writer thread does, and
// under a sanitizer on 2 cores the other suites can keep the cooperative pool busy for seconds.
@Suite(.serialized) struct RaftDurabilityTests {
    /// What the tasks of `delayedFsyncAndCrash` share.
    final class Shared: Sendable {
        let stop = Atomic<Bool>(false)
        /// Per group, the highest durable index and durable hard-state commit ever reported.
        let claims = TSanVisibleMutex<[RaftGroupID: (index: UInt64, commit: UInt64)]>([:])
        let violations = TSanVisibleMutex<[String]>([])
    }

    static let memFirstModes: [RaftMode] = [.memFirstImmediate, .memFirstBatch]

    /// Polls for `duration`, checking `condition` every millisecond.
    static func holds(for duration: Duration, _ condition: () -> Bool) async -> Bool {
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end {
            if !condition() { return false }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return condition()
    }

    @Test("MemFirst: while the fsync is held, writes are visible but not reported durable; released, they are",
          .timeLimit(.minutes(5)), arguments: memFirstModes)
    func heldFsync(mode: RaftMode) async throws {
        let t = try RaftHeldStore(mode, seed: 11)
        let raft = t.raft
        let g: RaftGroupID = 1
        let hs1 = RaftHardState(term: 1, vote: 1, commit: 2)
        let hs2 = RaftHardState(term: 2, vote: 1, commit: 5)
        try await raft.append(g, raftEntries(from: 1, terms: [1, 1, 1]), hardState: hs1)
        try await raft.waitUntilDurable(g, through: 3)
        #expect(raft.durableIndex(g) == 3)
        #expect(raft.durableHardState(g) == hs1)

        t.held.hold()
        try await raft.append(g, raftEntries(from: 4, terms: [2, 2, 2]), hardState: hs2)
        #expect(raft.lastIndex(g) == 6, "visible at once")
        #expect(try raft.entries(g, 4..<7) == raftEntries(from: 4, terms: [2, 2, 2]))
        #expect(raft.hardState(g) == hs2)
        let waiter = RaftOutcome.start { try await raft.waitUntilDurable(g, through: 6) }
        let flusher = RaftOutcome.start { try await raft.flush() }
        let earlier = RaftOutcome.start { try await raft.waitUntilDurable(g, through: 3) }
        #expect(await t.held.waitUntilBlocked(), "the write never reached write_durable")
        #expect(await earlier.wait() != nil, "waiting for what is durable returns at once")
        // More writes while the first is held: visible, and still nothing new durable.
        try await raft.append(g, raftEntries(from: 7, terms: [2, 2]))
        try await raft.truncateSuffix(g, after: 7)
        try await raft.saveHardState(g, RaftHardState(term: 2, vote: 1, commit: 6))
        let stays = await Self.holds(for: .milliseconds(50)) {
            raft.durableIndex(g) == 3 && raft.durableHardState(g) == hs1 && raft.info(g)?.durableIndex == 3 && !waiter.done
                && !flusher.done
        }
        #expect(stays, "durable index \(raft.durableIndex(g)), hard state \(raft.durableHardState(g)), waiter \(String(describing: waiter.value))")
        #expect(t.held.completed == t.held.started - t.held.blocked)

        t.held.release()
        #expect(await waiter.succeeded(), "\(String(describing: waiter.value))")
        #expect(await flusher.succeeded(), "\(String(describing: flusher.value))")
        #expect(raft.durableIndex(g) >= 6)
        try await raft.flush()
        #expect(raft.durableIndex(g) == 7)
        #expect(raft.durableHardState(g) == RaftHardState(term: 2, vote: 1, commit: 6))
        let reopened = try t.crashAndReopen()
        defer { try? reopened.close() }
        #expect(reopened.raft.lastIndex(g) == 7)
        #expect(try reopened.raft.entries(g, 1..<8) == raftEntries(from: 1, terms: [1, 1, 1, 2, 2, 2, 2]))
        #expect(reopened.raft.hardState(g) == RaftHardState(term: 2, vote: 1, commit: 6))
    }

    @Test("MemFirst: a snapshot being saved is not reported durable before its marker is",
          .timeLimit(.minutes(5)), arguments: memFirstModes)
    func heldSnapshot(mode: RaftMode) async throws {
        let t = try RaftHeldStore(mode, seed: 12)
        let raft = t.raft
        let g: RaftGroupID = 1
        try await raft.append(g, raftEntries(from: 1, terms: Array(repeating: 1, count: 10)))
        try await raft.flush()
        #expect(raft.durableIndex(g) == 10)
        t.held.hold()
        // Index 5 with term 2 conflicts with the log: it is replaced (first 6, last 5, term(5) = 2).
        let save = RaftOutcome.start { try await raft.saveSnapshot(g, RaftSnapshot(metadata: .init(index: 5, term: 2), data: [5])) }
        #expect(await t.held.waitUntilBlocked())
        try await Task.sleep(for: .milliseconds(5))
        #expect(raft.lastIndex(g) == 5 && (try? raft.term(g, 5)) == 2, "the snapshot is visible")
        // Entry 5 as visible now (term 2, from the snapshot) is not durable: the log still says term 1.
        #expect(raft.durableIndex(g) < 5, "durable index \(raft.durableIndex(g)) covers the snapshot whose marker is not durable")
        let waiter = RaftOutcome.start { try await raft.waitUntilDurable(g, through: 5) }
        let waited = await Self.holds(for: .milliseconds(30)) { !waiter.done }
        #expect(waited, "waitUntilDurable(5) returned before the snapshot was durable: \(String(describing: waiter.value))")
        #expect(!save.done)
        t.held.release()
        #expect(await save.succeeded(), "\(String(describing: save.value))")
        #expect(await waiter.succeeded(), "\(String(describing: waiter.value))")
        #expect(raft.durableIndex(g) == 5)
    }

    @Test("MemFirst: a delayed fsync under concurrent appends; a power cut keeps everything ever reported durable",
          .timeLimit(.minutes(5)), arguments: memFirstModes, [UInt64(1), 2])
    func delayedFsyncAndCrash(mode: RaftMode, seed: UInt64) async throws {
        let t = try RaftHeldStore(mode, seed: 100 + seed)
        t.held.setDelay(microseconds: 1500)
        let raft = t.raft
        let groups = (1...8).map { RaftGroupID($0) }
        // Entry i of group g has term 1 + i / 20 and a payload naming it; hard state commit = last index.
        func entry(_ g: RaftGroupID, _ i: UInt64) -> RaftEntry {
            RaftEntry(index: i, term: 1 + i / 20, payload: raftPayload(index: i, term: 1 + i / 20, salt: g.rawValue))
        }
        let shared = Shared()
        let writers = groups.map { g in
            Task {
                var next: UInt64 = 1
                while !shared.stop.load(ordering: .relaxed) {
                    let count = UInt64.random(in: 1...4)
                    let entries = (next..<next + count).map { entry(g, $0) }
                    do {
                        try await raft.append(g, entries, hardState: RaftHardState(term: 1 + (next + count - 1) / 20, vote: 1, commit: next + count - 1))
                    } catch {
                        return
                    }
                    next += count
                    if next % 7 == 0 { try? await raft.waitUntilDurable(g, through: next - 1) }
                    await Task.yield()
                }
            }
        }
        // The checker: every durable report, kept as a claim; it must never exceed what is visible.
        let checker = Task {
            while !shared.stop.load(ordering: .relaxed) {
                for g in groups {
                    let d = raft.durableIndex(g)
                    let hs = raft.durableHardState(g)
                    let last = raft.lastIndex(g)
                    if d > last { shared.violations.withLock { $0.append("group \(g): durable \(d) > last \(last)") } }
                    shared.claims.withLock { c in
                        let old = c[g] ?? (0, 0)
                        c[g] = (max(old.index, d), max(old.commit, hs.commit))
                    }
                }
                await Task.yield()
            }
        }
        // Let durability advance a while (to some reports), then cut power while writes are in
        // flight, and keep reading the watermarks until the failure is noticed.
        let reported = { shared.claims.withLock { $0.values.reduce(0) { $0 + $1.index } } }
        let deadline = ContinuousClock.now + .seconds(90)
        while reported() < 50 * seed && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
        ls_faultio_crash_now(t.held.faults)
        while t.store.failure == nil && raft.flusher?.failure == nil && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(2))
        }
        try await Task.sleep(for: .milliseconds(5))
        shared.stop.store(true, ordering: .relaxed)
        for w in writers { await w.value }
        await checker.value
        let violations = shared.violations.withLock { $0 }
        #expect(violations.isEmpty, "\(violations)")
        #expect(t.store.failure != nil || raft.flusher?.failure != nil, "the crash was not noticed")
        let claimed = shared.claims.withLock { $0 }
        let reopened = try t.crashAndReopen()
        defer { try? reopened.close() }
        var total: UInt64 = 0
        for g in groups {
            let claim = claimed[g] ?? (0, 0)
            let last = reopened.raft.lastIndex(g)
            total += claim.index
            #expect(last >= claim.index, "seed \(seed) group \(g): reported durable through \(claim.index), recovered through \(last)")
            if last > 0 {
                #expect(try reopened.raft.entries(g, 1..<last + 1) == (1...last).map { entry(g, $0) }, "seed \(seed) group \(g)")
            }
            let hs = reopened.raft.hardState(g)
            #expect(hs.commit >= claim.commit, "seed \(seed) group \(g): durable hard state commit \(claim.commit) reported, \(hs.commit) recovered")
            #expect(hs.commit == last, "seed \(seed) group \(g): entries and hard state were written together")
        }
        #expect(total > 0, "nothing was ever reported durable")
    }

    @Test("MemFirst: a failed fsync fails the waiters, the watermark stays, later writes are refused; reopen keeps what was durable",
          .timeLimit(.minutes(5)), arguments: memFirstModes, [false, true])
    func failedFsync(mode: RaftMode, heldFirst: Bool) async throws {
        let t = try RaftHeldStore(mode, seed: 21)
        let raft = t.raft
        let g: RaftGroupID = 3
        let hs1 = RaftHardState(term: 1, vote: 1, commit: 3)
        try await raft.append(g, raftEntries(from: 1, terms: [1, 1, 1]), hardState: hs1)
        try await raft.flush()
        if heldFirst { t.held.hold() } else {
            ls_faultio_plan_durable_write(t.held.faults, ls_faultio_durable_write_count(t.held.faults), LS_FAULT_SYNC_EIO, 0)
        }
        try await raft.append(g, raftEntries(from: 4, terms: [2, 2]), hardState: RaftHardState(term: 2, vote: 1, commit: 5))
        #expect(raft.lastIndex(g) == 5)
        let waiter = RaftOutcome.start { try await raft.waitUntilDurable(g, through: 5) }
        if heldFirst {
            #expect(await t.held.waitUntilBlocked())
            // The held write is the one that fails.
            ls_faultio_plan_durable_write(t.held.faults, ls_faultio_durable_write_count(t.held.faults), LS_FAULT_SYNC_EIO, 0)
            t.held.release()
        }
        let result = try #require(await waiter.wait())
        guard case .failure(let error) = result else {
            Issue.record("waitUntilDurable succeeded after a failed fsync")
            return
        }
        #expect(([.outcomeUnknown, .failed, .io] as [StoreError.Kind]).contains(error.kind), "\(error)")
        #expect(raft.durableIndex(g) == 3)
        #expect(raft.durableHardState(g) == hs1)
        await expectStoreError(error.kind, "flush after the failure") { try await raft.flush() }
        // Fail-stop: nothing later is accepted, or, if accepted, never reported durable.
        do {
            try await raft.append(g, raftEntries(from: 6, terms: [2]))
            Issue.record("an append after a failed fsync was accepted")
        } catch {
            #expect([.outcomeUnknown, .failed].contains(error.kind), "\(error)")
        }
        await expectStoreError(error.kind, "waiting after the failure") { try await raft.waitUntilDurable(g, through: 5) }
        #expect(raft.durableIndex(g) == 3)
        let reopened = try t.crashAndReopen()
        defer { try? reopened.close() }
        let last = reopened.raft.lastIndex(g)
        #expect(last == 3 || last == 5, "recovered through \(last)")
        #expect(try reopened.raft.entries(g, 1..<last + 1) == raftEntries(from: 1, terms: [1, 1, 1, 2, 2]).prefix(Int(last)).map { $0 })
        #expect(reopened.raft.hardState(g) == (last == 3 ? hs1 : RaftHardState(term: 2, vote: 1, commit: 5)), "entries and hard state are atomic")
        // Writing goes on after the reopen.
        try await reopened.raft.append(g, raftEntries(from: last + 1, terms: [3]))
        try await reopened.raft.waitUntilDurable(g, through: last + 1)
    }

    @Test("DiskFirst: a failed fsync throws outcomeUnknown, nothing becomes visible, later writes fail; reopen is atomic",
          .timeLimit(.minutes(5)))
    func diskFirstFailedFsync() async throws {
        let t = try RaftHeldStore(.diskFirst, seed: 31)
        let raft = t.raft
        let g: RaftGroupID = 9
        let hs1 = RaftHardState(term: 1, vote: 0, commit: 2)
        try await raft.append(g, raftEntries(from: 1, terms: [1, 1]), hardState: hs1)
        ls_faultio_plan_durable_write(t.held.faults, ls_faultio_durable_write_count(t.held.faults), LS_FAULT_SYNC_EIO, 0)
        await expectStoreError(.outcomeUnknown) { try await raft.append(g, raftEntries(from: 3, terms: [2, 2]), hardState: RaftHardState(term: 2, vote: 0, commit: 4)) }
        #expect(raft.lastIndex(g) == 2, "a write whose fsync failed is not visible")
        #expect(raft.hardState(g) == hs1)
        await expectStoreError(.failed) { try await raft.saveHardState(g, RaftHardState(term: 3, vote: 0, commit: 4)) }
        await expectStoreError(.failed) { try await raft.truncatePrefix(g, upTo: 2) }
        #expect(try raft.entries(g, 1..<3) == raftEntries(from: 1, terms: [1, 1]), "reads keep working")
        let reopened = try t.crashAndReopen()
        defer { try? reopened.close() }
        let last = reopened.raft.lastIndex(g)
        #expect(last == 2 || last == 4)
        #expect(reopened.raft.hardState(g) == (last == 2 ? hs1 : RaftHardState(term: 2, vote: 0, commit: 4)))
    }

    @Test("concurrent snapshot saves of one group at one index: one wins, its file stays and matches", .timeLimit(.minutes(5)),
          arguments: RaftMode.allCases)
    func concurrentSnapshotSaves(mode: RaftMode) async throws {
        let t = try RaftTestStore(mode)
        let raft = t.raft
        let g: RaftGroupID = 4
        try await raft.append(g, raftEntries(from: 1, terms: Array(repeating: 1, count: 10)))
        for round in 0..<5 {
            let index = UInt64(2 + round)
            let snapshots = (0..<6).map { i in
                RaftSnapshot(metadata: .init(index: index, term: 1, context: [UInt8(i)]), data: Array(repeating: UInt8(i), count: 1000 + i))
            }
            let results = await withTaskGroup(of: (Int, StoreError?).self) { group in
                for (i, s) in snapshots.enumerated() {
                    group.addTask {
                        do throws(StoreError) {
                            try await raft.saveSnapshot(g, s)
                            return (i, nil)
                        } catch {
                            return (i, error)
                        }
                    }
                }
                var all: [(Int, StoreError?)] = []
                for await r in group { all.append(r) }
                return all
            }
            let winners = results.filter { $0.1 == nil }.map(\.0)
            #expect(winners.count == 1, "\(mode) round \(round): \(results.map { "\($0.0): \($0.1.map { "\($0.kind)" } ?? "ok")" })")
            for (_, error) in results { if let error { #expect(error.kind == .snapshotOutOfDate, "\(error)") } }
            guard let winner = winners.first else { continue }
            #expect(try raft.snapshot(g) == snapshots[winner], "\(mode) round \(round)")
        }
        let want = try raft.snapshot(g)
        try t.reopen()  // fails when the winner's file was deleted
        #expect(try t.raft.snapshot(g) == want)
    }
}
