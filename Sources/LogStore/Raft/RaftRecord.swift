import CLogStore

/// The Raft records in the log, decoded. Every Raft record's key starts with the group id
/// (u64 little-endian); the layouts are in ``RecordType`` and docs/RAFT.md §1.
enum RaftRecord {
    /// An entry (its payload is the record's value); it replaces the group's entries from
    /// `index` on.
    case entry(RaftGroupID, index: UInt64, term: UInt64)
    /// The group's hard state.
    case hardState(RaftGroupID, RaftHardState)
    /// Entries before `firstIndex` are discarded; `previousTerm` is the term of `firstIndex - 1`.
    case truncatePrefix(RaftGroupID, firstIndex: UInt64, previousTerm: UInt64)
    /// Entries after `lastIndex` are discarded.
    case truncateSuffix(RaftGroupID, lastIndex: UInt64)
    /// A snapshot was saved (its file is complete and durable).
    case snapshot(RaftGroupID, RaftSnapshotMarker)
    /// The group was removed.
    case removeGroup(RaftGroupID)

    /// Bytes of an entry record's key: group, index, term.
    static let entryKeySize = 24
    /// Bytes of the key of every other Raft record: the group.
    static let groupKeySize = 8
    /// Bytes of a hard-state value: term, vote, commit.
    static let hardStateValueSize = 24
    /// Bytes of a prefix-truncation value: first index, previous term.
    static let truncatePrefixValueSize = 16
    /// Bytes of a suffix-truncation value: last index.
    static let truncateSuffixValueSize = 8
    /// Bytes of a snapshot marker value: index, term, file length, file CRC.
    static let snapshotValueSize = 28

    /// Decodes a Raft record (the caller checked `type` is a Raft type).
    ///
    /// - Throws: ``StoreError/Kind/corrupt`` for a record whose lengths do not match its type
    ///   (its CRC matched, so a foreign or buggy writer made it, not bit rot).
    static func decode(_ record: borrowing ls_read_record) throws(StoreError) -> RaftRecord {
        let key = UnsafeRawBufferPointer(start: record.key, count: Int(record.key_len))
        let value = UnsafeRawBufferPointer(start: record.value, count: Int(record.value_len))
        func malformed() -> StoreError {
            StoreError(kind: .corrupt, message: "Raft record of type \(record.type) at LSN \(record.lsn) has malformed lengths")
        }
        guard let type = RecordType(rawValue: record.type), type.isRaft else { throw malformed() }
        if type == .raftEntry {
            guard key.count == entryKeySize else { throw malformed() }
            return .entry(RaftGroupID(key.word(0)), index: key.word(1), term: key.word(2))
        }
        guard key.count == groupKeySize else { throw malformed() }
        let group = RaftGroupID(key.word(0))
        switch type {
        case .raftHardState:
            guard value.count == hardStateValueSize else { throw malformed() }
            return .hardState(group, RaftHardState(term: value.word(0), vote: value.word(1), commit: value.word(2)))
        case .raftTruncatePrefix:
            guard value.count == truncatePrefixValueSize else { throw malformed() }
            return .truncatePrefix(group, firstIndex: value.word(0), previousTerm: value.word(1))
        case .raftTruncateSuffix:
            guard value.count == truncateSuffixValueSize else { throw malformed() }
            return .truncateSuffix(group, lastIndex: value.word(0))
        case .raftSnapshot:
            guard value.count == snapshotValueSize else { throw malformed() }
            return .snapshot(
                group,
                RaftSnapshotMarker(
                    index: value.word(0), term: value.word(1), fileLength: value.word(2),
                    fileCRC: value.loadUnaligned(fromByteOffset: 24, as: UInt32.self).littleEndian))
        case .raftRemoveGroup:
            guard value.isEmpty else { throw malformed() }
            return .removeGroup(group)
        case .kvPut, .kvDelete, .raftEntry:
            throw malformed()
        }
    }

    // MARK: encoding

    /// The key of an entry record.
    static func entryKey(_ group: RaftGroupID, index: UInt64, term: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(entryKeySize)
        out.appendWord(group.rawValue)
        out.appendWord(index)
        out.appendWord(term)
        return out
    }

    /// The key of every other Raft record.
    static func groupKey(_ group: RaftGroupID) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(groupKeySize)
        out.appendWord(group.rawValue)
        return out
    }

    /// A hard-state record.
    static func hardStateRecord(_ group: RaftGroupID, _ state: RaftHardState) -> LogRecord {
        var value: [UInt8] = []
        value.reserveCapacity(hardStateValueSize)
        value.appendWord(state.term)
        value.appendWord(state.vote)
        value.appendWord(state.commit)
        return LogRecord(type: RecordType.raftHardState.rawValue, key: groupKey(group), value: value)
    }

    /// A prefix-truncation record.
    static func truncatePrefixRecord(_ group: RaftGroupID, firstIndex: UInt64, previousTerm: UInt64) -> LogRecord {
        var value: [UInt8] = []
        value.appendWord(firstIndex)
        value.appendWord(previousTerm)
        return LogRecord(type: RecordType.raftTruncatePrefix.rawValue, key: groupKey(group), value: value)
    }

    /// A suffix-truncation record.
    static func truncateSuffixRecord(_ group: RaftGroupID, lastIndex: UInt64) -> LogRecord {
        var value: [UInt8] = []
        value.appendWord(lastIndex)
        return LogRecord(type: RecordType.raftTruncateSuffix.rawValue, key: groupKey(group), value: value)
    }

    /// A snapshot marker record.
    static func snapshotRecord(_ group: RaftGroupID, _ marker: RaftSnapshotMarker) -> LogRecord {
        var value: [UInt8] = []
        value.reserveCapacity(snapshotValueSize)
        value.appendWord(marker.index)
        value.appendWord(marker.term)
        value.appendWord(marker.fileLength)
        withUnsafeBytes(of: marker.fileCRC.littleEndian) { value += $0 }
        return LogRecord(type: RecordType.raftSnapshot.rawValue, key: groupKey(group), value: value)
    }

    /// A group-removal record.
    static func removeGroupRecord(_ group: RaftGroupID) -> LogRecord {
        LogRecord(type: RecordType.raftRemoveGroup.rawValue, key: groupKey(group), value: [])
    }

    /// Bytes an entry record takes in a frame body (records are packed back to back).
    static func encodedEntrySize(payload: Int) -> UInt64 {
        UInt64(Int(LS_RECORD_HEADER_SIZE) + entryKeySize + payload)
    }
}

/// What a snapshot marker record says: the snapshot's index and term, and the length and
/// masked CRC32C of its file's contents (so a file swapped for another is noticed).
struct RaftSnapshotMarker: Hashable, Sendable {
    var index: UInt64
    var term: UInt64
    var fileLength: UInt64
    var fileCRC: UInt32

    /// The file in `snapshots/` that holds this snapshot of `group`.
    func fileName(group: RaftGroupID) -> String { RaftSnapshotFile.name(group: group, index: index) }
}

extension UnsafeRawBufferPointer {
    /// The little-endian u64 at word `i` (byte offset 8 i).
    fileprivate func word(_ i: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` as 8 little-endian bytes.
    mutating func appendWord(_ value: UInt64) {
        Swift.withUnsafeBytes(of: value.littleEndian) { self += $0 }
    }
}
