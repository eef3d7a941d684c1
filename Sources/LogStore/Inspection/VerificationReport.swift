import CLogStore

/// Totals of one read-only inspection.
public struct InspectionSummary: Sendable, Hashable {
    /// Segment files found in `segments/`.
    public let segments: UInt64
    /// Of those, listed in the manifest and holding at least one valid frame.
    public let segmentsWithData: UInt64
    /// Valid data frames of listed segments (each one verified by its CRC).
    public let frames: UInt64
    /// Records in them (each one verified by its own CRC).
    public let records: UInt64
    /// On-disk bytes of those frames, padding and seal frames included.
    public let frameBytes: UInt64
    /// Sizes of all segment files (preallocated space included).
    public let fileBytes: UInt64
    /// LSN of the first record (0 if none).
    public let firstLSN: LSN
    /// LSN of the last record (0 if none).
    public let lastLSN: LSN
    /// Problems found.
    public let problems: UInt64
    /// Of those, corruption (everything but a torn tail).
    public let corruptions: UInt64
    /// Whether the newest segment (or the manifest) ends in a torn write, cut at the next open.
    public let tornTail: Bool
    /// Valid manifest records.
    public let manifestRecords: UInt64
    /// Their bytes.
    public let manifestBytes: UInt64
    /// Bytes of a torn manifest tail (0 if none).
    public let manifestTornBytes: UInt64
    /// Salvage skip ranges recorded in the manifest (damage a salvage open already accepted).
    public let skipRanges: UInt64
    /// Files checked in `snapshots/` (Raft snapshots, other whole files).
    public let snapshotFiles: UInt64
    /// Their sizes in bytes.
    public let snapshotBytes: UInt64
    /// Writer ids seen, in manifest order, then ids known only from segment file names.
    public let writerIDs: [UInt64]
    /// Valid manifest records per type: index = the type number (docs/FORMAT.md §9.1; index 0 unused).
    public let manifestEvents: [UInt64]

    init(_ s: ls_inspect_summary, writerIDs: [UInt64]) {
        segments = s.segments
        segmentsWithData = s.segments_with_data
        frames = s.frames
        records = s.records
        frameBytes = s.frame_bytes
        fileBytes = s.file_bytes
        firstLSN = s.first_lsn
        lastLSN = s.last_lsn
        problems = s.problems
        corruptions = s.corruptions
        tornTail = s.torn_tail != 0
        manifestRecords = s.manifest_records
        manifestBytes = s.manifest_bytes
        manifestTornBytes = s.manifest_torn_bytes
        skipRanges = s.skip_ranges
        snapshotFiles = s.snapshot_files
        snapshotBytes = s.snapshot_bytes
        self.writerIDs = writerIDs
        var events = s.manifest_events
        manifestEvents = withUnsafeBytes(of: &events) { Array($0.bindMemory(to: UInt64.self)) }
    }
}

/// What ``StoreInspector/verify(path:)`` found: every problem, every segment, every file in
/// `snapshots/` and the totals.
public struct VerificationReport: Sendable, Hashable {
    /// Every problem: manifest first, then by segment sequence and offset, then files in
    /// `snapshots/` by name, then Raft snapshot markers by group.
    public let problems: [InspectionProblem]
    /// Every segment file, in sequence order.
    public let segments: [InspectedSegment]
    /// Every writer id seen.
    public let writers: [InspectedWriter]
    /// Every file in `snapshots/`, by name.
    public let files: [InspectedFile]
    /// The totals.
    public let summary: InspectionSummary

    /// Whether nothing is corrupt. A torn tail (see ``InspectionProblem/Kind/tornTail``) may
    /// still be reported: the next open cuts it off, as after any crash during a write.
    public var isClean: Bool { !problems.contains { $0.isCorruption } }

    /// The problems that are corruption.
    public var corruption: [InspectionProblem] { problems.filter(\.isCorruption) }
}
