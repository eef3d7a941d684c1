/// Why a key-value ``Store`` call failed: what was wrong and what to do about it.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: Sendable, Equatable {
        /// A namespace name is empty, too long or holds characters other than
        /// `A-Z a-z 0-9 . _ -` (fix the name).
        case invalidNamespace
        /// A key is empty (keys need at least one byte).
        case invalidKey
        /// A key is longer than ``StoreConfiguration/maxKeySize``.
        case keyTooLarge
        /// A value is longer than ``StoreConfiguration/maxValueSize``.
        case valueTooLarge
        /// Some other argument or configuration value is out of range (the message says which).
        case invalidArgument
        /// A compare-and-swap or batch condition did not hold: ``StoreError/expected`` and
        /// ``StoreError/actual`` say why. Nothing was written; read and retry.
        case versionMismatch
        /// A segment or record failed its checksum (``StoreError/path`` and
        /// ``StoreError/offset`` name where): restore from a replica or open in a salvage mode.
        case corrupt
        /// A system call failed (``StoreError/errno`` says which error).
        case io
        /// The disk is full: this write was not made. Free space and retry.
        case noSpace
        /// The write or sync of this write failed: it may or may not be on disk. The store is
        /// failed (fail-stop); reopen it, preferably from a new process, and read to find out.
        case outcomeUnknown
        /// The store failed earlier (``Store/failure`` says why) and accepts no writes; reopen it.
        case failed
        /// A batch is larger than one commit can hold (raise the segment size or split it).
        case tooLarge
        /// The store is closed.
        case closed
        /// Another process (or another open store in this one) holds the store directory.
        case busy
        /// Memory ran out.
        case outOfMemory
        /// zstd failed to compress or decompress.
        case compression
        /// Raft: the entries asked for were discarded by prefix truncation or a snapshot
        /// (ask from ``RaftLog/firstIndex(_:)`` on, or send the snapshot instead).
        case compacted
        /// Raft: the entries asked for are past the last one (``RaftLog/lastIndex(_:)`` + 1).
        case unavailable
        /// Raft: the snapshot is not newer than the group's current snapshot; nothing changed.
        case snapshotOutOfDate
        /// Raft: appended entries are not consecutive, or would leave a gap after the last
        /// entry (the message gives the indexes); nothing was written.
        case outOfOrder
        /// A read-only open (``StoreConfiguration/readOnly``) found no store at the path.
        case notFound
        /// The store was opened read-only (``StoreConfiguration/readOnly``): writes are refused
        /// and nothing was written.
        case readOnly
    }

    /// What kind of failure this is.
    public let kind: Kind
    /// A sentence saying what went wrong.
    public let message: String
    /// The file concerned, when there is one.
    public let path: String?
    /// The byte offset in ``path`` where the problem is, when known.
    public let offset: UInt64?
    /// The `errno` of the failed system call, when there is one.
    public let errno: Int32?
    /// For ``Kind/versionMismatch``: the version the caller expected.
    public let expected: Version?
    /// For ``Kind/versionMismatch``: the key's version when the condition was checked
    /// (``Version/absent`` when the key did not exist).
    public let actual: Version?

    /// Creates an error. Used by the library; public so callers can build expected values in tests.
    public init(
        kind: Kind, message: String, path: String? = nil, offset: UInt64? = nil, errno: Int32? = nil,
        expected: Version? = nil, actual: Version? = nil
    ) {
        self.kind = kind
        self.message = message
        self.path = path
        self.offset = offset
        self.errno = errno
        self.expected = expected
        self.actual = actual
    }

    /// The message, with the path, offset and errno when present.
    public var description: String {
        var text = message
        if let path { text += " [\(path)\(offset.map { " at offset \($0)" } ?? "")]" }
        if let errno { text += " (errno \(errno))" }
        return text
    }

    /// The store-level view of a log error: same kind, message and location.
    /// The refusal of a write to a store opened read-only (``StoreConfiguration/readOnly``).
    static func openedReadOnly(_ path: String) -> StoreError {
        StoreError(kind: .readOnly, message: "the store was opened read-only; nothing was written", path: path)
    }

    init(_ error: LogError) {
        let kind: Kind =
            switch error.kind {
            case .invalidArgument: .invalidArgument
            case .io: .io
            case .noSpace: .noSpace
            case .corrupt: .corrupt
            case .outcomeUnknown: .outcomeUnknown
            case .failed: .failed
            case .tooLarge: .tooLarge
            case .closed: .closed
            case .outOfMemory: .outOfMemory
            case .compression: .compression
            case .busy: .busy
            case .notFound: .notFound
            case .readOnly: .readOnly
            }
        self.init(kind: kind, message: error.message, path: error.path, offset: error.offset, errno: error.errno)
    }
}
