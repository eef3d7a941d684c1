import Foundation

/// A failure of the benchmark's own file work (not of the log): the operation, the path
/// and the `errno` or underlying error.
struct BenchError: Error, Sendable, CustomStringConvertible {
    /// What was being done, e.g. "fdatasync".
    let operation: String
    /// The file or directory involved.
    let path: String
    /// The `errno` of the failed system call, if one failed.
    let errno: Int32?
    /// More detail, when there is no `errno`.
    let detail: String?

    init(_ operation: String, path: String, errno: Int32? = nil, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    /// An error from Foundation's file work, keeping its `errno` when it wraps one.
    init(_ operation: String, path: String, error: any Error) {
        if let posix = (error as? CocoaError)?.underlying as? POSIXError {
            self.init(operation, path: path, errno: posix.code.rawValue)
        } else {
            self.init(operation, path: path, detail: error.localizedDescription)
        }
    }

    /// The operation, path and system error text in one line.
    var description: String {
        var text = "\(operation) failed [\(path)]"
        if let errno { text += " (errno \(errno): \(String(cString: strerror(errno))))" }
        if let detail { text += ": \(detail)" }
        return text
    }
}
