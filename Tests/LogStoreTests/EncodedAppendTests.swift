import CLogStore
import Foundation
import Synchronization
import Testing

@testable import LogStore

/// `CommitLog.encode` / `submit` (C `ls_log_encode` / `ls_log_submit`): an append encoded apart
/// from queueing it, as the key-value store does for large writes before its write lock.
@Suite("Encoded appends")
struct EncodedAppendTests {
    /// Counts its completions and remembers the last LSN.
    final class CountingWaiter: AppendWaiter, @unchecked Sendable {  // safe: `state` is a Mutex
        let state = Mutex<(calls: Int, lsn: UInt64)>((0, 0))
        override func complete(_ result: borrowing ls_append_result, directory: String) {
            let lsn = result.status == 0 ? result.first_lsn : 0
            state.withLock { $0 = ($0.calls + 1, lsn) }
        }
    }

    static func encode(_ log: CommitLog, _ value: [UInt8]) throws -> EncodedAppend {
        let record = LogRecord(key: [1], value: value)
        return try log.encode(count: 1) { body in
            record.key.withUnsafeBufferPointer { key in
                record.value.withUnsafeBufferPointer { v in
                    var r = ls_record(record, key: key, value: v)
                    return body(&r)
                }
            }
        }.get()
    }

    @Test("an encoded append is queued once, in submission order, and reads back; a second submit is refused")
    func submitOnce() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        let first = try Self.encode(log, [1, 2, 3])
        let second = try Self.encode(log, Array(repeating: 7, count: 10_000))
        // Queued in the order submitted, not encoded.
        let waiter2 = CountingWaiter(), waiter1 = CountingWaiter()
        #expect(log.submit(second, waiter: waiter2) == nil)
        #expect(log.submit(first, waiter: waiter1) == nil)
        let again = log.submit(first, waiter: CountingWaiter())
        #expect(again?.kind == .invalidArgument, "\(String(describing: again))")
        _ = try await log.append(LogRecord(value: [9]))  // durable after both
        #expect(waiter2.state.withLock { $0 } == (1, 1))
        #expect(waiter1.state.withLock { $0 } == (1, 2))
        #expect(try log.readAll().map(\.record.value) == [Array(repeating: 7, count: 10_000), [1, 2, 3], [9]])
        try log.close()
    }

    @Test("an append encoded but never submitted, or submitted after close, is freed and never completes")
    func unsubmittedAndClosed() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        _ = try Self.encode(log, [1])  // released unsubmitted (ASan's leak check runs over this)
        let late = try Self.encode(log, [2])
        try log.close()
        let waiter = CountingWaiter()
        #expect(log.submit(late, waiter: waiter)?.kind == .closed)
        #expect(waiter.state.withLock { $0.calls } == 0)
        let reopened = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        #expect(try reopened.readAll().isEmpty)
        try reopened.close()
    }
}
