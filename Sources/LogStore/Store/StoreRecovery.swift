import CLogStore

/// What opening a store found and did.
public struct StoreRecoveryReport: Sendable {
    /// What the log's recovery found and did (segments, torn tail, dropped ranges...).
    public let log: RecoveryReport
    /// Key-value records replayed.
    public let recordsReplayed: UInt64
    /// Live keys after replay.
    public let keys: Int
    /// Namespaces that hold keys or held them.
    public let namespaces: Int
    /// Records of other types (Raft records, replayed by the Raft log) seen.
    public let otherRecords: UInt64
    /// Nanoseconds spent replaying the log into the index.
    public let replayNanoseconds: UInt64
}

/// Rebuilds the key index by replaying the log from its first record: each put sets its
/// key's entry, each delete (tombstone) removes it, so deleted keys stay deleted.
enum StoreRecovery {
    /// Raft records go to `raft` (the one pass over the log rebuilds both).
    static func rebuild(log: CommitLog, index: StoreIndex, namespaces: NamespaceTable, raft: RaftRecovery) throws(StoreError) -> StoreRecoveryReport {
        let start = ContinuousClock.now
        var replayed: UInt64 = 0
        var other: UInt64 = 0
        let reader: CommitLogReader
        do { reader = try log.makeReader(from: 1) } catch { throw StoreError(error) }
        var failure: StoreError?
        var lastNamespace = LastNamespace()
        index.update { index in
            var applyFailure: StoreError?
            do throws(LogError) {
                while try reader.nextRaw({ (record) throws(LogError) in
                    do throws(StoreError) {
                        try apply(
                            record, to: &index, namespaces: namespaces, raft: raft, last: &lastNamespace, replayed: &replayed,
                            other: &other)
                    } catch {
                        applyFailure = error
                        throw LogError(kind: .corrupt, message: error.message)  // stops the reader
                    }
                }) {}
            } catch {
                failure = applyFailure ?? StoreError(error)
            }
        }
        if let failure { throw failure }
        let elapsed = ContinuousClock.now - start
        let nanos = UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000)
        return StoreRecoveryReport(
            log: log.recovery, recordsReplayed: replayed, keys: index.count, namespaces: namespaces.all.count,
            otherRecords: other, replayNanoseconds: nanos)
    }

    private static func apply(
        _ record: borrowing ls_read_record, to index: inout KeyIndex, namespaces: NamespaceTable, raft: RaftRecovery,
        last: inout LastNamespace, replayed: inout UInt64, other: inout UInt64
    ) throws(StoreError) {
        guard let type = RecordType(rawValue: record.type) else {
            other += 1
            return
        }
        if type.isRaft {
            other += 1
            try raft.apply(record)
            return
        }
        replayed += 1
        let keyBytes = UnsafeBufferPointer(start: record.key, count: Int(record.key_len))
        let id: UInt16
        let key: UnsafeBufferPointer<UInt8>
        if let (cachedID, rest) = last.match(keyBytes) {
            (id, key) = (cachedID, rest)
        } else {
            let (namespace, rest) = try KVRecord.decodeKey(keyBytes, lsn: record.lsn)
            id = try namespaces.id(namespace)
            key = rest
            last = LastNamespace(bytes: namespace.bytes, id: id)
        }
        switch type {
        case .kvPut:
            let location = RecordLocation(
                segment: record.location.segment_seq, offset: record.location.offset, item: record.location.item)
            let entry = IndexEntry(version: record.lsn, location: location, valueLength: record.value_len)
            index.upsert(namespace: id, key: UnsafeRawBufferPointer(key), entry: entry)
        case .kvDelete:
            index.remove(namespace: id, key: UnsafeRawBufferPointer(key))
        case .raftEntry, .raftHardState, .raftTruncatePrefix, .raftTruncateSuffix, .raftSnapshot, .raftRemoveGroup:
            break  // handled above
        }
    }
}

/// The namespace of the previous record: records of one namespace usually come in runs, and
/// recognising the name by comparing bytes skips validating and hashing it again.
struct LastNamespace {
    var bytes: [UInt8] = []
    var id: UInt16 = 0

    /// The id and the user key if `recordKey` starts with this namespace's prefix.
    func match(_ recordKey: UnsafeBufferPointer<UInt8>) -> (UInt16, UnsafeBufferPointer<UInt8>)? {
        guard !bytes.isEmpty, let length = recordKey.first, Int(length) == bytes.count, recordKey.count > bytes.count
        else { return nil }
        let same = bytes.withUnsafeBytes { memcmp($0.baseAddress!, recordKey.baseAddress! + 1, bytes.count) == 0 }
        return same ? (id, UnsafeBufferPointer(rebasing: recordKey[(1 + bytes.count)...])) : nil
    }
}

/// Counters of a store.
public struct StoreStatistics: Sendable {
    /// Live keys.
    public let keys: Int
    /// Namespaces that hold keys or held them since open.
    public let namespaces: Int
    /// Heap bytes of the key index.
    public let indexBytes: Int
    /// The log's counters (appends, group commits, syncs...).
    public let log: LogStatistics
    /// The value cache's counters (``StoreConfiguration/cacheBytes``): lookups, hits,
    /// insertions, evictions, bytes held.
    public let cache: CacheStatistics
}
