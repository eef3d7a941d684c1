import Foundation

/// The peer that `bench raft` compares a single Raft writer with, measured in the same run: a
/// bare hand-made append + `fdatasync` loop, as a minimal WAL would be written. One writer
/// appends `batch` entries of `valueSize` bytes (each behind a 16-byte index and length
/// header) to a new file with one `write`, then `fdatasync`s, until the time is up. The file
/// grows as it is written (no preallocation), as a naive WAL's does.
///
/// It bounds what one writer that waits for each batch to be durable can get without the
/// engine's framing, checksums, index and group bookkeeping; the Raft issue's peers (etcd's
/// WAL, raft-boltdb) were compared with such a loop on this machine.
struct BareAppendLoop: Sendable {
    /// Name of the scratch file in the benchmark directory; removed afterwards.
    static let fileName = "bare-append-loop.dat"
    /// Bytes of the header before each entry's value (index and length, 8 bytes each).
    static let entryHeaderBytes = 16

    /// Entries made durable in the timed loop.
    let entries: UInt64
    /// Seconds the timed loop ran.
    let seconds: Double

    /// Durable entries per second.
    var entriesPerSecond: Double { seconds > 0 ? Double(entries) / seconds : 0 }

    /// Runs the loop in `directory` on a thread of its own (it blocks in `fdatasync`) for
    /// about `seconds` seconds.
    ///
    /// - Throws: ``BenchError`` naming the failed system call and file.
    static func measure(in directory: String, batch: Int, valueSize: Int, seconds: Double) async throws(BenchError)
        -> BareAppendLoop
    {
        let path = directory + "/" + fileName
        return try await DedicatedThread.run(name: "bare-append") { () throws(BenchError) -> BareAppendLoop in
            try measureBlocking(path: path, batch: batch, valueSize: valueSize, duration: .seconds(seconds))
        }
    }

    private static func measureBlocking(path: String, batch: Int, valueSize: Int, duration: Duration) throws(BenchError)
        -> BareAppendLoop
    {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BenchError("open", path: path, errno: errno) }
        var result: Result<BareAppendLoop, BenchError>
        do {
            result = .success(try appendLoop(fd: fd, path: path, batch: batch, valueSize: valueSize, duration: duration))
        } catch {
            result = .failure(error)
        }
        // Close and unlink even after a failure; report the first error.
        if close(fd) != 0, case .success = result { result = .failure(BenchError("close", path: path, errno: errno)) }
        if unlink(path) != 0, case .success = result { result = .failure(BenchError("unlink", path: path, errno: errno)) }
        return try result.get()
    }

    private static func appendLoop(fd: Int32, path: String, batch: Int, valueSize: Int, duration: Duration)
        throws(BenchError) -> BareAppendLoop
    {
        let entryBytes = entryHeaderBytes + valueSize
        var buffer = [UInt8](repeating: 0x5A, count: batch * entryBytes)
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + duration
        var index: UInt64 = 0
        while clock.now < deadline {
            buffer.withUnsafeMutableBytes { bytes in
                for i in 0..<batch {
                    index += 1
                    bytes.storeBytes(of: index.littleEndian, toByteOffset: i * entryBytes, as: UInt64.self)
                    bytes.storeBytes(of: UInt64(valueSize).littleEndian, toByteOffset: i * entryBytes + 8, as: UInt64.self)
                }
            }
            try writeFully(fd: fd, path: path, bytes: buffer)  // O_APPEND: at the end
            guard fdatasync(fd) == 0 else { throw BenchError("fdatasync", path: path, errno: errno) }
        }
        return BareAppendLoop(entries: index, seconds: start.duration(to: clock.now).seconds)
    }
}
