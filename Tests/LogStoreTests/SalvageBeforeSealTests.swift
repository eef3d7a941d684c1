import Foundation
import Testing

@testable import LogStore

/// Found by the `scan` fuzz target (docs/TESTING.md, "Fuzzing"; reproducer in
/// Fuzz/Crashes/scan/): damage in the last data frame of an older segment, right before its
/// seal. The scanner walked over the damaged range to the seal but kept the last LSN of the
/// frame before the damage, so salvage refused the store ("the manifest sealed it with last
/// LSN ...") after recording its skip range, and every strict open refused it from then on.
@Suite("Salvage before a seal")
struct SalvageBeforeSealTests {
    @Test("salvage of the last data frame before an older segment's seal keeps the seal's LSNs; strict opens accept it")
    func lastFrameBeforeSeal() async throws {
        let original = try await RecoveryModeTests.makeLog()
        let first = try dataSegments(original.logPath)[0]
        let dataFrames = try frames(inSegment: first).filter { !$0.isSeal }
        let (copy, path, frame, lsn) = try RecoveryModeTests.damaged(original, segment: 0, frame: dataFrames.count - 1)
        let log = try CommitLog.open(directory: copy.logPath, configuration: RecoveryModeTests.config(.salvage))
        let report = try #require(log.recovery.dropped)
        #expect(report.ranges == 1)
        #expect(report.firstLSN == lsn)
        #expect(report.firstDamagePath == path)
        #expect(report.firstDamageOffset == UInt64(frame.offset))
        var expected = RecoveryModeTests.values()
        expected.remove(at: Int(lsn - 1))
        #expect(try log.readAll().map(\.record.value) == expected, "every frame but the damaged one is kept")
        #expect(try await log.append(LogRecord(value: [1])) == LSN(RecoveryModeTests.count + 1))
        try log.close()
        let strict = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
        #expect(strict.recovery.dropped == nil)
        #expect(try strict.readAll().map(\.record.value) == expected + [[1]])
        try strict.close()
    }
}
