/// An atomic multi-key write: puts, deletes and version conditions. ``Store/write(_:)``
/// checks every condition and, only if all hold, writes every put and delete as one commit
/// (one frame: after a crash all of them survive or none does).
public struct WriteBatch: Sendable {
    /// One write of the batch.
    enum Operation: Sendable {
        case put(Namespace, key: [UInt8], value: [UInt8])
        case delete(Namespace, key: [UInt8])
    }

    /// A condition: the key's version must equal `version` (``Version/absent``: must not exist).
    struct Condition: Sendable {
        let namespace: Namespace
        let key: [UInt8]
        let version: Version
    }

    private(set) var operations: [Operation] = []
    private(set) var conditions: [Condition] = []

    /// An empty batch.
    public init() {}

    /// Adds a put. Within a batch, a later write of the same key wins.
    public mutating func put(_ value: [UInt8], for key: [UInt8], in namespace: Namespace) {
        operations.append(.put(namespace, key: key, value: value))
    }

    /// Adds a delete.
    public mutating func delete(_ key: [UInt8], in namespace: Namespace) {
        operations.append(.delete(namespace, key: key))
    }

    /// Adds a condition: the batch fails with ``StoreError/Kind/versionMismatch`` unless the
    /// key's current version is `version` (``Version/absent``: unless the key does not exist).
    public mutating func require(_ key: [UInt8], in namespace: Namespace, version: Version) {
        conditions.append(Condition(namespace: namespace, key: key, version: version))
    }

    /// Number of puts and deletes.
    public var count: Int { operations.count }
}

/// One page of keys from ``Store/list(in:prefix:after:limit:)``.
public struct KeyPage: Sendable, Equatable {
    /// One listed key.
    public struct Entry: Sendable, Hashable {
        /// The key.
        public let key: [UInt8]
        /// Its current version.
        public let version: Version
        /// Its value's length in bytes.
        public let valueLength: Int
    }

    /// Keys in ascending byte order.
    public let entries: [Entry]
    /// Pass as `after` to get the next page; `nil` when this page ended the listing.
    public let resumeAfter: [UInt8]?
}
