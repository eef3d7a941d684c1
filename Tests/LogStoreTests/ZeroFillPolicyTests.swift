import Foundation
import Testing

@testable import LogStore

/// The preparer zero-fills a new segment only while commits are small (C `zero_fill_next`,
/// docs/FORMAT.md §6.1): large commits get preallocated-only segments, and the log's data is the
/// same either way.
@Suite("Zero-fill policy")
struct ZeroFillPolicyTests {
    /// Appends `count` values of `size` bytes one at a time (one commit each), reopens and checks them.
    static func appendAndReopen(size: Int, count: Int, prewrite: Bool = true) async throws -> LogStatistics {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev, segmentSize: 1 << 20)
        configuration.prewriteSegments = prewrite
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        let values = (0..<count).map { testValue(writer: size, seq: $0, size: size) }
        for value in values { _ = try await log.append(LogRecord(value: value)) }
        let statistics = log.statistics
        try log.close()
        let reopened = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        #expect(try reopened.readAll().map(\.record.value) == values)
        try reopened.close()
        #expect(statistics.rotations >= 3, "the test needs rotations")
        return statistics
    }

    @Test("commits of 256 KiB get segments that are only preallocated")
    func largeCommitsSkipZeros() async throws {
        let statistics = try await Self.appendAndReopen(size: 256 << 10, count: 16)
        #expect(statistics.zeroFillSkips >= 2, "\(statistics)")
    }

    @Test("commits of 8 KiB get zero-filled segments")
    func smallCommitsZeroFill() async throws {
        let statistics = try await Self.appendAndReopen(size: 8 << 10, count: 500)
        #expect(statistics.zeroFillSkips == 0, "\(statistics)")
    }

    @Test("without prewriting nothing is zero-filled and nothing is counted as skipped")
    func noPrewrite() async throws {
        let statistics = try await Self.appendAndReopen(size: 256 << 10, count: 16, prewrite: false)
        #expect(statistics.zeroFillSkips == 0, "\(statistics)")
    }
}
