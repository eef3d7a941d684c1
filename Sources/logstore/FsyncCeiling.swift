import Foundation

/// The best rate of durable writes the disk gives one writer: 4 KiB `pwrite`s, each
/// followed by `fdatasync`, overwriting blocks of a file that was already written and
/// synced (so no sync has to update the file's size or allocation).
///
/// A group-commit log with one appender cannot beat this; with many appenders it beats it
/// by sharing one sync among many appends, and `ops/s ÷ ceiling` says by how much.
struct FsyncCeiling: Sendable {
    /// Bytes per durable write: one page, the smallest write a log append causes.
    static let blockSize = 4 << 10
    /// Size of the file whose blocks are overwritten: written and fsynced before timing,
    /// large enough that the writer cycles through many blocks, small enough to prepare fast.
    static let fileSize = 8 << 20
    /// Bytes per `pwrite` while preparing the file.
    static let fillChunk = 1 << 20
    /// Seconds to measure for unless `--ceiling-seconds` says otherwise.
    static let defaultSeconds = 2.0
    /// Name of the scratch file in the benchmark directory; removed afterwards.
    static let fileName = "fsync-ceiling.dat"

    /// Durable writes completed in the timed loop.
    let writes: UInt64
    /// Seconds the timed loop ran.
    let seconds: Double

    /// Durable writes per second.
    var writesPerSecond: Double { seconds > 0 ? Double(writes) / seconds : 0 }

    /// Measures the ceiling in `directory` on a thread of its own (the loop blocks in
    /// `fdatasync`), for about `seconds` seconds.
    ///
    /// - Throws: ``BenchError`` naming the failed system call and file.
    static func measure(in directory: String, seconds: Double) async throws(BenchError) -> FsyncCeiling {
        let path = directory + "/" + fileName
        return try await DedicatedThread.run(name: "fsync-ceiling") { () throws(BenchError) -> FsyncCeiling in
            try measureBlocking(path: path, duration: .seconds(seconds))
        }
    }

    /// The blocking measurement: prepares `path`, times the overwrite loop, removes the file.
    private static func measureBlocking(path: String, duration: Duration) throws(BenchError) -> FsyncCeiling {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BenchError("open", path: path, errno: errno) }
        var result: Result<FsyncCeiling, BenchError>
        do {
            try prepare(fd: fd, path: path)
            result = .success(try overwriteLoop(fd: fd, path: path, duration: duration))
        } catch {
            result = .failure(error)
        }
        // Close and unlink even after a failure; report the first error.
        if close(fd) != 0, case .success = result { result = .failure(BenchError("close", path: path, errno: errno)) }
        if unlink(path) != 0, case .success = result { result = .failure(BenchError("unlink", path: path, errno: errno)) }
        return try result.get()
    }

    /// Writes the whole file and fsyncs it (data and metadata), so that later overwrites
    /// need only `fdatasync` of data.
    private static func prepare(fd: Int32, path: String) throws(BenchError) {
        let chunk = [UInt8](repeating: 0xA5, count: fillChunk)
        var offset = 0
        while offset < fileSize {
            try writeFully(fd: fd, path: path, bytes: chunk, at: offset)
            offset += chunk.count
        }
        guard fsync(fd) == 0 else { throw BenchError("fsync", path: path, errno: errno) }
    }

    /// Overwrites the file's blocks in order, wrapping around, each `pwrite` followed by
    /// `fdatasync`, until `duration` has passed.
    private static func overwriteLoop(fd: Int32, path: String, duration: Duration) throws(BenchError) -> FsyncCeiling {
        var block = [UInt8](repeating: 0x5A, count: blockSize)
        let blocks = UInt64(fileSize / blockSize)
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + duration
        var writes: UInt64 = 0
        while clock.now < deadline {
            // Stamp the block so every write carries new data.
            block.withUnsafeMutableBytes { $0.storeBytes(of: writes.littleEndian, as: UInt64.self) }
            try writeFully(fd: fd, path: path, bytes: block, at: Int((writes % blocks)) * blockSize)
            guard fdatasync(fd) == 0 else { throw BenchError("fdatasync", path: path, errno: errno) }
            writes += 1
        }
        return FsyncCeiling(writes: writes, seconds: start.duration(to: clock.now).seconds)
    }
}
