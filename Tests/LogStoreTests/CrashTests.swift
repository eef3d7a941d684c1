import CLogStore
import Foundation
import Testing

@testable import LogStore

/// A log over the fault-injecting I/O seam (ls_faultio.h) wrapping a real backend.
final class FaultyLog {
    let faults: OpaquePointer
    let io: UnsafeMutablePointer<ls_io>
    let log: CommitLog

    init(
        directory: String, backend: LogConfiguration.Backend, seed: UInt64, configuration: LogConfiguration? = nil,
        beforeOpen: (OpaquePointer) -> Void = { _ in }
    ) throws {
        var inner: UnsafeMutablePointer<ls_io>?
        let cBackend = backend == .ioUring ? LS_BACKEND_URING : LS_BACKEND_PWRITEV
        #expect(ls_io_posix_create(cBackend, LS_URING_LINKED_FDATASYNC, &inner) == 0)
        var f: OpaquePointer?
        #expect(ls_faultio_create(inner, seed, &f) == 0)
        faults = f!
        io = ls_faultio_as_io(faults)
        beforeOpen(faults)
        do {
            log = try CommitLog(directory: directory, configuration: configuration ?? smallSegments(backend), io: io)
        } catch {
            ls_io_destroy(io)  // the log does not own its I/O seam, and no FaultyLog is left to release it
            throw error
        }
    }

    /// Closes the log (errors are expected once the simulated process has crashed), applies
    /// the crash to the files and releases the seam.
    func crashAndRelease() throws {
        do { try log.close() } catch { /* a crashed process cannot close cleanly: expected */ }
        #expect(ls_faultio_apply_crash(faults) == 0)
        ls_io_destroy(io)
    }
}

/// Appends from one writer until the first failure (the fault set on `faulty` makes it happen
/// within 20,000 appends); returns the acks and that failure.
func appendUntilFirstFailure(_ faulty: FaultyLog) async -> (acks: [Ack], failure: LogError?) {
    let (acks, errors) = await appendUntilFailure(faulty.log, writers: 1, limit: 20_000)
    return (acks, errors.first)
}

/// After a failure that wrote nothing: clears the fault (`clear`), then checks that the log goes
/// on (the next append gets the next LSN) and that a reopen recovers every ack.
func expectLogGoesOn(_ faulty: FaultyLog, _ dir: TemporaryDirectory, acks: [Ack], clear: (OpaquePointer) -> Void) async throws {
    clear(faulty.faults)
    let seq = acks.count
    let lsn = try await faulty.log.append(LogRecord(key: [0], value: testValue(writer: 0, seq: seq)))
    #expect(lsn == LSN(acks.count + 1))
    try faulty.log.close()
    ls_io_destroy(faulty.io)
    let all = acks + [Ack(lsn: lsn, writer: 0, seq: seq)]
    #expect(try verifyRecovered(dir.logPath, acks: all, writers: 1) == all.count)
}

/// One acknowledged append of a test writer.
struct Ack: Sendable {
    let lsn: LSN
    let writer: Int
    let seq: Int
}

/// Appends from `writers` concurrent tasks, each waiting for its ack before its next
/// append, until the first error each sees (or `limit` appends). Returns every ack and
/// the errors seen.
func appendUntilFailure(_ log: CommitLog, writers: Int, limit: Int) async -> ([Ack], [LogError]) {
    await withTaskGroup(of: ([Ack], LogError?).self) { group in
        for w in 0..<writers {
            group.addTask {
                var acks: [Ack] = []
                for s in 0..<limit {
                    do throws(LogError) {
                        let lsn = try await log.append(LogRecord(key: [UInt8(w)], value: testValue(writer: w, seq: s)))
                        acks.append(Ack(lsn: lsn, writer: w, seq: s))
                    } catch {
                        return (acks, error)
                    }
                }
                return (acks, nil)
            }
        }
        var acks: [Ack] = []
        var errors: [LogError] = []
        for await (part, error) in group {
            acks += part
            if let error { errors.append(error) }
        }
        return (acks, errors)
    }
}

/// Reopens the log and checks the durability contract against what was acknowledged:
/// LSNs are dense from 1, every ack is there with its content, and each writer's records
/// form a prefix of what it submitted (recovery yields a prefix of the commit order).
func verifyRecovered(_ dir: String, acks: [Ack], writers: Int) throws -> Int {
    let log = try CommitLog.open(directory: dir, configuration: smallSegments())
    defer { try? log.close() }
    let records = try log.readAll()
    #expect(records.map(\.lsn) == Array(stride(from: LSN(1), through: LSN(records.count), by: 1)))
    let byLSN = Dictionary(uniqueKeysWithValues: records.map { ($0.lsn, $0.record) })
    for ack in acks {
        #expect(byLSN[ack.lsn]?.value == testValue(writer: ack.writer, seq: ack.seq), "acked LSN \(ack.lsn) lost or changed")
    }
    var nextSeq = [Int](repeating: 0, count: writers)
    for record in records {
        let w = Int(record.record.key[0])
        #expect(record.record.value == testValue(writer: w, seq: nextSeq[w]), "writer \(w) out of order at LSN \(record.lsn)")
        nextSeq[w] += 1
    }
    return records.count
}

@Suite("Crash and faults")
struct CrashTests {
    @Test("simulated crashes at random points under concurrent appends lose nothing acknowledged",
          arguments: bothBackends, Array(UInt64(1)...6))
    func randomCrash(backend: LogConfiguration.Backend, seed: UInt64) async throws {
        let dir = TemporaryDirectory()
        let faulty = try FaultyLog(directory: dir.logPath, backend: backend, seed: seed)
        let start = ls_faultio_call_count(faulty.faults)
        ls_faultio_plan_random_crash(faulty.faults, start + 10, start + 600)
        let (acks, errors) = await appendUntilFailure(faulty.log, writers: 8, limit: 5000)
        #expect(ls_faultio_crashed(faulty.faults) != 0, "the planned crash never happened")
        #expect(!errors.isEmpty)
        for error in errors { #expect([.outcomeUnknown, .failed, .io, .noSpace].contains(error.kind), "\(error)") }
        try faulty.crashAndRelease()
        let survivors = try verifyRecovered(dir.logPath, acks: acks, writers: 8)
        #expect(survivors >= acks.count)
    }

    @Test("a failed fdatasync stops the log: that append's outcome is unknown, later ones fail", arguments: bothBackends)
    func fsyncFailureIsFailStop(backend: LogConfiguration.Backend) async throws {
        let dir = TemporaryDirectory()
        let faulty = try FaultyLog(directory: dir.logPath, backend: backend, seed: 7)
        var acked: [LSN] = []
        for i in 0..<5 { acked.append(try await faulty.log.append(LogRecord(key: [0], value: testValue(writer: 0, seq: i)))) }
        ls_faultio_plan_durable_write(faulty.faults, ls_faultio_durable_write_count(faulty.faults), LS_FAULT_SYNC_EIO, 0)
        do {
            _ = try await faulty.log.append(LogRecord(key: [0], value: testValue(writer: 0, seq: 5)))
            Issue.record("an append whose fdatasync failed was acknowledged")
        } catch {
            #expect(error.kind == .outcomeUnknown)
            #expect(error.errno == EIO)
            #expect(error.path?.contains("/segments/seg-") == true, "the error names the segment written: \(error)")
            #expect(error.message.contains("durable write failed"), "the error says what failed: \(error)")
        }
        // Fail-stop: even though the disk would now succeed, nothing more is accepted.
        do {
            _ = try await faulty.log.append(LogRecord(key: [0], value: testValue(writer: 0, seq: 6)))
            Issue.record("the log accepted an append after a failed fdatasync")
        } catch {
            #expect(error.kind == .failed)
            #expect(error.errno == EIO, "the failure that stopped the log: \(error)")
            #expect(error.message.contains("this append was not written"), "\(error)")
            #expect(error.message.contains("durable write failed"), "names the failure that stopped the log: \(error)")
            #expect(error.path?.contains("/segments/seg-") == true, "names the segment of the failure that stopped the log: \(error)")
        }
        #expect(faulty.log.failure?.kind == .outcomeUnknown)
        #expect(faulty.log.durableLSN == 5)
        ls_faultio_crash_now(faulty.faults)
        try faulty.crashAndRelease()
        _ = try verifyRecovered(dir.logPath, acks: acked.enumerated().map { Ack(lsn: $1, writer: 0, seq: $0) }, writers: 1)
    }

    @Test("a failed write (EIO) or a full disk (ENOSPC) is reported with its errno; nothing unacknowledged is claimed",
          arguments: bothBackends, [LS_FAULT_EIO, LS_FAULT_ENOSPC])
    func writeFailure(backend: LogConfiguration.Backend, fault: ls_fault_kind) async throws {
        let dir = TemporaryDirectory()
        let faulty = try FaultyLog(directory: dir.logPath, backend: backend, seed: 11)
        let first = try await faulty.log.append(LogRecord(key: [0], value: testValue(writer: 0, seq: 0)))
        ls_faultio_plan_durable_write(faulty.faults, ls_faultio_durable_write_count(faulty.faults), fault, 0)
        do {
            _ = try await faulty.log.append(LogRecord(key: [0], value: testValue(writer: 0, seq: 1)))
            Issue.record("a failed write was acknowledged")
        } catch {
            #expect(error.kind == .outcomeUnknown)
            #expect(error.errno == (fault == LS_FAULT_EIO ? EIO : ENOSPC), "\(error)")
            #expect(error.description.contains("unknown"))
        }
        ls_faultio_crash_now(faulty.faults)
        try faulty.crashAndRelease()
        let survivors = try verifyRecovered(dir.logPath, acks: [Ack(lsn: first, writer: 0, seq: 0)], writers: 1)
        #expect(survivors == 1, "a write that failed before reaching the disk reappeared")
    }

    @Test("a file system that refuses fallocate (EOPNOTSUPP) still gets working segments", arguments: bothBackends)
    func fallocateUnsupported(backend: LogConfiguration.Backend) async throws {
        let dir = TemporaryDirectory()
        let faulty = try FaultyLog(directory: dir.logPath, backend: backend, seed: 5) {
            ls_faultio_set_fallocate_error($0, EOPNOTSUPP)
        }
        var acks: [Ack] = []
        for s in 0..<1500 {
            acks.append(Ack(lsn: try await faulty.log.append(LogRecord(key: [0], value: testValue(writer: 0, seq: s))), writer: 0, seq: s))
        }
        #expect(faulty.log.statistics.rotations > 0)
        try faulty.log.close()
        ls_io_destroy(faulty.io)
        #expect(try verifyRecovered(dir.logPath, acks: acks, writers: 1) == 1500)
    }

    @Test("no space for a new segment: appends fail with noSpace, are not written, and the log goes on once space returns")
    func noSpaceForNextSegment() async throws {
        let dir = TemporaryDirectory()
        let faulty = try FaultyLog(directory: dir.logPath, backend: .pwritev, seed: 9)
        ls_faultio_set_fallocate_error(faulty.faults, ENOSPC)
        let (acks, failure) = await appendUntilFirstFailure(faulty)
        #expect(failure?.kind == .noSpace, "\(String(describing: failure))")
        #expect(failure?.errno == ENOSPC)
        #expect(failure?.message.contains("Cause: cannot preallocate a new segment") == true, "\(String(describing: failure))")
        #expect(failure?.path?.contains("/segments/seg-") == true, "the error names the segment file: \(String(describing: failure))")
        #expect(faulty.log.failure == nil, "running out of space before writing is not fail-stop")
        // Still no space: the append fails again, and again nothing is written.
        await #expect(throws: LogError.self) {
            try await faulty.log.append(LogRecord(key: [0], value: testValue(writer: 0, seq: acks.count)))
        }
        // Space returns: the next append succeeds with the next LSN.
        try await expectLogGoesOn(faulty, dir, acks: acks) { ls_faultio_set_fallocate_error($0, 0) }
    }

    @Test("a torn durable write at every byte of a batch recovers to the acknowledged prefix", arguments: bothBackends)
    func tornWriteAtEveryByte(backend: LogConfiguration.Backend) async throws {
        for cut in stride(from: 1, to: 200, by: 7) {
            let dir = TemporaryDirectory()
            let faulty = try FaultyLog(directory: dir.logPath, backend: backend, seed: UInt64(cut))
            var acks: [Ack] = []
            for s in 0..<3 {
                acks.append(Ack(lsn: try await faulty.log.append(LogRecord(key: [0], value: testValue(writer: 0, seq: s))), writer: 0, seq: s))
            }
            ls_faultio_plan_durable_write(faulty.faults, ls_faultio_durable_write_count(faulty.faults), LS_FAULT_TORN_CRASH, UInt64(cut))
            await #expect(throws: LogError.self) {
                try await faulty.log.append(contentsOf: (3..<6).map { LogRecord(key: [0], value: testValue(writer: 0, seq: $0)) })
            }
            try faulty.crashAndRelease()
            let survivors = try verifyRecovered(dir.logPath, acks: acks, writers: 1)
            // The torn batch is one atomic append: all three records or none.
            #expect(survivors == 3 || survivors == 6, "cut at \(cut): \(survivors) records")
        }
    }
}
