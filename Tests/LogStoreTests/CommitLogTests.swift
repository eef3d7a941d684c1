import CLogStore
import Foundation
import Testing

@testable import LogStore

@Suite("CommitLog")
struct CommitLogTests {
    @Test("append returns dense LSNs and records read back in order", arguments: bothBackends)
    func appendAndReadBack(backend: LogConfiguration.Backend) async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments(backend))
        var lsns: [LSN] = []
        for i in 0..<50 {
            lsns.append(try await log.append(LogRecord(type: 3, flags: 7, key: Array("k\(i)".utf8), value: testValue(writer: 0, seq: i))))
        }
        #expect(lsns == Array(1...50))
        let range = try await log.append(contentsOf: [LogRecord(value: [1]), LogRecord(key: [9], value: [])])
        #expect(range == 51...52)
        #expect(log.durableLSN == 52)
        let records = try log.readAll()
        #expect(records.map(\.lsn) == Array(1...52))
        #expect(records[3].record == LogRecord(type: 3, flags: 7, key: Array("k3".utf8), value: testValue(writer: 0, seq: 3)))
        #expect(records[51].record == LogRecord(key: [9], value: []))
        #expect(log.statistics.backend == (backend == .ioUring ? "io_uring" : "pwritev"))
        try log.close()

        let reopened = try CommitLog.open(directory: dir.logPath, configuration: smallSegments(backend))
        #expect(reopened.recovery.lastLSN == 52)
        #expect(reopened.recovery.tornTail == nil)
        #expect(try reopened.readAll() == records)
        #expect(try await reopened.append(LogRecord(value: [42])) == 53)
        try reopened.close()
    }

    @Test("concurrent appends share group commits and all survive a reopen", arguments: bothBackends)
    func concurrentAppends(backend: LogConfiguration.Backend) async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments(backend))
        let writers = 16, perWriter = 100
        let acked = try await withThrowingTaskGroup(of: [(LSN, [UInt8])].self) { group in
            for w in 0..<writers {
                group.addTask {
                    var mine: [(LSN, [UInt8])] = []
                    for s in 0..<perWriter {
                        let value = testValue(writer: w, seq: s)
                        mine.append((try await log.append(LogRecord(value: value)), value))
                    }
                    return mine
                }
            }
            var all: [(LSN, [UInt8])] = []
            for try await part in group { all += part }
            return all
        }
        let stats = log.statistics
        #expect(stats.appends == UInt64(writers * perWriter))
        #expect(stats.batches < stats.appends, "group commit gathered nothing")
        #expect(stats.rotations > 0, "64 KiB segments must have rotated")
        try log.close()

        let reopened = try CommitLog.open(directory: dir.logPath, configuration: smallSegments(backend))
        let byLSN = Dictionary(uniqueKeysWithValues: try reopened.readAll().map { ($0.lsn, $0.record.value) })
        #expect(byLSN.count == writers * perWriter)
        for (lsn, value) in acked { #expect(byLSN[lsn] == value) }
        try reopened.close()
    }

    @Test("commit caps bound every group commit", arguments: [(4, 1 << 20), (1024, 600)])
    func commitCaps(maxOps: Int, maxBytes: Int) async throws {
        let dir = TemporaryDirectory()
        var config = smallSegments()
        config.commitMaxOps = maxOps
        config.commitMaxBytes = maxBytes
        let log = try CommitLog.open(directory: dir.logPath, configuration: config)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<16 {
                group.addTask { for s in 0..<20 { _ = try await log.append(LogRecord(value: testValue(writer: w, seq: s))) } }
            }
            try await group.waitForAll()
        }
        let stats = log.statistics
        #expect(stats.appends == 320)
        // Each encoded record is 12 + 40 bytes: 600 bytes hold 11 of them.
        #expect(stats.maxBatch <= UInt64(min(maxOps, maxBytes / 52)))
        #expect(stats.maxBatch > 1, "no batching happened")
        try log.close()
        #expect(log.statistics.appends == 320, "statistics stay readable after close")
    }

    @Test("the idle writer polls before its first wait, and its polls are counted")
    func idleWriterPolls() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        _ = try await log.append(LogRecord(value: [1]))
        // A fresh spin policy polls at the first wait (before the first append); the rest depends
        // on timing, which the policy's own test covers.
        #expect(log.statistics.idleSpins >= 1)
        try log.close()
    }

    @Test("the idle spin policy stops polling after 4 empty polls, retries once every 16 waits, and resumes on a find")
    func idleSpinPolicy() {
        var policy = ls_spin_policy()
        for _ in 0..<Int(LS_SPIN_MISS_LIMIT) {
            #expect(ls_spin_policy_should_poll(&policy) != 0)
            ls_spin_policy_record(&policy, 0)
        }
        // Given up: sleeps through 15 waits, polls at the 16th, twice over while polls stay empty.
        for _ in 0..<2 {
            for _ in 1..<Int(LS_SPIN_RETRY_EVERY) { #expect(ls_spin_policy_should_poll(&policy) == 0) }
            #expect(ls_spin_policy_should_poll(&policy) != 0)
            ls_spin_policy_record(&policy, 0)
        }
        // A retry that finds an append: polling at every wait again, until 4 more empty ones.
        for _ in 1..<Int(LS_SPIN_RETRY_EVERY) { #expect(ls_spin_policy_should_poll(&policy) == 0) }
        #expect(ls_spin_policy_should_poll(&policy) != 0)
        ls_spin_policy_record(&policy, 1)
        for found: Int32 in [1, 0, 1, 0, 0, 0] {
            #expect(ls_spin_policy_should_poll(&policy) != 0)
            ls_spin_policy_record(&policy, found)
        }
        #expect(ls_spin_policy_should_poll(&policy) != 0, "three empty polls in a row do not stop it")
        ls_spin_policy_record(&policy, 0)
        #expect(ls_spin_policy_should_poll(&policy) == 0, "the fourth does")
    }

    @Test("a directory can be open by one log at a time")
    func exclusiveOpen() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        #expect(try await log.append(LogRecord(value: [1])) == 1)
        do {
            _ = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
            Issue.record("a second log opened the same directory")
        } catch {
            #expect(error.kind == .busy)
            #expect(error.path == dir.logPath)
        }
        try log.close()
        let again = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        #expect(try again.readAll().count == 1)
        try again.close()
    }

    @Test("a reader sees a durable prefix while appends continue")
    func readWhileAppending() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        let writer = Task {
            for s in 0..<3000 { _ = try await log.append(LogRecord(value: testValue(writer: 0, seq: s))) }
        }
        var reads = 0
        while reads < 20 {
            let durable = log.durableLSN
            let records = try log.readAll()
            // Everything durable before the read is there, in order, with its content.
            #expect(records.count >= Int(durable))
            for (i, r) in records.enumerated() where i % 97 == 0 {
                #expect(r.lsn == LSN(i + 1) && r.record.value == testValue(writer: 0, seq: i))
            }
            reads += 1
            await Task.yield()
        }
        try await writer.value
        #expect(try log.readAll().count == 3000)
        try log.close()
    }

    @Test("bad input is refused with a typed error and changes nothing")
    func badInput() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        await #expect(throws: LogError.self) { try await log.append(LogRecord(type: 0, value: [1])) }
        do {
            _ = try await log.append(LogRecord(key: [UInt8](repeating: 1, count: 70_000), value: []))
            Issue.record("an oversize key was accepted")
        } catch { #expect(error.kind == .tooLarge) }
        do {
            _ = try await log.append(LogRecord(value: [UInt8](repeating: 1, count: 200 * 1024)))
            Issue.record("a value larger than a segment was accepted")
        } catch { #expect(error.kind == .tooLarge) }
        do {
            _ = try await log.append(contentsOf: [])
            Issue.record("an empty append was accepted")
        } catch { #expect(error.kind == .invalidArgument) }
        #expect(try await log.append(LogRecord(value: [1])) == 1)
        try log.close()
        do {
            _ = try await log.append(LogRecord(value: [1]))
            Issue.record("append after close succeeded")
        } catch { #expect(error.kind == .closed) }
        #expect(throws: LogError.self) { try CommitLog.open(directory: dir.logPath, configuration: { var c = LogConfiguration(); c.segmentSize = 1000; return c }()) }
    }

    @Test("zstd-compressed appends round-trip and take less space")
    func compression() async throws {
        let dir = TemporaryDirectory()
        var config = smallSegments(segmentSize: 1 << 20)
        config.compressionThreshold = 512
        let log = try CommitLog.open(directory: dir.logPath, configuration: config)
        let big = [UInt8](repeating: 0x61, count: 20_000)
        let small = [UInt8](repeating: 0x62, count: 100)
        #expect(try await log.append(LogRecord(value: big)) == 1)
        #expect(try await log.append(LogRecord(value: small)) == 2)
        #expect(try await log.append(contentsOf: [LogRecord(value: big), LogRecord(value: small)]) == 3...4)
        #expect(log.statistics.bytesWritten < 10_000)
        try log.close()
        let reopened = try CommitLog.open(directory: dir.logPath, configuration: config)
        #expect(try reopened.readAll().map(\.record.value) == [big, small, big, small])
        try reopened.close()
    }

    @Test("large and compressed appends gathered into one batch still fit one segment and reopen cleanly")
    func nearlyFullSegments() async throws {
        let dir = TemporaryDirectory()
        var config = smallSegments()
        config.compressionThreshold = 1000
        let log = try CommitLog.open(directory: dir.logPath, configuration: config)
        var rng = SplitMix(state: 3)
        let incompressible = (0..<60_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let compressible = [UInt8](repeating: 9, count: 30_000)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<12 {
                group.addTask { _ = try await log.append(LogRecord(key: [UInt8(i)], value: i % 2 == 0 ? incompressible : compressible)) }
            }
            try await group.waitForAll()
        }
        try log.close()
        let reopened = try CommitLog.open(directory: dir.logPath, configuration: config)
        let values = try reopened.readAll().map(\.record)
        #expect(values.count == 12)
        for r in values { #expect(r.value == (Int(r.key[0]) % 2 == 0 ? incompressible : compressible)) }
        try reopened.close()
    }

    @Test("reader starts at a given LSN across segments")
    func readerFrom() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        for i in 0..<2000 { _ = try await log.append(LogRecord(value: testValue(writer: 1, seq: i))) }
        #expect(log.statistics.rotations > 0)
        #expect(try log.readAll(from: 1234).map(\.lsn) == Array(1234...2000))
        #expect(try log.readAll(from: 5000).isEmpty)
        try log.close()
    }
}
