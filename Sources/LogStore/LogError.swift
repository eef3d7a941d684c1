import CLogStore
#if canImport(Glibc)
import Glibc
#endif

/// An error from the log, with the context needed to act on it: what kind of failure,
/// the `errno` of the failed system call, the file and the byte offset involved.
public struct LogError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is; each says what to do next.
    public enum Kind: Sendable, Equatable {
        /// A bad argument or configuration. Nothing was written.
        case invalidArgument
        /// A system call failed (see ``LogError/errno``).
        case io
        /// The disk is full and the append was **not** written. The log stays usable.
        case noSpace
        /// Damaged data that is not a torn tail: the log refuses to open.
        /// ``LogError/path`` and ``LogError/offset`` name the segment and the offset.
        case corrupt
        /// The write or `fdatasync` of this append failed: it may or may not be on disk.
        /// The log has stopped (fail-stop) and must be reopened; recovery then tells.
        case outcomeUnknown
        /// The log failed earlier and accepts no more appends; reopen it.
        case failed
        /// A key, value or append exceeds a size limit.
        case tooLarge
        /// The log is closed.
        case closed
        /// Memory allocation failed.
        case outOfMemory
        /// zstd could not compress or decompress.
        case compression
        /// The directory is already open by another log, in this or another process.
        case busy
        /// A read-only open (``LogConfiguration/readOnly``) found no store at the directory.
        case notFound
        /// The log was opened read-only (``LogConfiguration/readOnly``): nothing is written.
        case readOnly
    }

    /// What kind of failure this is.
    public let kind: Kind
    /// The `errno` of the failed system call, if one failed.
    public let errno: Int32?
    /// The file or directory involved, if any.
    public let path: String?
    /// The byte offset in ``path`` where the problem is, if known.
    public let offset: UInt64?
    /// A sentence describing the failure.
    public let message: String

    /// Creates an error. Used by the library; public so callers can build expected values in tests.
    public init(kind: Kind, errno: Int32? = nil, path: String? = nil, offset: UInt64? = nil, message: String) {
        self.kind = kind
        self.errno = errno
        self.path = path
        self.offset = offset
        self.message = message
    }

    /// The error, its location and the system error text in one line.
    public var description: String {
        var text = "\(kind): \(message)"
        if let path { text += " [\(path)" + (offset.map { " @ \($0)" } ?? "") + "]" }
        if let errno { text += " (errno \(errno): \(String(cString: strerror(errno))))" }
        return text
    }
}

extension LogError.Kind {
    init(status: Int32) {
        switch status {
        case LS_E_INVALID.rawValue: self = .invalidArgument
        case LS_E_NOSPACE.rawValue: self = .noSpace
        case LS_E_CORRUPT.rawValue: self = .corrupt
        case LS_E_UNKNOWN_OUTCOME.rawValue: self = .outcomeUnknown
        case LS_E_FAILED.rawValue: self = .failed
        case LS_E_TOO_LARGE.rawValue: self = .tooLarge
        case LS_E_CLOSED.rawValue: self = .closed
        case LS_E_NOMEM.rawValue: self = .outOfMemory
        case LS_E_COMPRESS.rawValue: self = .compression
        case LS_E_BUSY.rawValue: self = .busy
        case LS_E_NOT_FOUND.rawValue: self = .notFound
        case LS_E_READ_ONLY.rawValue: self = .readOnly
        default: self = .io
        }
    }
}

extension LogError {
    /// Lifts a C `ls_error` into a Swift error.
    init(_ error: ls_error) {
        var copy = error
        let path = withUnsafeBytes(of: &copy.path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let message = withUnsafeBytes(of: &copy.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        self.init(
            kind: Kind(status: error.code),
            errno: error.sys_errno != 0 ? error.sys_errno : nil,
            path: path.isEmpty ? nil : path,
            offset: error.has_offset != 0 ? error.offset : nil,
            message: message)
    }

    /// What a failed completion's status means for the append, from the status and errno alone
    /// (``init(completion:directory:)`` adds what failed, when the writer said).
    init(status: Int32, errno: Int32, path: String) {
        let kind = Kind(status: status)
        let message: String
        switch kind {
        case .outcomeUnknown:
            message = "outcome unknown: the durable write of this append failed, so it may or may not be on disk. The log stopped (fail-stop): reopen it to find out"
        case .failed:
            message = "the log stopped after an earlier write failed (outcome unknown); this append was not written. Reopen the log"
        case .noSpace:
            message = "no space for a new segment; this append was not written"
        default:
            message = String(cString: ls_status_name(status))
        }
        self.init(kind: kind, errno: errno != 0 ? errno : nil, path: path, message: message)
    }
}
