import LogStore

/// What a Raft group must hold according to the ACK stream: the documented semantics of
/// docs/RAFT.md §4 applied to each acknowledged operation in order, starting from the
/// group's state at a run's start. Remembers which operation wrote each part, for messages.
struct RaftGroupModel {
    /// The expected state.
    var state: ObservedGroup
    /// Per retained entry, the operation that wrote it (or "the state at the start of run N").
    var sources: [String]
    /// Who wrote the hard state.
    var hardStateSource: String
    /// Who saved the snapshot.
    var snapshotSource: String

    /// The model of a group whose state was read from the store (`source` names where).
    init(_ state: ObservedGroup, source: String) {
        self.state = state
        sources = Array(repeating: source, count: state.entries.count)
        hardStateSource = source
        snapshotSource = source
    }

    /// The term of entry `index`, or nil if it is neither retained nor `firstIndex - 1`.
    func term(at index: UInt64) -> UInt64? {
        if index == state.firstIndex - 1 { return state.previousTerm }
        guard index >= state.firstIndex, index <= state.lastIndex else { return nil }
        return state.entries[Int(index - state.firstIndex)].term
    }

    private mutating func keepEntries(through last: UInt64) {
        guard last < state.lastIndex else { return }
        let keep = Int(last + 1 - state.firstIndex)
        state.entries.removeSubrange(keep...)
        sources.removeSubrange(keep...)
    }

    /// Applies `operation` (operation `op` of a run with writer id `writer`), as the store
    /// documents it. Returns why it cannot apply, if it cannot (the store would have
    /// refused it, so an ACK for it is a violation).
    mutating func apply(_ operation: StressOperation, op: String, writer: String) -> String? {
        let g = state.group
        switch operation {
        case .raftAppend(_, let first, let count, let term, let digest, let hardState):
            let payloads = (0..<count).map {
                ContentID(of: StressPayloads.entry(writer: writer, op: op, group: g, index: first + $0, term: term))
            }
            if StressPayloads.digest(payloads.map(\.crc)) != digest {
                return "its payload digest does not match the payloads regenerated from the line"
            }
            if count > 0, first + count - 1 >= state.firstIndex {
                // Entries before the first index are ignored (etcd); the rest replace the log from their first index.
                let start = max(first, state.firstIndex)
                if start > state.lastIndex + 1 { return "entry \(start) would leave a gap after the last index \(state.lastIndex)" }
                if let before = self.term(at: start - 1), term < before {
                    return "its term \(term) is below the term \(before) of entry \(start - 1)"
                }
                keepEntries(through: start - 1)
                for index in start..<(first + count) {
                    state.entries.append((term, payloads[Int(index - first)]))
                    sources.append("op \(op)")
                }
            }
            if let hardState {
                state.hardState = hardState
                hardStateSource = "op \(op)"
            }
        case .raftHardState(_, let hardState):
            state.hardState = hardState
            hardStateSource = "op \(op)"
        case .raftTruncateSuffix(_, let after):
            if after >= state.lastIndex { return nil }
            if after + 1 < state.firstIndex { return "entry \(after) is compacted (first index \(state.firstIndex))" }
            keepEntries(through: after)
        case .raftTruncatePrefix(_, let upTo):
            if upTo == state.firstIndex { return nil }
            if upTo < state.firstIndex { return "\(upTo) is below the first index \(state.firstIndex)" }
            guard upTo <= state.lastIndex + 1, let previous = term(at: upTo - 1) else {
                return "\(upTo) is past the last index \(state.lastIndex) + 1"
            }
            let discard = Int(upTo - state.firstIndex)
            state.entries.removeFirst(discard)
            sources.removeFirst(discard)
            state.firstIndex = upTo
            state.previousTerm = previous
        case .raftSnapshot(_, let index, let term, let data):
            let expected = ContentID(of: StressPayloads.snapshot(writer: writer, op: op, group: g, index: index, term: term))
            if expected != data { return "its data identity does not match the data regenerated from the line" }
            if index <= state.snapshot?.index ?? 0 || index + 1 < state.firstIndex {
                return "a snapshot at \(index) is out of date (current snapshot \(state.snapshot?.index ?? 0), first index \(state.firstIndex))"
            }
            state.snapshot = (index, term, data)
            snapshotSource = "op \(op)"
            if self.term(at: index) != term {
                // Not consistent with the log: everything goes, the log continues after the snapshot.
                state.entries.removeAll()
                sources.removeAll()
                state.firstIndex = index + 1
                state.previousTerm = term
            }
        case .raftRemove:
            self = RaftGroupModel(ObservedGroup(group: g), source: "op \(op)")
        default:
            return "not a Raft operation"
        }
        return nil
    }

    /// How `observed` differs from this model, as one sentence (nil when it does not).
    func difference(from observed: ObservedGroup) -> String? {
        let e = state, o = observed
        var parts: [String] = []
        if o.firstIndex != e.firstIndex || o.lastIndex != e.lastIndex {
            parts.append("entries \(o.firstIndex)...\(o.lastIndex) (expected \(e.firstIndex)...\(e.lastIndex))")
        }
        if o.previousTerm != e.previousTerm {
            parts.append("term of entry \(o.firstIndex - 1) is \(o.previousTerm) (expected \(e.previousTerm))")
        }
        if o.hardState != e.hardState {
            parts.append(
                "hard state \(Self.text(o.hardState)) (expected \(Self.text(e.hardState)), written by \(hardStateSource))")
        }
        if o.snapshot?.index != e.snapshot?.index || o.snapshot?.term != e.snapshot?.term || o.snapshot?.data != e.snapshot?.data {
            parts.append("snapshot \(Self.text(o.snapshot)) (expected \(Self.text(e.snapshot)), saved by \(snapshotSource))")
        }
        let low = max(o.firstIndex, e.firstIndex), high = min(o.lastIndex, e.lastIndex)
        if low <= high {
            for index in low...high {
                let oe = o.entries[Int(index - o.firstIndex)], ee = e.entries[Int(index - e.firstIndex)]
                if oe.term != ee.term || oe.payload != ee.payload {
                    parts.append(
                        "entry \(index) has term \(oe.term), \(oe.payload) (expected term \(ee.term), \(ee.payload), written by \(sources[Int(index - e.firstIndex)]))")
                    break
                }
            }
        }
        if e.lastIndex > o.lastIndex, e.lastIndex >= e.firstIndex {
            let missing = max(o.lastIndex + 1, e.firstIndex)
            parts.append("entry \(missing) is missing (written by \(sources[Int(missing - e.firstIndex)]))")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    /// A hard state for messages.
    static func text(_ hs: RaftHardState) -> String { "(term \(hs.term), vote \(hs.vote), commit \(hs.commit))" }

    /// A snapshot for messages.
    static func text(_ snapshot: (index: UInt64, term: UInt64, data: ContentID)?) -> String {
        guard let s = snapshot else { return "none" }
        return "at \(s.index) term \(s.term), \(s.data)"
    }
}
