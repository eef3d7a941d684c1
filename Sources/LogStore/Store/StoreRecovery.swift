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
    /// Raft groups whose log recovery cut, by group id: a Raft record of the group could not
    /// follow the records before it, because damage that salvage skipped (at this open or an
    /// earlier one) held records of the group (or, in salvage mode only, for no reason the log
    /// shows). Those groups **lost entries**; a Raft node must not vote or count itself in a
    /// quorum as if it had them (see ``RaftGroupCut``, docs/RAFT.md §6.1). Empty when nothing
    /// was cut. Damage can also lose the tail of a group's log (or a hard state) without any
    /// later record showing it: after an open that skipped damage (``RecoveryReport/dropped``
    /// of ``log``, or an earlier salvage), treat every Raft group as suspect.
    public let raftGroupsCut: [RaftGroupCut]
    /// Raft groups whose newest hard state's commit index is past their last index after
    /// recovery, by group id: entries the group knew committed are missing (the hard state
    /// is reported, not changed). A Raft library never saves such a state, so outside damage
    /// this is empty.
    public let raftGroupsCommitPastLastIndex: [RaftGroupID]
}

/// Rebuilds the key index by replaying the log from its first record: each put sets its
/// key's entry, each delete (tombstone) removes it, so deleted keys stay deleted. Raft records
/// go to the Raft log's recovery in the same pass.
///
/// Records come from the log in batches, in place (their bytes are not copied). A million keys
/// make a hash table far larger than the caches, and finding a key's slot is a memory miss, so
/// the replay works in groups: it decodes up to ``lookahead`` key-value records, hashing each key
/// once and prefetching its home slot, then applies the group in LSN order, by when the slots are
/// (mostly) in the cache.
enum StoreRecovery {
    /// Records asked of the log per call.
    static let batchSize = 1024
    /// Key-value records decoded (and their slots prefetched) before the first of them is applied.
    static let lookahead = 16

    /// Raft records go to `raft` (the one pass over the log rebuilds both).
    static func rebuild(log: CommitLog, index: StoreIndex, namespaces: NamespaceTable, raft: RaftRecovery) throws(StoreError) -> StoreRecoveryReport {
        let start = ContinuousClock.now
        let reader: CommitLogReader
        do { reader = try log.makeReader(from: 1) } catch { throw StoreError(error) }
        raft.configure(mode: log.configuration.recoveryMode, segments: log.segments)
        let records = UnsafeMutableBufferPointer<ls_read_record>.allocate(capacity: batchSize)
        defer { records.deallocate() }
        let group = UnsafeMutableBufferPointer<PendingWrite>.allocate(capacity: lookahead)
        defer { group.deallocate() }
        var replay = Replay(namespaces: namespaces, raft: raft)
        let failure: StoreError? = index.update { index in
            do throws(StoreError) {
                while true {
                    let count: Int
                    do throws(LogError) { count = try reader.nextBatch(into: records) } catch { throw StoreError(error) }
                    if count == 0 { return nil }
                    try replay.apply(UnsafeBufferPointer(rebasing: records[..<count]), to: &index, group: group)
                }
            } catch {
                return error
            }
        }
        if let failure { throw failure }
        let elapsed = ContinuousClock.now - start
        let nanos = UInt64(elapsed.components.seconds) * 1_000_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000)
        return StoreRecoveryReport(
            log: log.recovery, recordsReplayed: replay.replayed, keys: index.count, namespaces: namespaces.all.count,
            otherRecords: replay.other, replayNanoseconds: nanos, raftGroupsCut: raft.groupsCut,
            raftGroupsCommitPastLastIndex: raft.groupsCommitPastLastIndex)
    }

    /// A put or delete decoded and hashed, waiting to be applied.
    struct PendingWrite {
        var namespace: UInt16
        /// The user key, in the log reader's batch (valid until its next call).
        var key: UnsafeRawBufferPointer
        var hash: KeyIndex.KeyHash
        /// The put's entry, or nil for a delete.
        var entry: IndexEntry?
    }

    /// The state of one replay: counters, the namespace and LSN of the previous record.
    struct Replay {
        let namespaces: NamespaceTable
        let raft: RaftRecovery
        var replayed: UInt64 = 0
        var other: UInt64 = 0
        var last = LastNamespace()
        /// The previous record's LSN (0 before the first). LSNs are dense except across a
        /// skip range (damage that salvage skipped, FORMAT.md §5): a jump tells the Raft
        /// recovery that records may be missing.
        var previousLSN: LSN = 0

        init(namespaces: NamespaceTable, raft: RaftRecovery) {
            self.namespaces = namespaces
            self.raft = raft
        }

        /// Applies `records` (in LSN order) to `index`, a group of key-value records at a time.
        /// Other records are handled as they are decoded: they touch no key-value state.
        mutating func apply(
            _ records: UnsafeBufferPointer<ls_read_record>, to index: inout KeyIndex,
            group: UnsafeMutableBufferPointer<PendingWrite>
        ) throws(StoreError) {
            var next = 0
            while next < records.count {
                var grouped = 0
                while next < records.count && grouped < group.count {
                    if let write = try decode(records[next], index: index) {
                        group[grouped] = write
                        grouped += 1
                    }
                    next += 1
                }
                for write in group[..<grouped] {
                    if let entry = write.entry {
                        index.upsert(namespace: write.namespace, key: write.key, hash: write.hash, entry: entry)
                    } else {
                        index.remove(namespace: write.namespace, key: write.key, hash: write.hash)
                    }
                }
            }
        }

        /// The put or delete `record` is, hashed and with its slot prefetched; nil for a record of
        /// another type (a Raft record goes to the Raft log's recovery, others are counted).
        private mutating func decode(_ record: ls_read_record, index: borrowing KeyIndex) throws(StoreError) -> PendingWrite? {
            if record.lsn != previousLSN &+ 1 { raft.noteSkippedDamage(before: record.lsn) }
            previousLSN = record.lsn
            guard let type = RecordType(rawValue: record.type) else {
                other += 1
                return nil
            }
            if type.isRaft {
                other += 1
                try raft.apply(record)
                return nil
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
            let userKey = UnsafeRawBufferPointer(key)
            let hash = index.hash(namespace: id, key: userKey)
            index.prefetch(hash)
            switch type {
            case .kvPut:
                let location = RecordLocation(
                    segment: record.location.segment_seq, offset: record.location.offset, item: record.location.item)
                let entry = IndexEntry(version: record.lsn, location: location, valueLength: record.value_len)
                return PendingWrite(namespace: id, key: userKey, hash: hash, entry: entry)
            case .kvDelete:
                return PendingWrite(namespace: id, key: userKey, hash: hash, entry: nil)
            case .raftEntry, .raftHardState, .raftTruncatePrefix, .raftTruncateSuffix, .raftSnapshot, .raftRemoveGroup:
                return nil  // handled above
            }
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
