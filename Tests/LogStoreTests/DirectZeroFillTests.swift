import Foundation
import Testing

@testable import CLogStore
@testable import LogStore

/// The preparer zero-fills new segments with direct I/O where the file system takes it and through
/// the page cache where it does not (C `zero_fill` in ls_segment.c, docs/FORMAT.md §6.1).
@Suite("Direct zero-fill")
struct DirectZeroFillTests {
    static let segmentSize: UInt64 = 256 * 1024

    // A GNU extension the Glibc module leaves out (Linux's value).
    static let seekHole: Int32 = 4

    /// Appends 100-byte values one at a time until the log has sealed `rotations` segments.
    static func fill(_ log: CommitLog, rotations: UInt64) async throws -> [[UInt8]] {
        try await appendUntilRotations(log, rotations, writer: 1, valueSize: 100)
    }

    /// Reopens the log and checks that it holds exactly `values`.
    static func expectIntact(_ path: String, _ values: [[UInt8]]) throws {
        try expectLogHolds(path, smallSegments(.pwritev, segmentSize: segmentSize), values)
    }

    /// A log over the fault layer whose opens with `O_DIRECT` fail with `directOpenError`.
    static func faultyLog(_ dir: TemporaryDirectory, seed: UInt64, directOpenError: Int32) throws -> FaultyLog {
        try FaultyLog(directory: dir.logPath, backend: .pwritev, seed: seed, configuration: smallSegments(.pwritev, segmentSize: segmentSize)) {
            ls_faultio_set_direct_open_error($0, directOpenError)
        }
    }

    /// Whether `lseek(SEEK_HOLE)` under `dir` tells preallocated, never-written blocks from written
    /// ones (ext4 reports the former as a hole): a control file only preallocated.
    static func reportsUnwrittenAsHole(_ dir: String) -> Bool {
        let path = dir + "/hole-control"
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        defer {
            close(fd)
            unlink(path)
        }
        return fd >= 0 && posix_fallocate(fd, 0, 1 << 20) == 0 && lseek(fd, 0, seekHole) == 0
    }

    /// Checks that every segment the preparer zero-filled (all but the first, which open only
    /// preallocates) has every block written, where the file system can tell.
    static func expectZeroFilledSegmentsWritten(_ dir: TemporaryDirectory) {
        guard reportsUnwrittenAsHole(dir.path) else { return }
        let files = segmentFiles(dir.logPath)
        #expect(files.count >= 3, "\(files)")
        for path in files.dropFirst() {
            let fd = open(path, O_RDONLY)
            #expect(fd >= 0, "cannot open \(path)")
            defer { close(fd) }
            let size = lseek(fd, 0, SEEK_END)
            #expect(lseek(fd, 0, Self.seekHole) == size, "\(path) has unwritten blocks: it was not zero-filled")
        }
    }

    @Test("new segments are zero-filled with direct I/O where the file system takes it, and the data reads back")
    func directWhereSupported() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments(.pwritev, segmentSize: Self.segmentSize))
        let values = try await Self.fill(log, rotations: 4)
        try log.close()
        let statistics = log.statistics
        #expect(statistics.zeroFillSkips == 0, "\(statistics)")
        if fileSystemTakesDirectIO(dir.path) {
            // Every segment the writer rotated into was zero-filled first; the next one may have
            // been cut short by the close.
            #expect(statistics.directZeroFills >= statistics.rotations, "\(statistics)")
            #expect(statistics.directZeroFills <= statistics.rotations + 1, "\(statistics)")
        } else {
            #expect(statistics.directZeroFills == 0, "\(statistics)")
        }
        Self.expectZeroFilledSegmentsWritten(dir)
        try Self.expectIntact(dir.logPath, values)
    }

    @Test("where the file system refuses direct I/O (EINVAL), segments are zero-filled through the page cache")
    func cachedWhereRefused() async throws {
        let dir = TemporaryDirectory()
        let faulty = try Self.faultyLog(dir, seed: 11, directOpenError: EINVAL)
        let values = try await Self.fill(faulty.log, rotations: 4)
        #expect(faulty.log.failure == nil)
        try faulty.log.close()
        ls_io_destroy(faulty.io)
        #expect(faulty.log.statistics.directWrites == 0, "the writer's opens with O_DIRECT are refused too")
        try Self.expectZeroFilledThroughCache(faulty.log.statistics, dir, values)
    }

    @Test("with directZeroFill off, segments are zero-filled through the page cache")
    func cachedWhenTurnedOff() async throws {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev, segmentSize: Self.segmentSize)
        configuration.directZeroFill = false
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        let values = try await Self.fill(log, rotations: 4)
        try log.close()
        try Self.expectZeroFilledThroughCache(log.statistics, dir, values)
    }

    /// Checks a closed log whose segments were all zero-filled through the page cache.
    static func expectZeroFilledThroughCache(_ statistics: LogStatistics, _ dir: TemporaryDirectory, _ values: [[UInt8]]) throws {
        #expect(statistics.directZeroFills == 0, "\(statistics)")
        #expect(statistics.zeroFillSkips == 0, "\(statistics)")
        #expect(statistics.rotations >= 4, "\(statistics)")
        expectZeroFilledSegmentsWritten(dir)
        try expectIntact(dir.logPath, values)
    }

    @Test("any other failure to open for direct I/O fails the preparation: the append fails, unwritten, and the log goes on")
    func directOpenFailureFailsThePreparation() async throws {
        let dir = TemporaryDirectory()
        let faulty = try Self.faultyLog(dir, seed: 13, directOpenError: 0)
        ls_faultio_set_direct_open_error(faulty.faults, EIO)
        let (acks, failure) = await appendUntilFirstFailure(faulty)
        #expect(failure?.kind == .io, "\(String(describing: failure))")
        #expect(failure?.errno == EIO)
        #expect(failure?.message.contains("O_DIRECT") == true, "\(String(describing: failure))")
        #expect(faulty.log.failure == nil, "a failed preparation is not fail-stop")
        // Direct I/O works again: the preparation is retried and the next append gets the next LSN.
        try await expectLogGoesOn(faulty, dir, acks: acks) { ls_faultio_set_direct_open_error($0, 0) }
    }
}
