import CLogStore

/// Rebuilds every Raft group from the log's Raft records, in LSN order, during the store's one
/// replay pass. DiskFirst keeps only each entry's term and location; MemFirst also copies the
/// payloads (open loads the retained entries into memory).
final class RaftRecovery {
    /// Whether payloads are copied into memory (MemFirst).
    let keepPayloads: Bool
    /// The groups as rebuilt so far.
    private(set) var states: [RaftGroupID: RaftGroupState] = [:]
    /// Raft records replayed.
    private(set) var records: UInt64 = 0

    init(keepPayloads: Bool) { self.keepPayloads = keepPayloads }

    /// Applies one Raft record.
    ///
    /// - Throws: ``StoreError/Kind/corrupt`` for a record that cannot follow what came before
    ///   (its CRC matched: a foreign or buggy writer).
    func apply(_ record: borrowing ls_read_record) throws(StoreError) {
        records += 1
        let decoded = try RaftRecord.decode(record)
        switch decoded {
        case .entry(let group, let index, let term):
            let payload = keepPayloads ? Array(UnsafeBufferPointer(start: record.value, count: Int(record.value_len))) : nil
            let location = RecordLocation(
                segment: record.location.segment_seq, offset: record.location.offset, item: record.location.item)
            let meta = RaftEntryMeta(term: term, location: location, payloadLength: record.value_len, payload: payload)
            do throws(StoreError) {
                try states[group, default: RaftGroupState()].appendEntry(index: index, meta: meta)
            } catch {
                throw StoreError(kind: .corrupt, message: "group \(group), LSN \(record.lsn): \(error.message)")
            }
        case .hardState(let group, let hardState):
            states[group, default: RaftGroupState()].hardState = hardState
        case .truncatePrefix(let group, let firstIndex, let previousTerm):
            states[group, default: RaftGroupState()].truncatePrefix(to: firstIndex, previousTerm: previousTerm)
        case .truncateSuffix(let group, let lastIndex):
            var state = states[group] ?? RaftGroupState()
            guard lastIndex >= state.firstIndex - 1 else {
                throw StoreError(
                    kind: .corrupt,
                    message: "group \(group), LSN \(record.lsn): suffix truncation after \(lastIndex) is below the first index \(state.firstIndex)")
            }
            state.truncate(after: lastIndex)
            states[group] = state
        case .snapshot(let group, let marker):
            states[group, default: RaftGroupState()].applySnapshot(marker)
        case .removeGroup(let group):
            states[group] = nil
        }
    }
}
