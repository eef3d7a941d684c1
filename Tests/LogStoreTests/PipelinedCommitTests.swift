import CLogStore
import Foundation
import Testing

@testable import LogStore

/// Pipelined group commit (`LogConfiguration.Pipelining`, `ls_completer.c`): batches completed
/// on the completer thread while the writer writes the next one must still complete exactly
/// once each, in LSN order, before their callers resume, through failures and close.
@Suite("Pipelined commit")
struct PipelinedCommitTests {
    @Test("every append completes once, in LSN order, when every batch is completed on the completer thread",
          arguments: bothBackends)
    func alwaysPipelined(backend: LogConfiguration.Backend) async throws {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(backend)
        configuration.pipelining = .always
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        let journal = CompletionJournal()
        let outcomes = await Self.append(to: log, writers: 24, perWriter: 40, journal: journal)
        let stats = log.statistics
        try log.close()

        #expect(outcomes.allSatisfy { $0.lsn != nil }, "every append of a healthy log succeeds")
        try journal.expectLSNOrder()
        #expect(stats.batches > 0 && stats.pipelinedBatches == stats.batches, "always: every batch goes to the completer")
        #expect(stats.batches < stats.appends, "group commit gathered nothing")

        let byLSN = try Self.recordsAfterReopen(dir, configuration)
        #expect(byLSN.count == outcomes.count)
        for outcome in outcomes { #expect(byLSN[outcome.lsn!] == outcome.value) }
    }

    @Test("automatic pipelining keeps LSN order while the number of appenders changes")
    func automaticAcrossLoads() async throws {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev)
        configuration.pipelining = .automatic
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        let journal = CompletionJournal()
        var outcomes: [AppendOutcome] = []
        // Many appenders, one, many again: the writer may switch between handing batches to the
        // completer and completing them itself; completions must never overtake each other.
        for (writers, perWriter) in [(48, 30), (1, 60), (32, 30)] {
            outcomes += await Self.append(to: log, writers: writers, perWriter: perWriter, journal: journal)
        }
        try log.close()
        #expect(outcomes.allSatisfy { $0.lsn != nil })
        #expect(Set(outcomes.compactMap(\.lsn)).count == outcomes.count, "LSNs are unique")
        try journal.expectLSNOrder()
    }

    /// The TSan job (`make test-tsan`, which sets TSAN_OPTIONS) must run with the completion
    /// hand-off annotated (ls_tsan_handoff.h), and every other build without its mutex.
    @Test("the completion hand-off is annotated for ThreadSanitizer exactly in the TSan build")
    func tsanHandoffMatchesBuild() {
        let tsanJob = ProcessInfo.processInfo.environment["TSAN_OPTIONS"] != nil
        #expect(ls_tsan_handoff_enabled() == (tsanJob ? 1 : 0))
    }

    @Test("by default the writer completes every batch itself")
    func neverByDefault() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments(.pwritev))
        #expect(log.configuration.pipelining == .never)
        let journal = CompletionJournal()
        let outcomes = await Self.append(to: log, writers: 32, perWriter: 20, journal: journal)
        let stats = log.statistics
        try log.close()
        #expect(outcomes.allSatisfy { $0.lsn != nil })
        #expect(stats.pipelinedBatches == 0, "never: no batch goes to a completer thread")
        try journal.expectLSNOrder()
    }

    @Test("a failed sync while earlier batches are with the completer: they succeed, in order, before any failure",
          arguments: [UInt64(3), 9])
    func syncFailureMidPipeline(failingWrite: UInt64) async throws {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev)
        configuration.pipelining = .always
        let faulty = try FaultyLog(directory: dir.logPath, backend: .pwritev, seed: failingWrite, configuration: configuration) {
            ls_faultio_plan_durable_write($0, failingWrite, LS_FAULT_SYNC_EIO, 0)
        }
        let journal = CompletionJournal()
        let outcomes = await Self.append(to: faulty.log, writers: 16, perWriter: 25, journal: journal, stopOnError: true)
        try journal.expectLSNOrder()
        let entries = journal.entries
        let firstFailure = try #require(entries.firstIndex { $0.lsn == nil }, "the planned sync failure reached no append")
        #expect(entries[firstFailure...].allSatisfy { $0.lsn == nil }, "a success completed after a failure")
        #expect(entries[firstFailure].error?.kind == .outcomeUnknown, "the batch whose sync failed learns outcomeUnknown first")
        #expect(entries.count(where: { $0.error?.kind == .outcomeUnknown }) >= 1)
        // Every failure names what failed, also when its batch waited behind others for the completer.
        for entry in entries[firstFailure...] {
            #expect(entry.error?.errno == EIO && entry.error?.path?.contains("/segments/seg-") == true, "\(String(describing: entry.error))")
        }
        #expect(faulty.log.failure != nil, "the log is stopped (fail-stop)")
        ls_faultio_crash_now(faulty.faults)
        try faulty.crashAndRelease()

        // Every acknowledged append survives the power cut that follows the failed sync.
        let byLSN = try Self.recordsAfterReopen(dir, configuration)
        let acknowledged = outcomes.filter { $0.lsn != nil }
        #expect(!acknowledged.isEmpty, "durable write \(failingWrite) failed, so earlier ones succeeded")
        for outcome in acknowledged { #expect(byLSN[outcome.lsn!] == outcome.value) }
    }

    @Test("a batch that fails while an earlier one is still with the completer reports, when its turn comes, what failed")
    func failureQueuedBehindCompleter() async throws {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev)
        configuration.pipelining = .always
        let faulty = try FaultyLog(directory: dir.logPath, backend: .pwritev, seed: 3, configuration: configuration)
        // The next durable write succeeds; the one after it fails its sync.
        ls_faultio_plan_durable_write(faulty.faults, ls_faultio_durable_write_count(faulty.faults) + 1, LS_FAULT_SYNC_EIO, 0)
        let journal = CompletionJournal()
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        // The first append's completion holds the completer thread until released.
        let held = JournalWaiter(journal: journal, tag: 0) { _ in
            entered.signal()
            release.wait()
        }
        let log = faulty.log
        #expect(log.enqueue(records: [LogRecord(value: testValue(writer: 0, seq: 0))], waiter: held) == nil)
        // While the completer is held, the next append's sync fails and stops the log, and its
        // completion must queue behind the held one. Driven from a thread of its own, outside
        // any pool: while the completer is held, pool threads may wait for it (in the TSan build,
        // on the hand-off mutex of ls_tsan_handoff.h), so this test task may not run until the release.
        let failing = JournalWaiter(journal: journal, tag: 1)
        let observed = TSanVisibleMutex((refused: false, completedEarly: false))
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                entered.wait()
                let refused = log.enqueue(records: [LogRecord(value: testValue(writer: 0, seq: 1))], waiter: failing) != nil
                let deadline = Date().addingTimeInterval(30)
                while !refused && log.failure == nil && Date() < deadline { usleep(1000) }
                usleep(50_000)  // from ls_fail to the hand-over: microseconds
                observed.withLock { $0 = (refused, failing.resumed) }
                release.signal()
                done.resume()
            }.start()
        }
        #expect(!observed.withLock { $0.refused }, "the second append was refused")
        #expect(log.failure != nil, "the planned sync failure did not stop the log")
        #expect(!observed.withLock { $0.completedEarly }, "completed before the batch ahead of it")
        let deadline = ContinuousClock.now + .seconds(60)
        while !failing.resumed && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }

        let entries = journal.entries
        #expect(entries.map(\.tag) == [0, 1])
        let error = try #require(entries.last?.error, "the failed batch succeeded: \(entries)")
        #expect(error.kind == .outcomeUnknown, "\(error)")
        #expect(error.errno == EIO, "\(error)")
        #expect(error.path?.contains("/segments/seg-") == true, "names the segment: \(error)")
        #expect(error.message.contains("durable write failed"), "says what failed: \(error)")
        ls_faultio_crash_now(faulty.faults)
        try faulty.crashAndRelease()
    }

    @Test("close completes every queued append, whichever thread completes it")
    func closeDrainsTheCompleter() async throws {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev)
        configuration.pipelining = .always
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        let journal = CompletionJournal()
        let waiters = (0..<200).map { JournalWaiter(journal: journal, tag: $0) }
        for (i, waiter) in waiters.enumerated() {
            #expect(log.enqueue(records: [LogRecord(value: testValue(writer: 0, seq: i))], waiter: waiter) == nil)
        }
        try log.close()
        #expect(waiters.allSatisfy { $0.resumed }, "close returned before every queued append completed")
        #expect(journal.entries.count == 200)
        #expect(journal.entries.allSatisfy { $0.lsn != nil }, "close makes queued appends durable")
        try journal.expectLSNOrder()
    }

    // MARK: support

    /// Every record's value by LSN, as a fresh open of `dir` recovers them.
    static func recordsAfterReopen(_ dir: TemporaryDirectory, _ configuration: LogConfiguration) throws -> [LSN: [UInt8]] {
        let reopened = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        let records = try reopened.readAll()
        try reopened.close()
        return Dictionary(uniqueKeysWithValues: records.map { ($0.lsn, $0.record.value) })
    }

    /// One append of a test writer and how it ended (`lsn` nil: it failed).
    struct AppendOutcome: Sendable {
        let value: [UInt8]
        let lsn: LSN?
    }

    /// Runs `writers` tasks, each appending `perWriter` records one at a time through a
    /// ``JournalWaiter``; with `stopOnError` a writer stops at its first failure.
    static func append(
        to log: CommitLog, writers: Int, perWriter: Int, journal: CompletionJournal, stopOnError: Bool = false
    ) async -> [AppendOutcome] {
        await withTaskGroup(of: [AppendOutcome].self) { group in
            for w in 0..<writers {
                group.addTask {
                    var mine: [AppendOutcome] = []
                    for s in 0..<perWriter {
                        let value = testValue(writer: w, seq: s)
                        let lsn = await Self.appendOne(value, to: log, journal: journal, tag: w << 16 | s)
                        mine.append(AppendOutcome(value: value, lsn: lsn))
                        if lsn == nil && stopOnError { break }
                    }
                    return mine
                }
            }
            var all: [AppendOutcome] = []
            for await part in group { all += part }
            return all
        }
    }

    /// Appends one record through a ``JournalWaiter`` and returns its LSN, or nil if it failed.
    static func appendOne(_ value: [UInt8], to log: CommitLog, journal: CompletionJournal, tag: Int) async -> LSN? {
        await withCheckedContinuation { (continuation: CheckedContinuation<LSN?, Never>) in
            let waiter = JournalWaiter(journal: journal, tag: tag) { continuation.resume(returning: $0) }
            if log.enqueue(records: [LogRecord(value: value)], waiter: waiter) != nil {
                continuation.resume(returning: nil)
            }
        }
    }
}

/// The order in which a log completed appends, across threads.
final class CompletionJournal: Sendable {
    /// One completion: the append's first LSN, or its error.
    struct Entry: Sendable {
        let tag: Int
        let lsn: LSN?
        let error: LogError?
    }

    private let state = TSanVisibleMutex<[Entry]>([])

    var entries: [Entry] { state.withLock { $0 } }

    func record(_ entry: Entry) { state.withLock { $0.append(entry) } }

    /// Successful completions came in strictly increasing LSN order.
    func expectLSNOrder(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let lsns = entries.compactMap(\.lsn)
        for (a, b) in zip(lsns, lsns.dropFirst()) where a >= b {
            Issue.record("completion of LSN \(b) came after LSN \(a)", sourceLocation: sourceLocation)
            return
        }
    }
}

/// An append waiter that writes its completion into a journal, checks that it completes
/// exactly once, and then wakes its caller (`onResume`).
final class JournalWaiter: AppendWaiter, @unchecked Sendable {  // safe: `resumedFlag` is a mutex; the rest is immutable
    let journal: CompletionJournal
    let tag: Int
    private let onResume: (LSN?) -> Void
    private let resumedFlag = TSanVisibleMutex(false)

    init(journal: CompletionJournal, tag: Int, onResume: @escaping (LSN?) -> Void = { _ in }) {
        self.journal = journal
        self.tag = tag
        self.onResume = onResume
    }

    /// Whether ``complete(_:directory:)`` ran (and woke the caller).
    var resumed: Bool { resumedFlag.withLock { $0 } }

    override func complete(_ result: borrowing ls_append_result, directory: String) {
        resumedFlag.withLock {
            precondition(!$0, "complete called twice")
            $0 = true
        }
        let entry =
            result.status == 0
            ? CompletionJournal.Entry(tag: tag, lsn: result.first_lsn, error: nil)
            : CompletionJournal.Entry(tag: tag, lsn: nil, error: LogError(completion: result, directory: directory))
        journal.record(entry)
        onResume(entry.lsn)
    }
}
