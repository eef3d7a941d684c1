import Foundation

/// Writes all of `bytes` to `fd`, at `offset` (`pwrite`) or at the file's position (`write`,
/// for files opened `O_APPEND`), retrying after EINTR and short writes.
///
/// - Throws: ``BenchError`` naming the failed call and `path`.
func writeFully(fd: Int32, path: String, bytes: [UInt8], at offset: Int? = nil) throws(BenchError) {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { buffer in
            let start = buffer.baseAddress! + done, count = buffer.count - done
            return offset.map { pwrite(fd, start, count, off_t($0 + done)) } ?? write(fd, start, count)
        }
        if n < 0 {
            if errno == EINTR { continue }
            throw BenchError(offset == nil ? "write" : "pwrite", path: path, errno: errno)
        }
        done += n
    }
}
