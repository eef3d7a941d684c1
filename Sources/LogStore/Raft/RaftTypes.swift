/// Identifies one Raft group (a region, a shard) among the many that share a store's log.
public struct RaftGroupID: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// The number that names the group in every Raft record.
    public let rawValue: UInt64

    /// The group numbered `rawValue`.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// The group numbered by an integer literal.
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    /// Orders groups by number.
    public static func < (a: RaftGroupID, b: RaftGroupID) -> Bool { a.rawValue < b.rawValue }

    /// The number.
    public var description: String { String(rawValue) }
}

/// The state a Raft node must persist before it answers a message: the current term, the
/// candidate it voted for in that term (0 for none) and the highest index known committed.
public struct RaftHardState: Hashable, Sendable {
    /// The latest term the node has seen.
    public var term: UInt64
    /// The node voted for in ``term``, or 0.
    public var vote: UInt64
    /// The highest log index known to be committed.
    public var commit: UInt64

    /// A hard state; all zero is the state of a group that never saved one.
    public init(term: UInt64 = 0, vote: UInt64 = 0, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// One Raft log entry: its position, the term of the leader that created it, and opaque
/// payload bytes (a command, a configuration change... encoded by the Raft library).
public struct RaftEntry: Hashable, Sendable {
    /// The entry's position in its group's log (1 for the first entry ever).
    public var index: UInt64
    /// The term of the leader that created it.
    public var term: UInt64
    /// The payload, stored and returned byte for byte.
    public var payload: [UInt8]

    /// An entry.
    public init(index: UInt64, term: UInt64, payload: [UInt8] = []) {
        self.index = index
        self.term = term
        self.payload = payload
    }
}

/// What a snapshot covers: every entry up to ``index`` (whose term is ``term``) is replaced by
/// the snapshot's data, plus opaque metadata the Raft library keeps with it (for example an
/// encoded configuration state).
public struct RaftSnapshotMetadata: Hashable, Sendable {
    /// The index of the last entry the snapshot includes.
    public var index: UInt64
    /// The term of that entry.
    public var term: UInt64
    /// Opaque bytes stored with the snapshot (for example the membership); at most 64 KiB.
    public var context: [UInt8]

    /// Metadata; an all-zero one is the "no snapshot" state.
    public init(index: UInt64 = 0, term: UInt64 = 0, context: [UInt8] = []) {
        self.index = index
        self.term = term
        self.context = context
    }
}

/// A snapshot of a group's state machine: its metadata and data bytes.
public struct RaftSnapshot: Hashable, Sendable {
    /// What the snapshot covers.
    public var metadata: RaftSnapshotMetadata
    /// The state machine's bytes.
    public var data: [UInt8]

    /// A snapshot.
    public init(metadata: RaftSnapshotMetadata, data: [UInt8]) {
        self.metadata = metadata
        self.data = data
    }
}
