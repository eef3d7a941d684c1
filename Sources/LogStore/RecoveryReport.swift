import CLogStore

/// What recovery found and did when the log was opened.
public struct RecoveryReport: Sendable, Equatable {
    /// Segment files holding data.
    public let segments: UInt64
    /// Valid frames (group commits).
    public let frames: UInt64
    /// Valid records.
    public let records: UInt64
    /// The last LSN in the log; 0 when it is empty.
    public let lastLSN: LSN
    /// Where a torn tail (an unacknowledged write cut short by a crash) was cut off the
    /// newest segment, and how many bytes were dropped; `nil` if there was none.
    public let tornTail: (offset: UInt64, bytes: UInt64)?
    /// Prepared segment files that were never used and were removed.
    public let removedUnusedSegments: UInt64
    /// Files of segments the manifest records as obsolete that were still present and were
    /// deleted (or, when point-in-time recovery had dropped them, renamed to `<name>.dropped`).
    public var removedObsoleteSegments: UInt64 = 0

    /// Writers that did not close cleanly: their marker (`markers/writer-<id>.marker`) was
    /// still there. Ids are ordered by when the writers started, the most recent last; at most
    /// four are listed (``uncleanWriterCount`` counts them all). Empty after a clean shutdown.
    public var uncleanWriters: [UInt64] = []
    /// How many writers did not close cleanly.
    public var uncleanWriterCount: UInt64 = 0
    /// The most recently started writer that did not close cleanly, if any.
    public var lastUncleanWriter: UInt64? = nil

    /// What a non-strict recovery mode dropped at this open; `nil` when nothing was dropped
    /// (always in ``LogConfiguration/RecoveryMode/strict`` mode, which refuses instead).
    public var dropped: DroppedData? = nil

    /// What recovery found in the manifest (`manifest/manifest.log`).
    public var manifest: ManifestReport = .init()

    /// What ``LogConfiguration/RecoveryMode/pointInTime`` or ``LogConfiguration/RecoveryMode/salvage``
    /// dropped.
    public struct DroppedData: Sendable, Equatable {
        /// Damaged or cut-off byte ranges; a whole dropped segment counts as one.
        public var ranges: UInt64
        /// Bytes in those ranges (preallocated tails of segment files included).
        public var bytes: UInt64
        /// Valid frames (group commits) dropped: those after the cut in point-in-time mode;
        /// salvage keeps every valid frame, so 0 there.
        public var frames: UInt64
        /// The LSN the first dropped or damaged frame held or should have held (the last LSN
        /// kept before it + 1); `nil` if unknown.
        public var firstLSN: LSN?
        /// The file where the first damage is.
        public var firstDamagePath: String
        /// The byte offset of the first damage in ``firstDamagePath``.
        public var firstDamageOffset: UInt64
    }

    /// The manifest as recovery replayed it.
    public struct ManifestReport: Sendable, Equatable {
        /// Valid records replayed.
        public var records: UInt64 = 0
        /// Their bytes (the file's size after a torn last record was cut off).
        public var bytes: UInt64 = 0
        /// Bytes of a torn last record (an event that was never made durable) cut off.
        public var tornBytes: UInt64 = 0
        /// Whether the manifest was rewritten (compacted to its current state) during open.
        public var rewritten: Bool = false
    }

    /// Creates a report. Used by the library; public so callers can build expected values in tests.
    public init(
        segments: UInt64, frames: UInt64, records: UInt64, lastLSN: LSN, tornTail: (offset: UInt64, bytes: UInt64)?,
        removedUnusedSegments: UInt64
    ) {
        self.segments = segments
        self.frames = frames
        self.records = records
        self.lastLSN = lastLSN
        self.tornTail = tornTail
        self.removedUnusedSegments = removedUnusedSegments
    }

    /// Compares all fields.
    public static func == (a: RecoveryReport, b: RecoveryReport) -> Bool {
        a.segments == b.segments && a.frames == b.frames && a.records == b.records && a.lastLSN == b.lastLSN
            && a.tornTail?.offset == b.tornTail?.offset && a.tornTail?.bytes == b.tornTail?.bytes
            && a.removedUnusedSegments == b.removedUnusedSegments && a.removedObsoleteSegments == b.removedObsoleteSegments
            && a.uncleanWriters == b.uncleanWriters && a.uncleanWriterCount == b.uncleanWriterCount
            && a.lastUncleanWriter == b.lastUncleanWriter && a.dropped == b.dropped && a.manifest == b.manifest
    }
}

extension RecoveryReport {
    /// Builds the report from what the C recovery filled in.
    init(_ info: ls_recovery_info) {
        self.init(
            segments: info.segments, frames: info.frames, records: info.records, lastLSN: info.last_lsn,
            tornTail: info.torn_tail != 0 ? (info.torn_offset, info.torn_bytes) : nil,
            removedUnusedSegments: info.removed_empty)
        removedObsoleteSegments = info.removed_obsolete
        uncleanWriterCount = info.unclean_writers
        let ids = withUnsafeBytes(of: info.unclean_writer_ids) { Array($0.bindMemory(to: UInt64.self)) }
        uncleanWriters = Array(ids.prefix(Int(min(info.unclean_writers, UInt64(ids.count)))))
        lastUncleanWriter = info.unclean_writers > 0 ? info.last_unclean_writer_id : nil
        if info.dropped_ranges > 0 || info.has_damage != 0 {
            let path = withUnsafeBytes(of: info.damage_path) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            dropped = DroppedData(
                ranges: info.dropped_ranges, bytes: info.dropped_bytes, frames: info.dropped_frames,
                firstLSN: info.first_dropped_lsn == 0 ? nil : info.first_dropped_lsn, firstDamagePath: path,
                firstDamageOffset: info.damage_offset)
        }
        manifest = ManifestReport(
            records: info.manifest_records, bytes: info.manifest_bytes, tornBytes: info.manifest_torn_bytes,
            rewritten: info.manifest_rewritten != 0)
    }
}

/// One segment file of an open log, for tools (`logstore`) and tests.
public struct SegmentInfo: Sendable, Equatable {
    /// The segment's sequence number (ordering of segment files).
    public let sequence: UInt64
    /// The writer (process start) that wrote it; in its file name.
    public let writerID: UInt64
    /// LSN of its first record.
    public let baseLSN: LSN
    /// LSN of its last record (`baseLSN - 1` while it holds none).
    public let lastLSN: LSN
    /// Bytes in use: the offset of its seal frame, or where its next frame goes.
    public let end: UInt64
    /// Whether a seal frame closes it (every segment but the active one).
    public let sealed: Bool
    /// The file's path (`<root>/segments/seg-<writer>-<seq>.log`).
    public let path: String
}

/// A Raft group whose log recovery had to cut: a Raft record of the group could not follow the
/// records before it (an entry outside the group's `firstIndex ... lastIndex + 1`, or a suffix
/// truncation below `firstIndex - 1`), almost always because damage that
/// ``LogConfiguration/RecoveryMode/salvage`` skipped held earlier records of the group. Listed in ``StoreRecoveryReport/raftGroupsCut``;
/// docs/RAFT.md §6.1 has the rules.
///
/// **The group's log lost entries.** Entries after ``lastIndexKept`` that the damage held are
/// gone, and so are the later entries that depended on them (``droppedRecords``). Some of them
/// may have been committed, and this node may have acknowledged them to a leader. A Raft node
/// whose log lost acknowledged entries must not take part in elections or commit decisions as if
/// it still had them: treat the replica as failed (remove it from the group and add it back
/// empty, or restore it from a snapshot of a healthy replica) rather than letting it vote.
/// ``commitPastLastIndex`` says when the hard state proves committed entries are missing;
/// false does not prove that none are.
public struct RaftGroupCut: Sendable, Equatable {
    /// The group.
    public let group: RaftGroupID
    /// The group's last index when its first record that could not follow was met: its entries
    /// up to this index are as written (0 when it held none).
    public let lastIndexKept: UInt64
    /// The index of the first entry record dropped (the entries from ``lastIndexKept`` + 1 up to
    /// before it were presumably in the damage); `nil` if no entry record was dropped (only a
    /// truncation that could not follow).
    public let firstDroppedIndex: UInt64?
    /// The LSN of the first record of the group dropped.
    public let firstDroppedLSN: LSN
    /// The segment file holding the first record dropped.
    public let firstDroppedPath: String
    /// The byte offset in ``firstDroppedPath`` of that record (or of the zstd container holding it).
    public let firstDroppedOffset: UInt64
    /// Raft records of the group dropped (entries, and suffix truncations that referred to lost
    /// entries). Hard states, prefix truncations, snapshot markers and removals are never dropped.
    public let droppedRecords: UInt64
    /// Whether skipped damage (a range this open or an earlier salvage skipped) came before the
    /// first record dropped. False means a record that cannot follow without any damage to
    /// explain it (a foreign or buggy writer): only salvage cuts those; other modes refuse.
    public let followsSkippedDamage: Bool
    /// Whether a later record re-based the group after its last drop (an entry at most at
    /// ``lastIndexKept`` + 1, written after the damage, for example by a salvage open's
    /// appends; a suffix truncation at or below its last index; the group's removal), so its
    /// log after recovery no longer depends on the dropped records. Entries lost by the cut
    /// were still lost at the time: the warning above stands for what the node acknowledged.
    public let rebased: Bool
    /// The group's last index after recovery (``lastIndexKept`` unless later records applied).
    public let lastIndex: UInt64
    /// The commit index of the group's newest hard state replayed (hard states are never
    /// dropped, nor changed by recovery).
    public let commit: UInt64

    /// True when the hard state's commit index is past the group's last index after recovery:
    /// entries the group knew committed are missing from its log.
    public var commitPastLastIndex: Bool { commit > lastIndex }

    /// Creates a cut. Used by the library; public so callers can build expected values in tests.
    public init(
        group: RaftGroupID, lastIndexKept: UInt64, firstDroppedIndex: UInt64?, firstDroppedLSN: LSN,
        firstDroppedPath: String, firstDroppedOffset: UInt64, droppedRecords: UInt64, followsSkippedDamage: Bool,
        rebased: Bool, lastIndex: UInt64, commit: UInt64
    ) {
        self.group = group
        self.lastIndexKept = lastIndexKept
        self.firstDroppedIndex = firstDroppedIndex
        self.firstDroppedLSN = firstDroppedLSN
        self.firstDroppedPath = firstDroppedPath
        self.firstDroppedOffset = firstDroppedOffset
        self.droppedRecords = droppedRecords
        self.followsSkippedDamage = followsSkippedDamage
        self.rebased = rebased
        self.lastIndex = lastIndex
        self.commit = commit
    }
}
