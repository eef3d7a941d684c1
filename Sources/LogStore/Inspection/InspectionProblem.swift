import CLogStore

/// One problem a read-only inspection found (``StoreInspector/verify(path:)``): which file,
/// where in it, and what is wrong.
public struct InspectionProblem: Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem this is.
    public enum Kind: Sendable, Hashable {
        /// A frame (or a segment header) that fails its checks (magic, fields, CRC, LSN) with
        /// valid data after it.
        case corruptFrame
        /// A record inside a valid frame that fails its own CRC, its length or its zstd
        /// container's checks.
        case corruptRecord
        /// The damaged end of the newest segment (or of the manifest): an unfinished write that
        /// the next open cuts off. Not corruption (``InspectionProblem/isCorruption`` is false).
        case tornTail
        /// A segment the manifest lists has no file.
        case missingSegment
        /// A segment file with data that the manifest does not list (a foreign writer's?).
        case unlistedSegment
        /// A damaged or inconsistent manifest record, or a missing manifest.
        case manifest
        /// A segment's base LSN does not follow the previous segment's last LSN.
        case lsnGap
        /// A segment-level inconsistency: not sealed before later data, a seal disagreeing with
        /// the manifest, a header naming another writer, two files with one sequence.
        case badSegment
        /// A file in `snapshots/` that fails its header, length or data checks (docs/FORMAT.md §12).
        case corruptFile
        /// A Raft group's newest snapshot marker names a file in `snapshots/` that is missing, or
        /// whose length or checksum differ from the marker's (docs/RAFT.md §2).
        case snapshotMismatch

        init(_ raw: Int32) {
            switch raw {
            case Int32(LS_INSPECT_CORRUPT_FRAME.rawValue): self = .corruptFrame
            case Int32(LS_INSPECT_CORRUPT_RECORD.rawValue): self = .corruptRecord
            case Int32(LS_INSPECT_TORN_TAIL.rawValue): self = .tornTail
            case Int32(LS_INSPECT_MISSING_SEGMENT.rawValue): self = .missingSegment
            case Int32(LS_INSPECT_UNLISTED_SEGMENT.rawValue): self = .unlistedSegment
            case Int32(LS_INSPECT_MANIFEST.rawValue): self = .manifest
            case Int32(LS_INSPECT_LSN_GAP.rawValue): self = .lsnGap
            case Int32(LS_INSPECT_CORRUPT_FILE.rawValue): self = .corruptFile
            default: self = .badSegment
            }
        }

        /// A short name, e.g. "torn tail" or "corrupt frame".
        public var name: String {
            switch self {
            case .corruptFrame: "corrupt frame"
            case .corruptRecord: "corrupt record"
            case .tornTail: "torn tail"
            case .missingSegment: "missing segment"
            case .unlistedSegment: "unlisted segment"
            case .manifest: "manifest damage"
            case .lsnGap: "LSN gap"
            case .badSegment: "bad segment"
            case .corruptFile: "corrupt file"
            case .snapshotMismatch: "snapshot mismatch"
            }
        }
    }

    /// What kind of problem this is.
    public let kind: Kind
    /// Whether this is damage a strict open refuses (`true`), or an allowed torn tail that the
    /// next open cuts off (`false`).
    public let isCorruption: Bool
    /// The file: a segment, `manifest/manifest.log`, a file in `snapshots/`, or the expected path
    /// of a missing segment or snapshot file.
    public let path: String
    /// The segment's sequence number, or `nil` for the manifest or a file in `snapshots/`.
    public let segmentSequence: UInt64?
    /// The byte offset in ``path`` where the problem starts, if it has one.
    public let offset: UInt64?
    /// A sentence saying what is wrong.
    public let message: String

    init(kind: Kind, isCorruption: Bool, path: String, segmentSequence: UInt64? = nil, offset: UInt64?, message: String) {
        self.kind = kind
        self.isCorruption = isCorruption
        self.path = path
        self.segmentSequence = segmentSequence
        self.offset = offset
        self.message = message
    }

    init(_ p: ls_inspect_problem) {
        var copy = p
        kind = Kind(p.kind)
        isCorruption = p.corruption != 0
        path = withUnsafeBytes(of: &copy.path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        message = withUnsafeBytes(of: &copy.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        segmentSequence = p.segment_seq != 0 ? p.segment_seq : nil
        offset = p.has_offset != 0 ? p.offset : nil
    }

    /// `<path> @ <offset>: <kind>: <message>`.
    public var description: String {
        "\(path)" + (offset.map { " @ \($0)" } ?? "") + ": \(kind.name): \(message)"
    }
}
