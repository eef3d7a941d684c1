import Foundation
import Testing

@testable import LogStore

/// The non-strict recovery modes (docs/FORMAT.md §7.5): point-in-time cuts the log at the first
/// damage; salvage skips damaged ranges, keeps every valid frame and records the skips durably.
@Suite("Recovery modes")
struct RecoveryModeTests {
    static let count = 3000

    /// A closed log of single-record appends (one frame each) over several segments.
    static func makeLog() async throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        for s in 0..<count { _ = try await log.append(LogRecord(value: testValue(writer: 0, seq: s))) }
        try log.close()
        return dir
    }

    static func config(_ mode: LogConfiguration.RecoveryMode) -> LogConfiguration {
        var c = smallSegments()
        c.recoveryMode = mode
        return c
    }

    static func values() -> [[UInt8]] { (0..<count).map { testValue(writer: 0, seq: $0) } }

    /// A copy of `original` with one byte flipped in data frame `frameIndex` of data segment
    /// `segmentIndex`. Returns the copy, the damaged file, the frame and the LSN of its record.
    static func damaged(_ original: TemporaryDirectory, segment segmentIndex: Int, frame frameIndex: Int) throws
        -> (TemporaryDirectory, String, FrameLocation, LSN)
    {
        let segments = try dataSegments(original.logPath)
        #expect(segments.count >= 3)
        var lsn: LSN = 1
        for s in segments.prefix(segmentIndex) { lsn += LSN(try frames(inSegment: s).filter { !$0.isSeal }.count) }
        let frame = try frames(inSegment: segments[segmentIndex]).filter { !$0.isSeal }[frameIndex]
        lsn += LSN(frameIndex)
        let copy = copyOfDirectory(original.logPath)
        let path = segmentsDirectory(copy.logPath) + "/" + (segments[segmentIndex] as NSString).lastPathComponent
        try mutateFile(path) { $0[frame.offset + 44] ^= 0x20 }  // a body byte: the frame CRC fails
        return (copy, path, frame, lsn)
    }

    @Test("point-in-time cuts at a flipped byte in an older frame: the prefix is kept, the rest dropped and reported")
    func pointInTime() async throws {
        let original = try await Self.makeLog()
        let (copy, path, frame, lsn) = try Self.damaged(original, segment: 0, frame: 100)
        #expect(throws: LogError.self) { try CommitLog.open(directory: copy.logPath, configuration: smallSegments()) }
        let laterSegments = try dataSegments(copy.logPath).dropFirst()
        let log = try CommitLog.open(directory: copy.logPath, configuration: Self.config(.pointInTime))
        let report = try #require(log.recovery.dropped)
        #expect(report.firstDamagePath == path)
        #expect(report.firstDamageOffset == UInt64(frame.offset))
        #expect(report.firstLSN == lsn)
        #expect(report.ranges == UInt64(1 + laterSegments.count))
        // Every valid frame after the damaged one (one record each), the damaged one not counted.
        #expect(report.frames == UInt64(Self.count) - lsn)
        #expect(report.bytes > 0)
        #expect(log.recovery.lastLSN == lsn - 1)
        #expect(try log.readAll().map(\.record.value) == Array(Self.values().prefix(Int(lsn - 1))))
        for later in laterSegments {
            #expect(!FileManager.default.fileExists(atPath: later))
            #expect(FileManager.default.fileExists(atPath: later + ".dropped"), "dropped segment not kept for inspection")
        }
        #expect(try await log.append(LogRecord(value: [1])) == lsn)
        try log.close()
        // The cut is durable: a strict open accepts the store, dropped files stay ignored.
        let strict = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
        #expect(strict.recovery.dropped == nil)
        #expect(try strict.readAll().count == Int(lsn))
        try strict.close()
    }

    @Test("salvage skips a flipped byte in an older frame, keeps every frame after it, and strict opens accept the skip")
    func salvage() async throws {
        let original = try await Self.makeLog()
        let (copy, path, frame, lsn) = try Self.damaged(original, segment: 0, frame: 100)
        let log = try CommitLog.open(directory: copy.logPath, configuration: Self.config(.salvage))
        let report = try #require(log.recovery.dropped)
        #expect(report.ranges == 1)
        #expect(report.bytes == UInt64(frame.diskSize))
        #expect(report.frames == 0)
        #expect(report.firstLSN == lsn)
        #expect(report.firstDamagePath == path)
        #expect(report.firstDamageOffset == UInt64(frame.offset))
        var expected = Self.values()
        expected.remove(at: Int(lsn - 1))
        let records = try log.readAll()
        #expect(records.map(\.record.value) == expected, "frames after the damage must be kept")
        #expect(!records.contains { $0.lsn == lsn })
        #expect(records.last?.lsn == LSN(Self.count))
        #expect(try await log.append(LogRecord(value: [1])) == LSN(Self.count + 1))
        try log.close()
        let strict = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
        #expect(strict.recovery.dropped == nil)
        #expect(try strict.readAll().map(\.record.value) == expected + [[1]])
        try strict.close()
    }

    @Test("salvage in the newest segment keeps the frames after the damage and still cuts a torn tail")
    func salvageNewest() async throws {
        let original = try await Self.makeLog()
        let segments = try dataSegments(original.logPath)
        let (copy, _, _, lsn) = try Self.damaged(original, segment: segments.count - 1, frame: 3)
        let log = try CommitLog.open(directory: copy.logPath, configuration: Self.config(.salvage))
        #expect(log.recovery.dropped?.ranges == 1)
        #expect(log.recovery.dropped?.firstLSN == lsn)
        var expected = Self.values()
        expected.remove(at: Int(lsn - 1))
        #expect(try log.readAll().map(\.record.value) == expected)
        try log.close()
        let strict = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
        #expect(try strict.readAll().map(\.record.value) == expected)
        try strict.close()
    }

    @Test("salvage of a damaged seal of an older segment skips to its end; later segments stay")
    func salvageSeal() async throws {
        let original = try await Self.makeLog()
        let first = try dataSegments(original.logPath)[0]
        let seal = try #require(try frames(inSegment: first).first { $0.isSeal })
        let copy = copyOfDirectory(original.logPath)
        let path = segmentsDirectory(copy.logPath) + "/" + (first as NSString).lastPathComponent
        try mutateFile(path) { $0[seal.offset + 44] ^= 0x01 }
        let log = try CommitLog.open(directory: copy.logPath, configuration: Self.config(.salvage))
        #expect(log.recovery.dropped?.ranges == 1)
        #expect(log.recovery.dropped?.firstDamageOffset == UInt64(seal.offset))
        #expect(try log.readAll().map(\.record.value) == Self.values())
        try log.close()
        let strict = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
        #expect(try strict.readAll().count == Self.count)
        try strict.close()
    }

    @Test("the non-strict modes change nothing on an undamaged log")
    func undamaged() async throws {
        let original = try await Self.makeLog()
        for mode in [LogConfiguration.RecoveryMode.pointInTime, .salvage] {
            let copy = copyOfDirectory(original.logPath)
            let log = try CommitLog.open(directory: copy.logPath, configuration: Self.config(mode))
            #expect(log.recovery.dropped == nil)
            #expect(try log.readAll().count == Self.count)
            try log.close()
        }
    }
}
