import Foundation
import Testing

@testable import LogStore

/// A fresh directory under the system temp dir, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ label: String = "logstore-test") {
        let base = FileManager.default.temporaryDirectory.path
        let dir = "\(base)/\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        path = dir
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The log directory inside it.
    var logPath: String { path + "/log" }
}

/// A small configuration so tests rotate segments quickly.
func smallSegments(_ backend: LogConfiguration.Backend = .automatic, segmentSize: UInt64 = 64 * 1024)
    -> LogConfiguration
{
    var c = LogConfiguration()
    c.segmentSize = segmentSize
    c.backend = backend
    return c
}

/// Both durable-write backends, for tests that must pass on each.
let bothBackends: [LogConfiguration.Backend] = [.ioUring, .pwritev]

/// The value a test writes for (writer, sequence): recognisable and checkable after recovery.
func testValue(writer: Int, seq: Int, size: Int = 40) -> [UInt8] {
    var bytes = Array("w\(writer)-s\(seq)-".utf8)
    while bytes.count < size { bytes.append(UInt8(truncatingIfNeeded: bytes.count &* 31 &+ seq)) }
    return bytes
}

/// The directory holding the segment files of the store rooted at `root`.
func segmentsDirectory(_ root: String) -> String { root + "/segments" }

/// Appends values of `valueSize` bytes from test writer `writer`, one at a time (one commit
/// each), until the log has sealed `rotations` segments; returns them in order.
func appendUntilRotations(_ log: CommitLog, _ rotations: UInt64, writer: Int = 0, valueSize: Int = 40) async throws -> [[UInt8]] {
    var values: [[UInt8]] = []
    while log.statistics.rotations < rotations {
        let value = testValue(writer: writer, seq: values.count, size: valueSize)
        _ = try await log.append(LogRecord(value: value))
        values.append(value)
    }
    return values
}

/// Reopens the log at `path` with `configuration` and checks that it holds exactly `values`.
func expectLogHolds(_ path: String, _ configuration: LogConfiguration, _ values: [[UInt8]]) throws {
    let reopened = try CommitLog.open(directory: path, configuration: configuration)
    #expect(try reopened.readAll().map(\.record.value) == values)
    try reopened.close()
}

/// Whether the file system under `dir` opens files with `O_DIRECT` (tmpfs does not).
func fileSystemTakesDirectIO(_ dir: String) -> Bool {
    // O_DIRECT is a GNU extension the Glibc module leaves out (Linux's values).
    #if arch(arm64)
    let oDirect: Int32 = 0o200000
    #else
    let oDirect: Int32 = 0o40000
    #endif
    let path = dir + "/direct-control"
    let fd = open(path, O_RDWR | O_CREAT | oDirect, 0o644)
    defer { unlink(path) }
    guard fd >= 0 else { return false }
    close(fd)
    return true
}

/// The files under `dir` that this process has open (from /proc/self/fd), e.g. none after a log
/// there is closed. Other tests' files, running meanwhile, are elsewhere.
func openDescriptors(under dir: String) -> [String] {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
        .filter { $0.hasPrefix(dir + "/") }
}

/// Segment files of a store, sorted by sequence.
func segmentFiles(_ root: String) -> [String] {
    let dir = segmentsDirectory(root)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return names.filter { $0.hasPrefix("seg-") && $0.hasSuffix(".log") }.sorted {
        // Sort by the sequence part (after the second '-').
        $0.split(separator: "-")[2] < $1.split(separator: "-")[2]
    }.map { dir + "/" + $0 }
}
