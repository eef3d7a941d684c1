/// How the Raft log of a store keeps and persists its groups' entries.
public struct RaftConfiguration: Sendable, Equatable {
    /// When an append returns, and where entries live.
    public var persistence: RaftPersistence = .diskFirst
    /// DiskFirst: bytes of entry payloads kept in memory for reads, shared by all groups
    /// (default 64 MiB; 0 turns the cache off, so every read goes to the segment files). Appends
    /// are written through, each as one unit, and the oldest units go first when it is full.
    public var entryCacheBytes = 64 << 20
    /// DiskFirst: on a cache miss, how many following entries of the group are read and cached
    /// with the one asked for (default 32), bounded by ``prefetchBytes``.
    public var prefetchEntries = 32
    /// DiskFirst: the most payload bytes one prefetch reads (default 1 MiB).
    public var prefetchBytes = 1 << 20
    /// MemFirst: once this many bytes of entries are appended but not yet durable, appends wait
    /// (backpressure; default 64 MiB).
    public var maxUnflushedBytes = 64 << 20
    /// After a snapshot at index i is saved, discard the entries before `i + 1 - n`, keeping the
    /// last `n` entries it covers for slow followers; `nil` (the default) keeps every entry
    /// until ``RaftLog/truncatePrefix(_:upTo:)``.
    public var keepEntriesAfterSnapshot: Int? = nil
    /// The largest payload of one entry, in bytes; `nil` (the default) means 16 MiB or, for
    /// small segments, the most one frame holds. An append must also fit in one frame.
    public var maxEntrySize: Int? = nil

    /// The defaults: DiskFirst with a 64 MiB entry cache.
    public init() {}
}

/// When ``RaftLog/append(_:_:hardState:)`` returns.
public enum RaftPersistence: Sendable, Equatable {
    /// Returns once the entries and hard state are durable (written and `fdatasync`ed). Open
    /// loads only each group's index of entries; reads go through a byte-bounded entry cache.
    case diskFirst
    /// Returns once the entries are readable, before they are durable; they are written as the
    /// flush policy says. ``RaftLog/durableIndex(_:)`` and ``RaftLog/waitUntilDurable(_:through:)``
    /// report durability, and only durable entries are ever reported there. Open loads every
    /// retained entry into memory.
    case memFirst(RaftFlushPolicy)
}

/// When MemFirst appends are handed to the log's group-commit writer.
public enum RaftFlushPolicy: Sendable, Equatable {
    /// At once: each append is queued for the next group commit as it returns.
    case immediate
    /// Appends gather in memory until `threshold` bytes are waiting or `interval` passed since the
    /// oldest waiting one, then go to the log as one write.
    case batch(threshold: Int, interval: Duration)
}

extension RaftConfiguration {
    /// The default bound on a payload when ``maxEntrySize`` is nil.
    static let defaultMaxEntrySize = 16 << 20

    /// The largest payload one entry record can carry in a frame of `frameCapacity` bytes.
    static func largestEntry(frameCapacity: Int) -> Int { frameCapacity - RaftRecord.entryKeySize - 12 }

    /// ``maxEntrySize``, or its default for frames of `frameCapacity` bytes.
    func effectiveMaxEntrySize(frameCapacity: Int) -> Int {
        maxEntrySize ?? min(Self.defaultMaxEntrySize, Self.largestEntry(frameCapacity: frameCapacity))
    }

    /// Checks every bound; `frameCapacity` is the most record bytes one frame can hold.
    func validate(frameCapacity: Int) throws(StoreError) {
        func refuse(_ message: String) -> StoreError { StoreError(kind: .invalidArgument, message: "raft: " + message) }
        guard entryCacheBytes >= 0 else { throw refuse("entryCacheBytes cannot be negative (0 turns the cache off)") }
        guard prefetchEntries >= 0, prefetchBytes >= 0 else { throw refuse("prefetchEntries and prefetchBytes cannot be negative") }
        guard maxUnflushedBytes >= 1 else { throw refuse("maxUnflushedBytes must be at least 1, not \(maxUnflushedBytes)") }
        if let keep = keepEntriesAfterSnapshot, keep < 0 {
            throw refuse("keepEntriesAfterSnapshot cannot be negative, not \(keep)")
        }
        if let maxEntrySize {
            guard maxEntrySize >= 0, maxEntrySize <= Self.largestEntry(frameCapacity: frameCapacity) else {
                throw refuse("maxEntrySize \(maxEntrySize) does not fit one frame (at most \(frameCapacity) bytes): raise segmentSize or lower it")
            }
        }
        if case .memFirst(.batch(let threshold, let interval)) = persistence {
            guard threshold >= 1 else { throw refuse("the batch flush threshold must be at least 1 byte, not \(threshold)") }
            guard interval > .zero else { throw refuse("the batch flush interval must be positive, not \(interval)") }
        }
    }
}
