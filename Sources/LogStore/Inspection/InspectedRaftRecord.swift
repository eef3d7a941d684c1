/// A Raft record of a store's log decoded for tools (``InspectedRecord/raftDescription``):
/// which Raft record it is, its group, and the numbers its key and value hold, per the
/// record layouts of `RecordType` (Sources/LogStore/RecordType.swift): every number is a
/// little-endian u64 except a snapshot file's CRC, a u32.
public struct InspectedRaftRecord: Sendable, Hashable, CustomStringConvertible {
    /// Which Raft record.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// An entry: key = group, index, term; value = the payload.
        case entry
        /// A hard state: value = term, vote, commit.
        case hardState = "hard_state"
        /// A prefix truncation: value = the new first index and the term of the entry before it.
        case truncatePrefix = "truncate_prefix"
        /// A suffix truncation: value = the new last index.
        case truncateSuffix = "truncate_suffix"
        /// A snapshot marker: value = index, term, file length, file CRC.
        case snapshot
        /// A group removal: empty value.
        case removeGroup = "remove_group"
    }

    /// One decoded number, e.g. `index` 7.
    public struct Field: Sendable, Hashable {
        /// Its name, snake_case: index, term, vote, commit, first_index, previous_term,
        /// last_index, file_length, file_crc.
        public let name: String
        /// Its value.
        public let value: UInt64
    }

    /// Which Raft record.
    public let kind: Kind
    /// The group the record belongs to.
    public let group: UInt64
    /// The numbers the record holds besides the group, in layout order.
    public let fields: [Field]

    /// The record type's name as tools print it: `raft_` and the kind, e.g. `raft_entry`.
    public var name: String { "raft_" + kind.rawValue }

    /// The number named `name`, if the record has it.
    public subscript(name: String) -> UInt64? { fields.first { $0.name == name }?.value }

    /// `group=<g>` and the fields, e.g. `group=7 index=12 term=3`.
    public var description: String {
        (["group=\(group)"] + fields.map { "\($0.name)=\($0.value)" }).joined(separator: " ")
    }

    /// Decodes a record of a Raft type; nil for another type or lengths that do not match the
    /// type's layout (no store writes those).
    init?(type: UInt8, key: [UInt8], value: [UInt8]) {
        guard let recordType = RecordType(rawValue: type), recordType.isRaft, key.count >= 8 else { return nil }
        func word(_ bytes: [UInt8], _ i: Int) -> UInt64 {
            bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
        }
        func words(_ names: [String]) -> [Field]? {
            guard value.count == 8 * names.count else { return nil }
            return names.enumerated().map { Field(name: $0.element, value: word(value, $0.offset)) }
        }
        let isEntry = recordType == .raftEntry
        guard key.count == (isEntry ? RaftRecord.entryKeySize : RaftRecord.groupKeySize) else { return nil }
        group = word(key, 0)
        let decoded: (Kind, [Field])?
        switch recordType {
        case .raftEntry:
            decoded = (.entry, [Field(name: "index", value: word(key, 1)), Field(name: "term", value: word(key, 2))])
        case .raftHardState:
            decoded = words(["term", "vote", "commit"]).map { (.hardState, $0) }
        case .raftTruncatePrefix:
            decoded = words(["first_index", "previous_term"]).map { (.truncatePrefix, $0) }
        case .raftTruncateSuffix:
            decoded = words(["last_index"]).map { (.truncateSuffix, $0) }
        case .raftSnapshot:
            if value.count == RaftRecord.snapshotValueSize {
                let crc = value.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 24, as: UInt32.self)) }
                decoded = (
                    .snapshot,
                    [
                        Field(name: "index", value: word(value, 0)), Field(name: "term", value: word(value, 1)),
                        Field(name: "file_length", value: word(value, 2)), Field(name: "file_crc", value: UInt64(crc)),
                    ]
                )
            } else {
                decoded = nil
            }
        case .raftRemoveGroup:
            decoded = value.isEmpty ? (.removeGroup, []) : nil
        case .kvPut, .kvDelete:
            decoded = nil
        }
        guard let (kind, fields) = decoded else { return nil }
        self.kind = kind
        self.fields = fields
    }
}

extension InspectedRecord {
    /// For a well-formed Raft record, what it says (its kind, group, index, term...); `nil`
    /// for key-value and other records. ``kind`` still reports Raft records as
    /// ``Kind/other(_:)``.
    public var raftDescription: InspectedRaftRecord? {
        InspectedRaftRecord(type: type, key: key, value: value)
    }
}
