import CLogStore

/// Read-only inspection of a store directory: verification of every checksum, a dump of
/// every record, and a description of the manifest, segments and space use.
///
/// Every call takes the store's `LOCK` for its duration (so it fails with
/// ``LogError/Kind/busy``, naming the holder's writer id, while a process has the store open),
/// replays the manifest, lists `segments/` and scans every segment file, verifying every frame
/// CRC and every record CRC (zstd containers expanded), then every file in `snapshots/` (its
/// header, length and data CRC) and each Raft group's newest snapshot marker against the file it
/// names (present, same length and CRC). It never modifies the store: nothing is
/// written, truncated, fsynced, renamed or removed, unlike an open's recovery. It continues past
/// damage, resynchronising at the next valid frame, so it reports every problem, not only the
/// first. docs/FORMAT.md §7.6 lists the checks.
///
/// Thread safety: the calls are independent; callbacks run on the calling thread, which does
/// blocking file I/O (call from a thread of your own, not from Swift's cooperative pool, for a
/// large store).
public enum StoreInspector {
    /// Checks every frame and record of the store at `path`, every file in `snapshots/` and the
    /// Raft snapshot markers, and reports every problem.
    ///
    /// - Parameter path: The store directory (`LOCK`, `manifest/`, `segments/`...).
    /// - Returns: The problems (empty for a clean store), the segments, writer ids and totals.
    ///   Damage is reported, never thrown.
    /// - Throws: ``LogError/Kind/busy`` while another process has the store open;
    ///   ``LogError/Kind/invalidArgument`` when `path` is not a store directory;
    ///   ``LogError/Kind/io`` when a file cannot be read.
    public static func verify(path: String) throws(LogError) -> VerificationReport {
        try run(path: path, from: 0, onRecord: nil)
    }

    /// Reads every record of the store at `path` in LSN order (the log as the manifest lists
    /// it, records of damaged frames left out), verifying everything as ``verify(path:)`` does.
    ///
    /// - Parameters:
    ///   - path: The store directory.
    ///   - from: Records with a smaller LSN are verified but not passed to `onRecord`.
    ///   - onRecord: Called for each record; return `false` to stop the scan (the report then
    ///     lists no problems or segments, and its totals cover what was scanned).
    /// - Returns: The verification report of the scan.
    /// - Throws: As ``verify(path:)``.
    @discardableResult
    public static func scan(path: String, from: LSN = 0, onRecord: (InspectedRecord) -> Bool) throws(LogError)
        -> VerificationReport
    {
        try withoutActuallyEscaping(onRecord) { (onRecord) throws(LogError) -> VerificationReport in
            try run(path: path, from: from) { onRecord(InspectedRecord($0.pointee)) }
        }
    }

    /// Describes the store at `path`: manifest summary, segments with their live and dead
    /// bytes, writer ids and totals, plus the verification report.
    ///
    /// Live bytes are those of key-value puts that hold the current value of their key when the
    /// records are replayed in LSN order (a put sets its key, a delete removes it, as `Store`
    /// recovery does); dead bytes are everything else in a segment's frames: overwritten and
    /// deleted puts, tombstones, other record types, frame headers, padding and the seal.
    ///
    /// - Parameter path: The store directory.
    /// - Throws: As ``verify(path:)``.
    public static func describe(path: String) throws(LogError) -> StoreDescription {
        var live = LiveKeyTracker()
        let report = try run(path: path, from: 0) { record in
            live.apply(record.pointee)
            return true
        }
        return StoreDescription(report: report, liveBytes: live.liveBytesBySegment(), liveKeys: live.count)
    }

    /// The one path into the C scanner; `onRecord` sees each record while it is valid.
    static func run(path: String, from: LSN, onRecord: ((UnsafePointer<ls_inspect_record>) -> Bool)?) throws(LogError)
        -> VerificationReport
    {
        let sink = InspectionSink(from: from, onRecord: onRecord)
        var callbacks = ls_inspect_callbacks()
        callbacks.ctx = Unmanaged.passUnretained(sink).toOpaque()
        // Every record comes here (the snapshot markers are followed from the first); those
        // below `from` are not passed on.
        callbacks.from_lsn = 0
        callbacks.on_segment = { ctx, segment in
            Unmanaged<InspectionSink>.fromOpaque(ctx!).takeUnretainedValue().segments.append(InspectedSegment(segment!.pointee))
        }
        callbacks.on_problem = { ctx, problem in
            Unmanaged<InspectionSink>.fromOpaque(ctx!).takeUnretainedValue().problems.append(InspectionProblem(problem!.pointee))
        }
        callbacks.on_writer = { ctx, writer in
            Unmanaged<InspectionSink>.fromOpaque(ctx!).takeUnretainedValue().writers.append(InspectedWriter(writer!.pointee))
        }
        callbacks.on_file = { ctx, file in
            Unmanaged<InspectionSink>.fromOpaque(ctx!).takeUnretainedValue().files.append(InspectedFile(file!.pointee))
        }
        callbacks.on_record = { ctx, record in
            let sink = Unmanaged<InspectionSink>.fromOpaque(ctx!).takeUnretainedValue()
            sink.markers.apply(record!.pointee)
            guard let onRecord = sink.onRecord, record!.pointee.lsn >= sink.from else { return 0 }
            return onRecord(record!) ? 0 : 1
        }
        var summary = ls_inspect_summary()
        var error = ls_error()
        let status = withExtendedLifetime(sink) { path.withCString { ls_inspect_store($0, &callbacks, &summary, &error) } }
        guard status == 0 else { throw LogError(error) }
        var problems = sink.problems
        if summary.stopped == 0 {
            // Raft snapshot markers against the files (docs/RAFT.md §2): the C scanner knows files,
            // not Raft.
            let extra = sink.markers.problems(files: sink.files, snapshotsDirectory: path + "/snapshots")
            problems += extra
            summary.problems += UInt64(extra.count)
            summary.corruptions += UInt64(extra.filter(\.isCorruption).count)
        }
        return VerificationReport(
            problems: problems, segments: sink.segments, writers: sink.writers, files: sink.files,
            summary: InspectionSummary(summary, writerIDs: sink.writers.map(\.id)))
    }
}

/// Collects what the C callbacks report during one ``StoreInspector`` call (one thread only).
private final class InspectionSink {
    let from: LSN
    let onRecord: ((UnsafePointer<ls_inspect_record>) -> Bool)?
    var segments: [InspectedSegment] = []
    var problems: [InspectionProblem] = []
    var writers: [InspectedWriter] = []
    var files: [InspectedFile] = []
    var markers = RaftSnapshotMarkerCheck()

    init(from: LSN, onRecord: ((UnsafePointer<ls_inspect_record>) -> Bool)?) {
        self.from = from
        self.onRecord = onRecord
    }
}

/// Replays key-value records in LSN order to find which puts are live (docs/STORE.md §1, §5).
struct LiveKeyTracker {
    /// Record key (namespace length, namespace, user key) → where its live put is and its bytes.
    private var live: [[UInt8]: (segment: UInt64, bytes: UInt64)] = [:]

    /// Live keys.
    var count: Int { live.count }

    /// A put sets its key's live record; a delete removes it; other records are not key-value.
    mutating func apply(_ r: ls_inspect_record) {
        guard let type = RecordType(rawValue: r.type), !type.isRaft else { return }
        let keyBytes = UnsafeBufferPointer(start: r.key, count: Int(r.key_len))
        // A key no store wrote (bad namespace) is not a key-value record the index would hold.
        guard (try? KVRecord.decodeKey(keyBytes, lsn: r.lsn)) != nil else { return }
        switch type {
        case .kvPut: live[Array(keyBytes)] = (r.location.segment_seq, r.stored_size)
        case .kvDelete: live[Array(keyBytes)] = nil
        case .raftEntry, .raftHardState, .raftTruncatePrefix, .raftTruncateSuffix, .raftSnapshot, .raftRemoveGroup: break
        }
    }

    /// Live bytes per segment sequence.
    func liveBytesBySegment() -> [UInt64: (bytes: UInt64, records: UInt64)] {
        var out: [UInt64: (bytes: UInt64, records: UInt64)] = [:]
        for (_, entry) in live {
            let old = out[entry.segment] ?? (0, 0)
            out[entry.segment] = (old.bytes + entry.bytes, old.records + 1)
        }
        return out
    }
}
