/// How a key-value ``Store`` is laid out, commits and bounds its input.
public struct StoreConfiguration: Sendable, Equatable {
    /// The log underneath: segment size, commit caps, I/O backend, compression, recovery mode.
    public var log = LogConfiguration()
    /// The longest key, in bytes (1...65,000; default 1,024). Longer keys are refused with
    /// ``StoreError/Kind/keyTooLarge``.
    public var maxKeySize = 1024
    /// The longest value, in bytes (default 16 MiB; with the key it must fit in one frame
    /// of a segment). Longer values are refused with ``StoreError/Kind/valueTooLarge``.
    public var maxValueSize = 16 << 20
    /// Bytes of values ``Store/get(_:in:)`` keeps in memory, least recently used evicted first
    /// (default 64 MiB; 0 turns the cache off). Only values read out of zstd containers
    /// (``LogConfiguration/compressionThreshold``) are cached, since such a read expands the
    /// whole container; plain records are read from the OS page cache as fast as from this
    /// one. So without compression the cache stays empty and costs nothing. Each entry is
    /// charged its value's length plus about 130 bytes of bookkeeping.
    /// ``StoreStatistics/cache`` counts hits, misses and evictions.
    public var cacheBytes = 64 << 20

    /// How the Raft log storage (``Store/raft``) keeps and persists entries.
    public var raft = RaftConfiguration()

    /// The defaults.
    public init() {}

    /// Bytes per segment file (see ``LogConfiguration/segmentSize``).
    public var segmentSize: UInt64 {
        get { log.segmentSize }
        set { log.segmentSize = newValue }
    }

    /// Which kernel interface makes writes durable (see ``LogConfiguration/backend``).
    public var backend: LogConfiguration.Backend {
        get { log.backend }
        set { log.backend = newValue }
    }

    /// Open an existing store without writing anything (see ``LogConfiguration/readOnly``):
    /// reads work as usual; `put`, `delete`, compare-and-swap, batches and every Raft write
    /// throw ``StoreError/Kind/readOnly``.
    public var readOnly: Bool {
        get { log.readOnly }
        set { log.readOnly = newValue }
    }

    /// What open does with damage that is not a torn tail (see ``LogConfiguration/recoveryMode``).
    public var recoveryMode: LogConfiguration.RecoveryMode {
        get { log.recoveryMode }
        set { log.recoveryMode = newValue }
    }

    /// The most record bytes one frame of a segment holds: the segment minus its header, the
    /// seal frame and the frame header.
    static func frameCapacity(segmentSize: UInt64) -> Int { Int(clamping: segmentSize) - 64 - 56 - 40 }

    /// Checks the bounds against each other and against what one frame can hold.
    func validate() throws(StoreError) {
        guard (1...65_000).contains(maxKeySize) else {
            throw StoreError(kind: .invalidArgument, message: "maxKeySize must be in 1...65000, not \(maxKeySize)")
        }
        guard maxValueSize >= 0 else {
            throw StoreError(kind: .invalidArgument, message: "maxValueSize cannot be negative")
        }
        guard cacheBytes >= 0 else {
            throw StoreError(kind: .invalidArgument, message: "cacheBytes cannot be negative (0 turns the cache off)")
        }
        let frameCapacity = Self.frameCapacity(segmentSize: log.segmentSize)
        let largestRecord = 12 + 1 + Namespace.maxLength + maxKeySize + maxValueSize
        guard largestRecord <= frameCapacity else {
            throw StoreError(
                kind: .invalidArgument,
                message: "maxValueSize \(maxValueSize) with maxKeySize \(maxKeySize) does not fit one frame of a "
                    + "\(log.segmentSize)-byte segment (at most \(frameCapacity) bytes): raise segmentSize or lower them")
        }
        try raft.validate(frameCapacity: frameCapacity)
    }
}
