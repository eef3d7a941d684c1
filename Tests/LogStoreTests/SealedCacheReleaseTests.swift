import Foundation
import Testing

@testable import CLogStore
@testable import LogStore

/// The preparer releases the page cache of sealed segments past
/// ``LogConfiguration/sealedSegmentCacheBytes`` (C `ls_sealed_cache.c`, docs/FORMAT.md §6.4):
/// the oldest first, never a byte of data, and a failed release only counts.
@Suite("Sealed segment cache release")
struct SealedCacheReleaseTests {
    static let segmentSize: UInt64 = 64 * 1024

    /// Reopens the log and checks that it holds exactly `values`.
    static func expectIntact(_ path: String, _ values: [[UInt8]]) throws {
        try expectLogHolds(path, smallSegments(.pwritev, segmentSize: segmentSize), values)
    }

    /// How many of the file's pages are in the page cache (mincore of a mapping that touches none).
    static func residentPages(_ path: String) throws -> Int {
        let fd = open(path, O_RDONLY)
        #expect(fd >= 0, "cannot open \(path)")
        defer { close(fd) }
        let size = Int(lseek(fd, 0, SEEK_END))
        let map = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0).flatMap { $0 == MAP_FAILED ? nil : $0 })
        defer { munmap(map, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var vector = [UInt8](repeating: 0, count: (size + page - 1) / page)
        #expect(mincore(map, size, &vector) == 0)
        return vector.filter { $0 & 1 != 0 }.count
    }

    /// Whether the file system under `dir` drops released clean pages at all (tmpfs, whose pages
    /// are the files themselves, does not): a control file written, synced and released.
    static func releasesPages(in dir: String) throws -> Bool {
        let path = dir + "/release-control"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        let bytes = [UInt8](repeating: 7, count: 64 * 1024)
        #expect(pwrite(fd, bytes, bytes.count, 0) == bytes.count)
        #expect(fsync(fd) == 0)
        #expect(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0)
        close(fd)
        defer { unlink(path) }
        return try residentPages(path) == 0
    }

    /// Opens a log with `budget`, fills it until `rotations` segments are sealed and closes it.
    static func writeAndClose(budget: UInt64?, rotations: UInt64) async throws
        -> (dir: TemporaryDirectory, statistics: LogStatistics, values: [[UInt8]])
    {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev, segmentSize: segmentSize)
        configuration.sealedSegmentCacheBytes = budget
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        let values = try await appendUntilRotations(log, rotations)
        try log.close()
        #expect(log.statistics.cacheReleaseFailures == 0)
        return (dir, log.statistics, values)
    }

    /// Checks that the oldest `count` segment files have no page cached, where the file system
    /// drops released pages at all. Sealed segments come first; after them the active one and the
    /// one prepared next.
    static func expectOldestReleased(_ count: UInt64, in dir: TemporaryDirectory) throws {
        let files = segmentFiles(dir.logPath)
        #expect(files.count > Int(count), "\(files)")
        guard try releasesPages(in: dir.path) else { return }
        for released in files.prefix(Int(count)) {
            #expect(try residentPages(released) == 0, "\(released) is still cached")
        }
    }

    @Test("with no budget every sealed segment is released, its pages leave the cache and its data stays")
    func releaseEverySealedSegment() async throws {
        let (dir, statistics, values) = try await Self.writeAndClose(budget: 0, rotations: 4)
        #expect(statistics.cacheReleases == statistics.rotations, "\(statistics)")
        try Self.expectOldestReleased(statistics.rotations, in: dir)
        try Self.expectIntact(dir.logPath, values)
    }

    @Test("a budget of two segments keeps the newest two and releases the rest, oldest first")
    func budgetKeepsTheNewest() async throws {
        let (dir, statistics, values) = try await Self.writeAndClose(budget: 2 * Self.segmentSize, rotations: 6)
        // Each sealed segment is nearly full (more than a third of the budget), so two fit and three do not.
        #expect(statistics.cacheReleases == statistics.rotations - 2, "\(statistics)")
        try Self.expectOldestReleased(statistics.cacheReleases, in: dir)
        try Self.expectIntact(dir.logPath, values)
    }

    @Test("without a budget (nil) nothing is released")
    func keepEverything() async throws {
        let (dir, statistics, values) = try await Self.writeAndClose(budget: nil, rotations: 3)
        #expect(statistics.cacheReleases == 0)
        try Self.expectIntact(dir.logPath, values)
    }

    @Test("a release the kernel refuses is counted, and the log and its data are unaffected")
    func failedReleaseIsCounted() async throws {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev, segmentSize: Self.segmentSize)
        configuration.sealedSegmentCacheBytes = 0
        let faulty = try FaultyLog(directory: dir.logPath, backend: .pwritev, seed: 3, configuration: configuration) {
            ls_faultio_set_release_cache_error($0, EIO)
        }
        let values = try await appendUntilRotations(faulty.log, 3)
        #expect(faulty.log.failure == nil)
        try faulty.log.close()
        ls_io_destroy(faulty.io)
        let statistics = faulty.log.statistics
        #expect(statistics.cacheReleaseFailures == statistics.rotations, "\(statistics)")
        #expect(statistics.cacheReleases == 0)
        try Self.expectIntact(dir.logPath, values)
    }
}
