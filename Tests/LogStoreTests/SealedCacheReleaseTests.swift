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

    /// Appends 40-byte values one at a time until the log has sealed `rotations` segments.
    static func fill(_ log: CommitLog, rotations: UInt64) async throws -> [[UInt8]] {
        var values: [[UInt8]] = []
        while log.statistics.rotations < rotations {
            let value = testValue(writer: 0, seq: values.count)
            _ = try await log.append(LogRecord(value: value))
            values.append(value)
        }
        return values
    }

    /// Reopens the log and checks that it holds exactly `values`.
    static func expectIntact(_ path: String, _ values: [[UInt8]]) throws {
        let reopened = try CommitLog.open(directory: path, configuration: smallSegments(.pwritev, segmentSize: segmentSize))
        #expect(try reopened.readAll().map(\.record.value) == values)
        try reopened.close()
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

    @Test("with no budget every sealed segment is released, its pages leave the cache and its data stays")
    func releaseEverySealedSegment() async throws {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev, segmentSize: Self.segmentSize)
        configuration.sealedSegmentCacheBytes = 0
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        let values = try await Self.fill(log, rotations: 4)
        try log.close()
        let statistics = log.statistics
        #expect(statistics.cacheReleases == statistics.rotations, "\(statistics)")
        #expect(statistics.cacheReleaseFailures == 0)
        // The sealed segments come first; after them the active one and the one prepared next.
        let files = segmentFiles(dir.logPath)
        #expect(files.count >= Int(statistics.rotations) + 1, "\(files)")
        if try Self.releasesPages(in: dir.path) {
            for sealed in files.prefix(Int(statistics.rotations)) {
                #expect(try Self.residentPages(sealed) == 0, "\(sealed) is still cached")
            }
        }
        try Self.expectIntact(dir.logPath, values)
    }

    @Test("a budget of two segments keeps the newest two and releases the rest, oldest first")
    func budgetKeepsTheNewest() async throws {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev, segmentSize: Self.segmentSize)
        configuration.sealedSegmentCacheBytes = 2 * Self.segmentSize
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        let values = try await Self.fill(log, rotations: 6)
        try log.close()
        let statistics = log.statistics
        // Each sealed segment is nearly full (more than a third of the budget), so two fit and three do not.
        #expect(statistics.cacheReleases == statistics.rotations - 2, "\(statistics)")
        let files = segmentFiles(dir.logPath)
        if try Self.releasesPages(in: dir.path) {
            for released in files.prefix(Int(statistics.cacheReleases)) {
                #expect(try Self.residentPages(released) == 0, "\(released) is still cached")
            }
        }
        try Self.expectIntact(dir.logPath, values)
    }

    @Test("without a budget (nil) nothing is released")
    func keepEverything() async throws {
        let dir = TemporaryDirectory()
        var configuration = smallSegments(.pwritev, segmentSize: Self.segmentSize)
        configuration.sealedSegmentCacheBytes = nil
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        let values = try await Self.fill(log, rotations: 3)
        try log.close()
        #expect(log.statistics.cacheReleases == 0)
        #expect(log.statistics.cacheReleaseFailures == 0)
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
        let values = try await Self.fill(faulty.log, rotations: 3)
        #expect(faulty.log.failure == nil)
        try faulty.log.close()
        ls_io_destroy(faulty.io)
        let statistics = faulty.log.statistics
        #expect(statistics.cacheReleaseFailures == statistics.rotations, "\(statistics)")
        #expect(statistics.cacheReleases == 0)
        try Self.expectIntact(dir.logPath, values)
    }
}
