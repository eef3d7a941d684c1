/// What ``StoreInspector/describe(path:)`` found: the manifest, the segments with their live
/// and dead bytes, the writers and totals.
public struct StoreDescription: Sendable, Hashable {
    /// The manifest (`manifest/manifest.log`).
    public struct Manifest: Sendable, Hashable {
        /// Valid records.
        public let records: UInt64
        /// Their bytes.
        public let bytes: UInt64
        /// Bytes of a torn last record (0 if none).
        public let tornBytes: UInt64
        /// `WRITER_START` records: how many times the store was opened.
        public let writerStarts: UInt64
        /// Valid records per event type, in type order (types with no record left out).
        public let events: [ManifestEventCount]
        /// Salvage skip ranges recorded.
        public let skipRanges: UInt64
    }

    /// How many manifest records of one type there are.
    public struct ManifestEventCount: Sendable, Hashable {
        /// The type number, as on disk (docs/FORMAT.md §9.1).
        public let type: UInt16
        /// Its name, e.g. `SEGMENT_OPEN`.
        public let name: String
        /// Valid records of the type.
        public let count: UInt64
    }

    /// One segment and its space use.
    public struct Segment: Sendable, Hashable {
        /// The segment as the scan found it.
        public let segment: InspectedSegment
        /// Bytes of key-value puts that hold their key's current value.
        public let liveBytes: UInt64
        /// Everything else in its frames: overwritten or deleted puts, tombstones, other
        /// records, frame headers, padding and the seal frame.
        public let deadBytes: UInt64
        /// Live puts in it.
        public let liveRecords: UInt64
        /// `liveBytes / frameBytes` (0 for a segment without frames).
        public var liveRatio: Double {
            segment.frameBytes == 0 ? 0 : Double(liveBytes) / Double(segment.frameBytes)
        }
    }

    /// The manifest summary.
    public let manifest: Manifest
    /// Every segment file, in sequence order.
    public let segments: [Segment]
    /// Every writer id seen.
    public let writers: [InspectedWriter]
    /// Live bytes of all segments.
    public let liveBytes: UInt64
    /// Dead bytes of all segments.
    public let deadBytes: UInt64
    /// Keys with a current value.
    public let liveKeys: Int
    /// The verification of the same scan (problems and totals).
    public let verification: VerificationReport

    init(report: VerificationReport, liveBytes live: [UInt64: (bytes: UInt64, records: UInt64)], liveKeys: Int) {
        let names = ["", "HEADER", "WRITER_START", "SEGMENT_OPEN", "SEGMENT_SEAL", "SEGMENT_OBSOLETE",
                     "RECOVERY_DROP", "RECOVERY_SKIP", "CHECKPOINT"]
        var events: [ManifestEventCount] = []
        for (type, count) in report.summary.manifestEvents.enumerated() where count > 0 && type < names.count {
            events.append(ManifestEventCount(type: UInt16(type), name: names[type], count: count))
        }
        let s = report.summary
        manifest = Manifest(
            records: s.manifestRecords, bytes: s.manifestBytes, tornBytes: s.manifestTornBytes,
            writerStarts: report.summary.manifestEvents.count > 2 ? report.summary.manifestEvents[2] : 0, events: events,
            skipRanges: s.skipRanges)
        segments = report.segments.map { seg in
            let entry: (bytes: UInt64, records: UInt64) = seg.listed ? live[seg.sequence] ?? (0, 0) : (0, 0)
            return Segment(
                segment: seg, liveBytes: entry.bytes, deadBytes: seg.frameBytes - min(entry.bytes, seg.frameBytes),
                liveRecords: entry.records)
        }
        writers = report.writers
        liveBytes = segments.reduce(0) { $0 + $1.liveBytes }
        deadBytes = segments.reduce(0) { $0 + $1.deadBytes }
        self.liveKeys = liveKeys
        verification = report
    }
}
