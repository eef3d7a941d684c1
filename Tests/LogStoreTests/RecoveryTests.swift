import CLogStore
import Foundation
import Testing

@testable import LogStore

/// Recovery after damage (DESIGN §4.3): a torn tail in the newest segment is cut off and only
/// unacknowledged data goes with it; any other damage refuses to open, naming file and offset.
@Suite("Recovery")
struct RecoveryTests {
    /// Writes `count` single-record appends (one frame each) and closes the log.
    static func makeLog(records count: Int, segmentSize: UInt64 = 64 * 1024) async throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments(segmentSize: segmentSize))
        for i in 0..<count { _ = try await log.append(LogRecord(key: [UInt8(i & 0xff)], value: testValue(writer: 0, seq: i))) }
        try log.close()
        return dir
    }

    static func reopenValues(_ dir: String) throws -> (CommitLog, [[UInt8]]) {
        let log = try CommitLog.open(directory: dir, configuration: smallSegments())
        return (log, try log.readAll().map(\.record.value))
    }

    @Test("truncating the newest segment at every byte of its last frame keeps exactly the prefix")
    func truncateEveryOffsetOfLastFrame() async throws {
        let count = 20
        let original = try await Self.makeLog(records: count)
        let newest = try #require(try dataSegments(original.logPath).last)
        let last = try #require(try frames(inSegment: newest).last { !$0.isSeal })
        let name = (newest as NSString).lastPathComponent
        let all = (0..<count).map { testValue(writer: 0, seq: $0) }
        for cut in last.offset..<(last.offset + last.diskSize) {
            // A cut inside the padding leaves every checksummed byte: the frame is whole.
            let survivors = cut >= last.bodyEnd ? count : count - 1
            let expected = Array(all.prefix(survivors))
            for zeroTail in [false, true] {
                let copy = copyOfDirectory(original.logPath)
                try mutateFile(segmentsDirectory(copy.logPath) + "/" + name) { bytes in
                    if zeroTail {
                        // A torn write over a preallocated, zeroed tail.
                        for i in cut..<bytes.count { bytes[i] = 0 }
                    } else {
                        bytes.removeSubrange(cut..<bytes.count)
                    }
                }
                let (log, values) = try Self.reopenValues(copy.logPath)
                #expect(values.count == survivors, "cut at \(cut), zeroed tail: \(zeroTail)")
                #expect(values == expected, "cut at \(cut), zeroed tail: \(zeroTail)")
                if survivors < count && !(zeroTail && cut == last.offset) && cut > last.offset {
                    #expect(log.recovery.tornTail?.offset == UInt64(last.offset), "cut at \(cut)")
                }
                // Writing continues after the cut, in a new segment, with the next LSN.
                #expect(try await log.append(LogRecord(value: [7])) == LSN(survivors + 1))
                try log.close()
                let (again, after) = try Self.reopenValues(copy.logPath)
                #expect(after.count == survivors + 1 && after.last == [7], "cut at \(cut)")
                #expect(Array(after.dropLast()) == expected)
                #expect(again.recovery.tornTail == nil)
                try again.close()
            }
        }
    }

    @Test("a bit flip in any byte of an earlier frame of the newest segment refuses to open")
    func bitFlipInEarlierFrame() async throws {
        let original = try await Self.makeLog(records: 10)
        let newest = try #require(try dataSegments(original.logPath).last)
        let all = try frames(inSegment: newest).filter { !$0.isSeal }
        let victim = all[all.count - 3]
        let name = (newest as NSString).lastPathComponent
        for byte in victim.offset..<(victim.offset + victim.diskSize) {
            let copy = copyOfDirectory(original.logPath)
            try mutateFile(segmentsDirectory(copy.logPath) + "/" + name) { $0[byte] ^= 0x10 }
            do {
                let log = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
                try log.close()
                Issue.record("opened despite a flipped bit at offset \(byte)")
            } catch {
                #expect(error.kind == .corrupt, "byte \(byte): \(error)")
                #expect(error.path?.hasSuffix(name) == true)
                #expect(error.offset == UInt64(victim.offset), "byte \(byte): \(error)")
            }
        }
    }

    @Test("a bit flip in a sealed segment refuses to open, naming segment and offset")
    func bitFlipInSealedSegment() async throws {
        let original = try await Self.makeLog(records: 1500)
        let segments = try dataSegments(original.logPath)
        #expect(segments.count >= 2)
        let sealed = segments[0]
        let name = (sealed as NSString).lastPathComponent
        let sealedFrames = try frames(inSegment: sealed)
        #expect(sealedFrames.last?.isSeal == true)
        // A data frame in the middle, the last data frame, the seal frame, and the segment header.
        let targets = [sealedFrames[sealedFrames.count / 2], sealedFrames[sealedFrames.count - 2], sealedFrames.last!]
        for frame in targets {
            for byte in [frame.offset, frame.offset + 9, frame.offset + frame.diskSize - 1] {
                let copy = copyOfDirectory(original.logPath)
                try mutateFile(segmentsDirectory(copy.logPath) + "/" + name) { $0[byte] ^= 0x01 }
                do {
                    _ = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
                    Issue.record("opened despite a flipped bit at \(name) offset \(byte)")
                } catch {
                    #expect(error.kind == .corrupt, "\(error)")
                    #expect(error.path?.hasSuffix(name) == true, "\(error)")
                    #expect(error.offset == UInt64(frame.offset), "byte \(byte): \(error)")
                }
            }
        }
        let copy = copyOfDirectory(original.logPath)
        try mutateFile(segmentsDirectory(copy.logPath) + "/" + name) { $0[20] ^= 0x01 }
        #expect(throws: LogError.self) { try CommitLog.open(directory: copy.logPath, configuration: smallSegments()) }
    }

    @Test("a missing middle segment is corruption")
    func missingSegment() async throws {
        let original = try await Self.makeLog(records: 3000)
        let segments = try dataSegments(original.logPath)
        #expect(segments.count >= 3)
        let copy = copyOfDirectory(original.logPath)
        try FileManager.default.removeItem(atPath: segmentsDirectory(copy.logPath) + "/" + (segments[1] as NSString).lastPathComponent)
        do {
            _ = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
            Issue.record("opened with a segment missing")
        } catch {
            #expect(error.kind == .corrupt)
        }
    }

    @Test("open removes only its own unfinished segment files")
    func leftoverTemporaryFiles() async throws {
        let original = try await Self.makeLog(records: 5)
        let ours = segmentsDirectory(original.logPath) + "/seg-00000000000000aa-00000000000000ff.log.tmp"
        let theirs = segmentsDirectory(original.logPath) + "/seg-my-notes.log.tmp"
        #expect(FileManager.default.createFile(atPath: ours, contents: Data([1, 2, 3])))
        #expect(FileManager.default.createFile(atPath: theirs, contents: Data([4, 5, 6])))
        let log = try CommitLog.open(directory: original.logPath, configuration: smallSegments())
        #expect(try log.readAll().count == 5)
        try log.close()
        #expect(!FileManager.default.fileExists(atPath: ours), "a leftover of an interrupted preparation stays")
        #expect(FileManager.default.fileExists(atPath: theirs), "a file that is not the engine's was deleted")
    }

    @Test("an empty directory and a log of only prepared segments open empty")
    func emptyLogs() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        try log.close()
        let again = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        #expect(again.recovery.lastLSN == 0)
        #expect(again.recovery.removedUnusedSegments >= 1)
        #expect(try again.readAll().isEmpty)
        try again.close()
    }
}
