import CLogStore

/// One record of a valid frame, as a read-only scan (``StoreInspector/scan(path:from:onRecord:)``)
/// found it, checksum-verified.
public struct InspectedRecord: Sendable, Hashable {
    /// Where a record is.
    public struct Location: Sendable, Hashable, CustomStringConvertible {
        /// The segment's sequence number.
        public let segment: UInt64
        /// File offset of the record, or of the zstd container record holding it.
        public let offset: UInt64
        /// The record's index inside its zstd container, or `nil` for a plain record.
        public let containerItem: UInt32?

        /// `seg <segment> @ <offset>` plus `#<item>` inside a container.
        public var description: String {
            "seg \(segment) @ \(offset)" + (containerItem.map { " #\($0)" } ?? "")
        }
    }

    /// What the record is to the key-value store (docs/STORE.md §1).
    public enum Kind: Sendable, Hashable {
        /// A key-value put (type 1).
        case put
        /// A key-value delete, a tombstone (type 2).
        case delete
        /// Any other type (Raft and later layers).
        case other(UInt8)

        /// "put", "delete" or "other".
        public var name: String {
            switch self {
            case .put: "put"
            case .delete: "delete"
            case .other: "other"
            }
        }
    }

    /// A key-value record's key split into its parts.
    public struct KeyValueKey: Sendable, Hashable {
        /// The namespace's name.
        public let namespace: String
        /// The user key.
        public let key: [UInt8]
    }

    /// The record's LSN.
    public let lsn: LSN
    /// The record's type byte (1...254).
    public let type: UInt8
    /// The record's flags byte.
    public let flags: UInt8
    /// The record key as stored.
    public let key: [UInt8]
    /// The value.
    public let value: [UInt8]
    /// Where the record is.
    public let location: Location
    /// Offset of the frame holding it.
    public let frameOffset: UInt64
    /// Its size uncompressed: 12 + key + value bytes.
    public let encodedSize: UInt64
    /// Bytes it takes in its frame body: ``encodedSize``, or its share of its zstd container.
    public let storedSize: UInt64

    init(_ r: ls_inspect_record) {
        lsn = r.lsn
        type = r.type
        flags = r.flags
        key = Array(UnsafeBufferPointer(start: r.key, count: Int(r.key_len)))
        value = Array(UnsafeBufferPointer(start: r.value, count: Int(r.value_len)))
        location = Location(r.location)
        frameOffset = r.frame_offset
        encodedSize = r.encoded_size
        storedSize = r.stored_size
    }

    /// What the record is to the key-value store.
    public var kind: Kind {
        switch RecordType(rawValue: type) {
        case .kvPut: .put
        case .kvDelete: .delete
        case .raftEntry, .raftHardState, .raftTruncatePrefix, .raftTruncateSuffix, .raftSnapshot, .raftRemoveGroup, nil:
            .other(type)
        }
    }

    /// For a put or delete, its namespace and user key; `nil` for other types or a key no
    /// store could have written.
    public var keyValueKey: KeyValueKey? {
        if case .other = kind { return nil }
        return key.withUnsafeBufferPointer { (buffer) -> KeyValueKey? in
            guard let (namespace, user) = try? KVRecord.decodeKey(buffer, lsn: lsn) else { return nil }
            return KeyValueKey(namespace: namespace.name, key: Array(user))
        }
    }
}

extension InspectedRecord.Location {
    init(_ l: ls_location) {
        segment = l.segment_seq
        offset = l.offset
        containerItem = l.item == LS_LOCATION_PLAIN ? nil : l.item
    }
}
