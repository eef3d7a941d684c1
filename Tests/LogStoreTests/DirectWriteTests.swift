import Foundation
import Testing

@testable import CLogStore
@testable import LogStore

/// The writer writes commits and seals to the active segment with direct I/O where the file system
/// takes it (`write_active` in ls_writer.c, docs/FORMAT.md §6.2): each durable write starts at the
/// page that holds the end of the data and ends on a page boundary; elsewhere it goes through the
/// page cache and starts at the end of the data.
@Suite("Direct writes")
struct DirectWriteTests {
    static let segmentSize: UInt64 = 256 * 1024
    static let page = Int64(sysconf(Int32(_SC_PAGESIZE)))

    /// A log over `HeldSyncIO` (which records every durable write) with `configuration`, written
    /// with one writer until two rotations, closed. Returns the values, the writes and the statistics.
    static func writeRecorded(_ dir: TemporaryDirectory, _ configuration: LogConfiguration, valueSize: Int) async throws
        -> (values: [[UInt8]], writes: [(offset: Int64, length: Int)], statistics: LogStatistics)
    {
        let held = try HeldSyncIO(seed: 17)
        let log = try CommitLog(directory: dir.logPath, configuration: configuration, io: held.io)
        let values = try await appendUntilRotations(log, 2, writer: 2, valueSize: valueSize)
        #expect(try log.readAll().map(\.record.value) == values, "read back before the close")
        try log.close()
        held.destroy()
        let statistics = log.statistics
        #expect(held.durableWrites.count == values.count + Int(statistics.rotations), "one durable write per append and per seal")
        return (values, held.durableWrites, statistics)
    }

    @Test("commits and seals go to the disk with direct I/O where the file system takes it, and read back", arguments: bothBackends)
    func directWhereSupported(backend: LogConfiguration.Backend) async throws {
        let dir = TemporaryDirectory()
        let configuration = smallSegments(backend, segmentSize: Self.segmentSize)
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        let values = try await appendUntilRotations(log, 4, writer: 1, valueSize: 100)
        // Read through the open log: the pages the direct writes went around are read from disk.
        #expect(try log.readAll().map(\.record.value) == values)
        try log.close()
        #expect(openDescriptors(under: dir.path).isEmpty, "the closed log left descriptors open: \(openDescriptors(under: dir.path))")
        let statistics = log.statistics
        if fileSystemTakesDirectIO(dir.path) {
            #expect(statistics.directWrites == statistics.syncs, "every durable write was direct: \(statistics)")
        } else {
            #expect(statistics.directWrites == 0, "\(statistics)")
        }
        try expectLogHolds(dir.logPath, configuration, values)
    }

    @Test("every durable write ends on a page boundary or at the segment's end, and starts on one when direct",
          arguments: [1, 100, 5000])
    func writesCoverWholePages(valueSize: Int) async throws {
        let dir = TemporaryDirectory()
        let configuration = smallSegments(.pwritev, segmentSize: Self.segmentSize)
        let (values, writes, statistics) = try await Self.writeRecorded(dir, configuration, valueSize: valueSize)
        let direct = fileSystemTakesDirectIO(dir.path)
        #expect(statistics.directWrites == (direct ? statistics.syncs : 0), "\(statistics)")
        for write in writes {
            let end = write.offset + Int64(write.length)
            #expect(end % Self.page == 0 || end == Int64(Self.segmentSize), "a durable write ends at \(end)")
            if direct { #expect(write.offset % Self.page == 0, "a direct write starts at \(write.offset)") }
        }
        try expectLogHolds(dir.logPath, configuration, values)
    }

    @Test("with directWrites off, every durable write starts at the end of the data, through the page cache")
    func bufferedWhenTurnedOff() async throws {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev, segmentSize: Self.segmentSize)
        configuration.directWrites = false
        let (values, writes, statistics) = try await Self.writeRecorded(dir, configuration, valueSize: 100)
        #expect(statistics.directWrites == 0, "\(statistics)")
        #expect(writes.contains { $0.offset % Self.page != 0 }, "no write started inside a page")
        try expectLogHolds(dir.logPath, configuration, values)
    }

    @Test("a segment size that is not a multiple of the page size is written through the page cache")
    func bufferedForUnalignedSegments() async throws {
        let dir = TemporaryDirectory()
        let configuration = smallSegments(.pwritev, segmentSize: Self.segmentSize + 8)
        let (values, writes, statistics) = try await Self.writeRecorded(dir, configuration, valueSize: 100)
        #expect(statistics.directWrites == 0, "\(statistics)")
        #expect(writes.contains { $0.offset % Self.page != 0 }, "no write started inside a page")
        try expectLogHolds(dir.logPath, configuration, values)
    }

    @Test("a failure other than EINVAL to open the first segment for direct I/O fails the open, with its errno")
    func directOpenFailureFailsTheOpen() throws {
        let dir = TemporaryDirectory()
        do {
            _ = try FaultyLog(directory: dir.logPath, backend: .pwritev, seed: 19) { ls_faultio_set_direct_open_error($0, EIO) }
            Issue.record("the log opened")
        } catch let error as LogError {
            #expect(error.kind == .io, "\(error)")
            #expect(error.errno == EIO, "\(error)")
            #expect(error.message.contains("O_DIRECT"), "\(error)")
        }
        // Without the fault the store opens and holds nothing.
        try expectLogHolds(dir.logPath, smallSegments(), [])
    }
}
