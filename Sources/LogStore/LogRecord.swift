/// A log sequence number: the position of a record in the log, starting at 1, dense and
/// increasing in commit order.
public typealias LSN = UInt64

/// One record as appended: an upper-layer type and flags, a key and a value.
public struct LogRecord: Sendable, Hashable {
    /// The record's type, owned by the upper layer (key-value, Raft...): 1...254
    /// (0 and 255 are reserved by the format).
    public var type: UInt8
    /// Flags owned by the upper layer.
    public var flags: UInt8
    /// Up to 65,535 bytes.
    public var key: [UInt8]
    /// The payload; an append must fit in one frame of a segment.
    public var value: [UInt8]

    /// Creates a record. `type` must be in 1...254.
    public init(type: UInt8 = 1, flags: UInt8 = 0, key: [UInt8] = [], value: [UInt8]) {
        self.type = type
        self.flags = flags
        self.key = key
        self.value = value
    }
}

/// A record read back from the log, with its LSN.
public struct LoggedRecord: Sendable, Hashable {
    /// Where the record is in the log.
    public let lsn: LSN
    /// The record's content, checksum-verified.
    public let record: LogRecord
}

/// Counters of the writer since the log was opened.
public struct LogStatistics: Sendable, Equatable {
    /// Appends made durable.
    public var appends: UInt64
    /// Records in them.
    public var records: UInt64
    /// Group commits: each is one durable write.
    public var batches: UInt64
    /// Frames written.
    public var frames: UInt64
    /// Frame bytes written, padding included.
    public var bytesWritten: UInt64
    /// `fdatasync` calls or DSYNC writes on the data path (batches plus segment seals).
    public var syncs: UInt64
    /// The largest number of appends in one group commit.
    public var maxBatch: UInt64
    /// Segments sealed by rotation.
    public var rotations: UInt64
    /// Rotations that had to wait for the next segment to be prepared.
    public var rotationWaits: UInt64
    /// Batches for which the writer waited for appends it expected.
    public var lingerWaits: UInt64
    /// Nanoseconds spent inside durable writes (write plus `fdatasync`).
    public var syncNanoseconds: UInt64
    /// Nanoseconds the writer spent gathering batches while it expected several appends.
    public var gatherNanoseconds: UInt64
    /// Batches completed on the completer thread while the writer went on to the next write
    /// (``LogConfiguration/Pipelining``).
    public var pipelinedBatches: UInt64
    /// Times the idle writer polled for the next append before sleeping
    /// (``LogConfiguration/writerSpinMicroseconds``).
    public var idleSpins: UInt64
    /// Segments only preallocated, not zero-filled, because commits were large
    /// (``LogConfiguration/prewriteSegments``).
    public var zeroFillSkips: UInt64 = 0
    /// Segments zero-filled with direct I/O (`O_DIRECT`), past the page cache. Where the file
    /// system refuses direct I/O (tmpfs), or with ``LogConfiguration/directZeroFill`` `false`,
    /// they are zero-filled through the cache instead.
    public var directZeroFills: UInt64 = 0
    /// Durable writes (commits and seals) made with direct I/O (``LogConfiguration/directWrites``).
    /// The others went through the page cache: with `directWrites` `false`, where the file system
    /// refuses direct I/O (tmpfs), or where the segment size is not a multiple of the page size.
    public var directWrites: UInt64 = 0
    /// Sealed segments whose cached pages were released (``LogConfiguration/sealedSegmentCacheBytes``).
    public var cacheReleases: UInt64 = 0
    /// Releases that failed: the segment could not be opened or the kernel refused the advice.
    /// The data is untouched and the pages stay cached.
    public var cacheReleaseFailures: UInt64 = 0
    /// The highest durable LSN.
    public var durableLSN: LSN
    /// The backend in use: "io_uring" or "pwritev".
    public var backend: String

    /// Mean appends per group commit.
    public var meanBatch: Double { batches == 0 ? 0 : Double(appends) / Double(batches) }
    /// Mean microseconds per durable write (write plus `fdatasync`).
    public var meanSyncMicroseconds: Double { syncs == 0 ? 0 : Double(syncNanoseconds) / Double(syncs) / 1000 }
}
