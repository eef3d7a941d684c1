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
