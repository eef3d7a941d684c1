/// One Raft group's log state: hard state, snapshot, and the retained entries
/// `firstIndex ... lastIndex`. The same mutations serve recovery (replaying records) and live
/// writes, so what a reopen rebuilds is what the live store showed.
struct RaftGroupState: Sendable {
    var hardState = RaftHardState()
    /// The newest snapshot's marker, if any.
    var snapshot: RaftSnapshotMarker?
    /// The index of the first retained entry (1 for a group that never discarded any).
    var firstIndex: UInt64 = 1
    /// The term of entry `firstIndex - 1` (from the snapshot or the truncation that discarded it).
    var previousTerm: UInt64 = 0
    /// The retained entries; position 0 holds entry `firstIndex`.
    var entries = RaftEntryList()
    /// Payload bytes held in memory (MemFirst).
    var memoryBytes = 0

    /// True for the state of a group that never wrote (or was removed): nothing to keep.
    var isEmpty: Bool { hardState == RaftHardState() && snapshot == nil && firstIndex == 1 && entries.isEmpty }

    /// The index of the last entry, or `firstIndex - 1` when none is retained.
    var lastIndex: UInt64 { firstIndex &+ UInt64(entries.count) &- 1 }

    /// The term of entry `index`, or nil if it is neither retained nor `firstIndex - 1`.
    func term(at index: UInt64) -> UInt64? {
        if index == firstIndex - 1 { return previousTerm }
        if index == lastIndex { return entries.lastTerm }  // retained: not firstIndex - 1
        guard index >= firstIndex, index <= lastIndex else { return nil }
        return entries[Int(index - firstIndex)].term
    }

    /// The metadata of retained entry `index` (the caller checked the range).
    func meta(at index: UInt64) -> RaftEntryMeta { entries[Int(index - firstIndex)] }

    /// Sets the location of retained entry `index` if it still holds the entry of `term`.
    mutating func setLocation(_ location: RecordLocation, index: UInt64, term: UInt64) {
        guard index >= firstIndex, index <= lastIndex else { return }
        let position = Int(index - firstIndex)
        if entries[position].term == term && entries[position].location == nil { entries[position].location = location }
    }

    // MARK: mutations

    /// Puts `meta` at `index`, discarding the entries from `index` on first (a conflicting
    /// suffix). `index` must be in `firstIndex ... lastIndex + 1`.
    mutating func appendEntry(index: UInt64, meta: RaftEntryMeta) throws(StoreError) {
        guard index >= firstIndex, index <= lastIndex &+ 1 else {
            throw StoreError(
                kind: .corrupt,
                message: "Raft entry \(index) does not follow the group's log (entries \(firstIndex)...\(lastIndex))")
        }
        if index <= lastIndex { truncate(after: index - 1) }
        memoryBytes += meta.payload?.count ?? 0
        entries.append(meta)
    }

    /// Discards the entries before `newFirst` (which may be past the last entry: all of them
    /// go); `previousTerm` becomes the term of `newFirst - 1`.
    mutating func truncatePrefix(to newFirst: UInt64, previousTerm term: UInt64) {
        guard newFirst > firstIndex else { return }
        let discard = Int(min(newFirst - firstIndex, UInt64(entries.count)))
        for position in 0..<discard { memoryBytes -= entries[position].payload?.count ?? 0 }
        if discard == entries.count { entries.removeAll() } else { entries.removeFirst(discard) }
        firstIndex = newFirst
        previousTerm = term
    }

    /// Discards the entries after `last` (`last` ≥ `firstIndex - 1`).
    mutating func truncate(after last: UInt64) {
        guard last < lastIndex else { return }
        let keep = Int(last &+ 1 &- firstIndex)
        for position in keep..<entries.count { memoryBytes -= entries[position].payload?.count ?? 0 }
        entries.keepFirst(keep)
    }

    /// Applies a saved snapshot: if the log holds the snapshot's last entry with its term, the
    /// entries stay (those after it are still valid); otherwise every entry is discarded and
    /// the log continues after the snapshot.
    mutating func applySnapshot(_ marker: RaftSnapshotMarker) {
        snapshot = marker
        if marker.index >= firstIndex, term(at: marker.index) == marker.term { return }
        if marker.index == firstIndex - 1 && previousTerm == marker.term { return }
        truncate(after: firstIndex - 1)
        firstIndex = marker.index + 1
        previousTerm = marker.term
    }
}
