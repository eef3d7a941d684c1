import CLogStore

/// One segment file as a read-only inspection found it.
public struct InspectedSegment: Sendable, Hashable {
    /// How the segment's scan ended.
    public enum State: String, Sendable, Hashable {
        /// Prepared but never written (zero header, nothing valid).
        case empty
        /// Frames end cleanly with no seal yet: the newest segment of a closed store.
        case open
        /// A seal frame ends it (or a recorded salvage skip range reaches its end).
        case sealed
        /// It ends in a damaged frame with nothing valid after it.
        case torn
        /// It ends in damage or an inconsistency followed by valid data.
        case corrupt
        /// The manifest records it obsolete: not part of the log, not scanned.
        case obsolete

        init(_ raw: Int32) {
            switch raw {
            case Int32(LS_INSPECT_SEG_EMPTY.rawValue): self = .empty
            case Int32(LS_INSPECT_SEG_OPEN.rawValue): self = .open
            case Int32(LS_INSPECT_SEG_SEALED.rawValue): self = .sealed
            case Int32(LS_INSPECT_SEG_TORN.rawValue): self = .torn
            case Int32(LS_INSPECT_SEG_CORRUPT.rawValue): self = .corrupt
            default: self = .obsolete
            }
        }
    }

    /// The sequence number (from the file name).
    public let sequence: UInt64
    /// The writer id (from the file name).
    public let writerID: UInt64
    /// LSN of its first record (0 when unknown: empty, or the header is damaged).
    public let baseLSN: LSN
    /// LSN of its last valid record (`baseLSN - 1` while it holds none).
    public let lastLSN: LSN
    /// Bytes in use: the offset just past its last valid frame, where its seal is or would go.
    public let bytesUsed: UInt64
    /// The file's size (segments are preallocated, so usually the segment size).
    public let fileSize: UInt64
    /// On-disk bytes of its valid frames, frame headers, padding and seal frame included.
    public let frameBytes: UInt64
    /// Valid data frames.
    public let frames: UInt64
    /// Records in them.
    public let records: UInt64
    /// Damaged byte ranges walked over (each one is also reported as a problem).
    public let damagedRanges: UInt64
    /// Whether a valid seal frame ends it.
    public let sealed: Bool
    /// Whether the manifest lists it (with this writer id) and not as obsolete: part of the log.
    public let listed: Bool
    /// How its scan ended.
    public let state: State
    /// The file's path.
    public let path: String

    init(_ s: ls_inspect_segment) {
        var copy = s
        sequence = s.seq
        writerID = s.writer_id
        baseLSN = s.base_lsn
        lastLSN = s.last_lsn
        bytesUsed = s.bytes_used
        fileSize = s.file_size
        frameBytes = s.frame_bytes
        frames = s.frames
        records = s.records
        damagedRanges = s.damaged_ranges
        sealed = s.sealed != 0
        listed = s.listed != 0
        state = State(s.state)
        path = withUnsafeBytes(of: &copy.path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

/// A writer id seen in the manifest (`WRITER_START`, `SEGMENT_OPEN`) or in segment file names.
/// Every process that opens a store is a new writer.
public struct InspectedWriter: Sendable, Hashable {
    /// The writer id (16 hex digits in file names).
    public let id: UInt64
    /// `WRITER_START` records naming it (0 if known only from a segment).
    public let starts: UInt64
    /// Start time of its last `WRITER_START`, Unix nanoseconds (0 if none).
    public let startNanoseconds: UInt64
    /// Process id of its last `WRITER_START` (0 if none).
    public let pid: UInt64
    /// Segment files named after it.
    public let segments: UInt64

    init(_ w: ls_inspect_writer) {
        id = w.writer_id
        starts = w.starts
        startNanoseconds = w.start_time_ns
        pid = w.pid
        segments = w.segments
    }
}
