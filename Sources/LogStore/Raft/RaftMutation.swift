/// One change a Raft write makes to a group, applied to the in-memory state when the write is
/// durable (DiskFirst) or accepted (MemFirst); recovery applies the same changes from records.
enum RaftMutation: Sendable {
    /// Entries (consecutive indexes) replacing the log from the first one's index on.
    case entries([RaftEntry])
    case hardState(RaftHardState)
    /// Entries before `firstIndex` are discarded; `previousTerm` is the term of `firstIndex - 1`.
    case truncatePrefix(firstIndex: UInt64, previousTerm: UInt64)
    /// Entries after `lastIndex` are discarded.
    case truncateSuffix(lastIndex: UInt64)
    case snapshot(RaftSnapshotMarker)
    case removeGroup

    /// Writes this change's records to `batch`.
    func encode(_ group: RaftGroupID, into batch: inout RaftRecordBatch.Writer) {
        switch self {
        case .entries(let entries):
            for entry in entries { batch.addEntry(group, entry) }
        case .hardState(let state):
            batch.add(RaftRecord.hardStateRecord(group, state))
        case .truncatePrefix(let firstIndex, let previousTerm):
            batch.add(RaftRecord.truncatePrefixRecord(group, firstIndex: firstIndex, previousTerm: previousTerm))
        case .truncateSuffix(let lastIndex):
            batch.add(RaftRecord.truncateSuffixRecord(group, lastIndex: lastIndex))
        case .snapshot(let marker):
            batch.add(RaftRecord.snapshotRecord(group, marker))
        case .removeGroup:
            batch.add(RaftRecord.removeGroupRecord(group))
        }
    }

    /// Key and value bytes this change's records take in a ``RaftRecordBatch``: exact for
    /// entries, an upper bound for the small control records (a reservation, not a promise).
    var encodedPayloadBytes: Int {
        if case .entries(let entries) = self {
            return entries.reduce(0) { $0 + RaftRecord.entryKeySize + $1.payload.count }
        }
        return Self.controlRecordBytesBound
    }

    /// More than the key and value of any control record (hard state, truncations, snapshot
    /// marker, group removal: a few 64-bit words each).
    static let controlRecordBytesBound = 128

    /// Records this change writes.
    var recordCount: Int {
        if case .entries(let entries) = self { return entries.count }
        return 1
    }

    /// Whether this change removes the group.
    var isRemoveGroup: Bool {
        if case .removeGroup = self { true } else { false }
    }

    /// Whether this change may discard entries without appending (compaction, a suffix
    /// truncation, a snapshot that replaces the log); the entry cache then drops them too.
    var discardsEntries: Bool {
        switch self {
        case .truncatePrefix, .truncateSuffix, .snapshot: true
        case .entries, .hardState, .removeGroup: false
        }
    }

    /// The lowest entry index this change replaces or removes, or `.max` for none (for the
    /// MemFirst durable watermark). A snapshot counts as changing its own index: when it
    /// replaces the log, the term of that index (the new boundary) comes from it, and the
    /// watermark must not cover it before its marker is durable.
    var firstChangedIndex: UInt64 {
        switch self {
        case .entries(let entries): entries.first?.index ?? .max
        case .truncateSuffix(let lastIndex): lastIndex + 1
        case .snapshot(let marker): marker.index
        case .hardState, .truncatePrefix, .removeGroup: .max
        }
    }
}

extension RaftGroupState {
    /// Applies `mutations`. `locations[i]` is where the i-th record of the write landed (nil
    /// for MemFirst, whose entries keep their payloads in memory instead).
    mutating func apply(_ mutations: [RaftMutation], locations: ArraySlice<RecordLocation>?, keepPayloads: Bool) {
        var record = locations?.startIndex ?? 0
        for mutation in mutations {
            switch mutation {
            case .entries(let entries):
                for entry in entries {
                    let meta = RaftEntryMeta(
                        term: entry.term, location: locations?[record], payloadLength: UInt32(entry.payload.count),
                        payload: keepPayloads ? entry.payload : nil)
                    // Validated against this state before the write was queued.
                    try! appendEntry(index: entry.index, meta: meta)
                    record += 1
                }
                continue
            case .hardState(let state): hardState = state
            case .truncatePrefix(let first, let term): truncatePrefix(to: first, previousTerm: term)
            case .truncateSuffix(let last): truncate(after: last)
            case .snapshot(let marker): applySnapshot(marker)
            case .removeGroup: self = RaftGroupState()
            }
            record += 1
        }
    }
}
