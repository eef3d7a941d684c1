import CLogStore

/// Rebuilds every Raft group from the log's Raft records, in LSN order, during the store's one
/// replay pass. DiskFirst keeps only each entry's term and location; MemFirst also copies the
/// payloads (open loads the retained entries into memory).
///
/// **Records that cannot follow** (docs/RAFT.md §6, FORMAT.md §7.5): an entry whose index is
/// outside `firstIndex ... lastIndex + 1` of its group, or a suffix truncation below
/// `firstIndex - 1`. In ``LogConfiguration/RecoveryMode/salvage`` mode such a record *cuts* its
/// group: the group keeps what it holds, the record is dropped, and so is every later record
/// of the group that still cannot follow (or is a suffix truncation past the kept entries,
/// which refers to lost entries), until a record re-bases the group (an entry at most one past
/// its last index, a suffix truncation at most at it, or the group's removal). Hard states,
/// prefix truncations and snapshot markers always apply. Each cut group is reported
/// (``RaftGroupCut``). In the other modes the same happens only after skipped damage (an LSN
/// gap in the replay: a skip range that an earlier salvage recorded in the manifest), so a
/// store that salvage opened opens strictly afterwards too; before any such gap a record that
/// cannot follow is ``StoreError/Kind/corrupt``, naming its segment file and offset.
final class RaftRecovery {
    /// Whether payloads are copied into memory (MemFirst).
    let keepPayloads: Bool
    /// The groups as rebuilt so far.
    private(set) var states: [RaftGroupID: RaftGroupState] = [:]
    /// Raft records replayed (applied or dropped).
    private(set) var records: UInt64 = 0
    /// Whether any record that cannot follow cuts its group (salvage), rather than only those
    /// after skipped damage.
    private var cutAlways = false
    /// Segment file paths by sequence, for naming where a record is.
    private var segmentPaths: [UInt64: String] = [:]
    /// The LSN of the first record after the first LSN gap of the replay, if there was one.
    private(set) var firstLSNAfterSkippedDamage: LSN?
    /// The groups cut so far. Empty unless damage was skipped or the mode is salvage.
    private var cuts: [RaftGroupID: Cut] = [:]

    /// A group's cut, as it is being recorded.
    private struct Cut {
        var lastIndexKept: UInt64
        var firstDroppedIndex: UInt64?
        var firstDroppedLSN: LSN
        var firstDroppedPath: String
        var firstDroppedOffset: UInt64
        var droppedRecords: UInt64
        var followsSkippedDamage: Bool
        /// True while the group's state lacks records a later one of its records relies on:
        /// from the first drop until a record re-bases the group.
        var open: Bool
    }

    init(keepPayloads: Bool) { self.keepPayloads = keepPayloads }

    /// Sets what the replay needs beyond the records: the recovery mode (salvage cuts any
    /// group that cannot follow) and the segment files, to name where a bad record is.
    func configure(mode: LogConfiguration.RecoveryMode, segments: [SegmentInfo]) {
        cutAlways = mode == .salvage
        segmentPaths = Dictionary(segments.map { ($0.sequence, $0.path) }, uniquingKeysWith: { a, _ in a })
    }

    /// Notes that the replay's LSNs jumped before the record with `lsn`: damage was skipped
    /// there (now or by an earlier salvage).
    func noteSkippedDamage(before lsn: LSN) {
        if firstLSNAfterSkippedDamage == nil { firstLSNAfterSkippedDamage = lsn }
    }

    /// Applies one Raft record.
    ///
    /// - Throws: ``StoreError/Kind/corrupt`` (naming the segment file and offset) for a
    ///   malformed record, or for one that cannot follow what came before when the mode and
    ///   the replay so far do not allow cutting its group (see the type's comment).
    func apply(_ record: borrowing ls_read_record) throws(StoreError) {
        records += 1
        let decoded: RaftRecord
        do { decoded = try RaftRecord.decode(record) } catch { throw corrupt(record, error.message) }
        switch decoded {
        case .entry(let group, let index, let term):
            let payload = keepPayloads ? Array(UnsafeBufferPointer(start: record.value, count: Int(record.value_len))) : nil
            let location = RecordLocation(
                segment: record.location.segment_seq, offset: record.location.offset, item: record.location.item)
            let meta = RaftEntryMeta(term: term, location: location, payloadLength: record.value_len, payload: payload)
            do throws(StoreError) {
                try states[group, default: RaftGroupState()].appendEntry(index: index, meta: meta)
            } catch {
                if states[group]?.isEmpty == true { states[group] = nil }  // the default the failed append left
                try drop(record, group: group, entryIndex: index, detail: error.message)
                return
            }
            if !cuts.isEmpty { rebase(group) }
        case .hardState(let group, let hardState):
            states[group, default: RaftGroupState()].hardState = hardState
        case .truncatePrefix(let group, let firstIndex, let previousTerm):
            states[group, default: RaftGroupState()].truncatePrefix(to: firstIndex, previousTerm: previousTerm)
        case .truncateSuffix(let group, let lastIndex):
            var state = states[group] ?? RaftGroupState()
            guard lastIndex >= state.firstIndex - 1 else {
                try drop(
                    record, group: group, entryIndex: nil,
                    detail: "suffix truncation after \(lastIndex) is below the first index \(state.firstIndex)")
                return
            }
            if !cuts.isEmpty, cuts[group]?.open == true {
                // Past the kept entries it refers to entries that were lost: dropped. At or
                // below the last kept entry it re-bases the group.
                if lastIndex > state.lastIndex {
                    try drop(record, group: group, entryIndex: nil, detail: "")
                    return
                }
                cuts[group]?.open = false
            }
            state.truncate(after: lastIndex)
            states[group] = state
        case .snapshot(let group, let marker):
            states[group, default: RaftGroupState()].applySnapshot(marker)
        case .removeGroup(let group):
            states[group] = nil
            if !cuts.isEmpty { cuts[group]?.open = false }
        }
    }

    /// After an entry applied: it re-bases its group if the group was cut (an entry at most
    /// one past the last index replaces everything from its index on, as it did when written).
    private func rebase(_ group: RaftGroupID) {
        if cuts[group]?.open == true { cuts[group]?.open = false }
    }

    /// Drops `record` of `group`, which cannot follow (`detail` says why), recording the cut;
    /// or throws ``StoreError/Kind/corrupt`` when the group may not be cut here.
    private func drop(_ record: borrowing ls_read_record, group: RaftGroupID, entryIndex: UInt64?, detail: String) throws(StoreError) {
        if var cut = cuts[group] {
            cut.droppedRecords += 1
            if cut.firstDroppedIndex == nil { cut.firstDroppedIndex = entryIndex }
            cut.open = true
            cuts[group] = cut
            return
        }
        // LSNs only grow, so a gap noted so far came before this record.
        let afterDamage = firstLSNAfterSkippedDamage != nil
        guard cutAlways || afterDamage else {
            throw corrupt(record, "group \(group): \(detail)")
        }
        cuts[group] = Cut(
            lastIndexKept: states[group]?.lastIndex ?? 0, firstDroppedIndex: entryIndex, firstDroppedLSN: record.lsn,
            firstDroppedPath: path(of: record.location.segment_seq), firstDroppedOffset: record.location.offset,
            droppedRecords: 1, followsSkippedDamage: afterDamage, open: true)
    }

    /// The file of segment `sequence` (its number when the path is unknown).
    private func path(of sequence: UInt64) -> String { segmentPaths[sequence] ?? "segment \(sequence)" }

    /// A corruption error at `record`'s place: segment file, byte offset (of the record, or of
    /// the zstd container holding it) and LSN.
    private func corrupt(_ record: borrowing ls_read_record, _ detail: String) -> StoreError {
        let sequence = record.location.segment_seq
        let offset = record.location.offset
        let item = record.location.item == RecordLocation.plain ? "" : " (item \(record.location.item) of the zstd container there)"
        return StoreError(
            kind: .corrupt,
            message: "corrupt segment \(sequence) (\(path(of: sequence))) at offset \(offset)\(item): Raft record at LSN \(record.lsn): \(detail)",
            path: path(of: sequence), offset: offset)
    }

    /// The groups cut by this replay, by group id, with their state after it.
    var groupsCut: [RaftGroupCut] {
        cuts.sorted { $0.key < $1.key }.map { group, cut in
            let state = states[group] ?? RaftGroupState()
            return RaftGroupCut(
                group: group, lastIndexKept: cut.lastIndexKept, firstDroppedIndex: cut.firstDroppedIndex,
                firstDroppedLSN: cut.firstDroppedLSN, firstDroppedPath: cut.firstDroppedPath,
                firstDroppedOffset: cut.firstDroppedOffset, droppedRecords: cut.droppedRecords,
                followsSkippedDamage: cut.followsSkippedDamage, rebased: !cut.open, lastIndex: state.lastIndex,
                commit: state.hardState.commit)
        }
    }

    /// Groups whose hard state's commit index is past their last index after the replay.
    var groupsCommitPastLastIndex: [RaftGroupID] {
        states.filter { $0.value.hardState.commit > $0.value.lastIndex }.map(\.key).sorted()
    }
}
