import Histogram
import LogStore

/// Prints `bench raft` results: a table, or one JSON object per run with the conventions of
/// the other benches (``StoreBenchReport``): the same names for the same things (p50_us,
/// fsyncs, mean_batch, fsync_ceiling_per_sec, ratio_to_ceiling...), the log's settings last.
///
/// `ratio_to_ceiling` is `entries_per_sec / fsync_ceiling_per_sec`: durable entries per second
/// against the durable 4 KiB writes per second one writer gets (`ops_ratio_to_ceiling` is the
/// same for appends, i.e. Raft batches). With one group, `ratio_to_bare_loop` is
/// `entries_per_sec` against a bare append + fdatasync loop of the same batches
/// (``BareAppendLoop``), measured in the same run.
struct RaftBenchReport: Sendable {
    /// The single-writer fsync ceiling measured at the start of the run.
    let ceiling: FsyncCeiling
    /// The bare append loop measured after the ceiling (single-group runs only).
    let bareLoop: BareAppendLoop?
    /// Where the run happened.
    let directory: String

    /// One run as one line of JSON, without a trailing newline.
    func json(_ result: RaftBenchResult) -> String { object(result).serialized }

    /// The run's fields in order.
    func object(_ result: RaftBenchResult) -> JSONObject {
        let statistics = result.statistics
        let configuration = result.configuration
        let workload = result.workload
        var object = JSONObject()
        object["workload"] = .string("raft")
        object["backend"] = .string(statistics.backend)
        object["requested_backend"] = .string(configuration.backend.description)
        object["persistence"] = .string(workload.persistence.rawValue)
        object["flush_policy"] = workload.persistence == .memFirst ? .string("immediate") : .null
        object["groups"] = .integer(Int64(workload.groups))
        object["batch"] = .integer(Int64(workload.batch))
        object["value_size"] = .integer(Int64(workload.valueSize))
        object["ops"] = .unsigned(result.appends)
        object["entries"] = .unsigned(result.entries)
        object["seconds"] = .number(result.seconds, decimals: 4)
        object["entries_per_sec"] = .number(result.entriesPerSecond, decimals: 1)
        object["ops_per_sec"] = .number(result.appendsPerSecond, decimals: 1)
        object["mb_per_sec"] = .number(result.megabytesPerSecond, decimals: 3)
        object["disk_mb_per_sec"] = .number(result.seconds > 0 ? Double(statistics.bytesWritten) / result.seconds / 1e6 : 0, decimals: 3)
        object["latency"] = .string(workload.persistence.latencyMeasures)
        object["p50_us"] = .number(Self.microseconds(result.latency, atPercentile: 50), decimals: 3)
        object["p99_us"] = .number(Self.microseconds(result.latency, atPercentile: 99), decimals: 3)
        object["p999_us"] = .number(Self.microseconds(result.latency, atPercentile: 99.9), decimals: 3)
        object["max_us"] = .number(Double(result.latency.max) / 1000, decimals: 3)
        object["mean_us"] = .number(result.latency.mean / 1000, decimals: 3)
        if let visible = result.visibleLatency {
            object["visible_p50_us"] = .number(Self.microseconds(visible, atPercentile: 50), decimals: 3)
            object["visible_p99_us"] = .number(Self.microseconds(visible, atPercentile: 99), decimals: 3)
        }
        object["fsyncs"] = .unsigned(statistics.syncs)
        object["batches"] = .unsigned(statistics.batches)
        object["mean_batch"] = .number(statistics.meanBatch, decimals: 3)
        object["max_batch"] = .unsigned(statistics.maxBatch)
        object["entries_per_commit"] = .number(result.entriesPerCommit, decimals: 3)
        object["linger_waits"] = .unsigned(statistics.lingerWaits)
        object["idle_spins"] = .unsigned(statistics.idleSpins)
        object["mean_sync_us"] = .number(statistics.meanSyncMicroseconds, decimals: 1)
        object["mean_gather_us"] = .number(statistics.batches == 0 ? 0 : Double(statistics.gatherNanoseconds) / Double(statistics.batches) / 1000, decimals: 1)
        object["pipelined_batches"] = .unsigned(statistics.pipelinedBatches)
        object["rotations"] = .unsigned(statistics.rotations)
        object["rotation_waits"] = .unsigned(statistics.rotationWaits)
        object["zero_fill_skips"] = .unsigned(statistics.zeroFillSkips)
        object["direct_zero_fills"] = .unsigned(statistics.directZeroFills)
        object["direct_writes"] = .unsigned(statistics.directWrites)
        object["cache_releases"] = .unsigned(statistics.cacheReleases)
        object["fsync_ceiling_per_sec"] = .number(ceiling.writesPerSecond, decimals: 1)
        let perSecond = ceiling.writesPerSecond
        object["ratio_to_ceiling"] = perSecond > 0 ? .number(result.entriesPerSecond / perSecond, decimals: 4) : .null
        object["ops_ratio_to_ceiling"] = perSecond > 0 ? .number(result.appendsPerSecond / perSecond, decimals: 4) : .null
        let barePerSecond = bareLoop?.entriesPerSecond ?? 0
        object["bare_loop_entries_per_sec"] = bareLoop.map { .number($0.entriesPerSecond, decimals: 1) } ?? .null
        object["ratio_to_bare_loop"] = barePerSecond > 0 ? .number(result.entriesPerSecond / barePerSecond, decimals: 4) : .null
        object["linger_us"] = .unsigned(UInt64(configuration.lingerMaxMicroseconds))
        object["spin_us"] = .unsigned(UInt64(configuration.writerSpinMicroseconds))
        object["prewrite"] = .bool(configuration.prewriteSegments)
        object["direct_zero_fill"] = .bool(configuration.directZeroFill)
        object["direct_write"] = .bool(configuration.directWrites)
        object["sealed_cache_bytes"] = configuration.sealedSegmentCacheBytes.map { .unsigned($0) } ?? .null
        object["uring_mode"] = .string(UringModeChoice.name(of: configuration.uringMode))
        object["segment_size"] = .unsigned(configuration.segmentSize)
        object["commit_max_ops"] = .integer(Int64(configuration.commitMaxOps))
        object["entry_cache_bytes"] = .integer(Int64(result.entryCacheBytes))
        return object
    }

    /// The results as a table: a line on the ceiling, one on what the latency measures, then
    /// one row per run.
    func table(_ results: [RaftBenchResult]) -> String {
        var text = "fsync ceiling: \(Format.fixed(ceiling.writesPerSecond, 0)) writes/s "
        text += "(one writer, \(Format.bytes(UInt64(FsyncCeiling.blockSize))) pwrite + fdatasync, "
        text += "\(ceiling.writes) writes in \(Format.fixed(ceiling.seconds, 2)) s) in \(directory)\n"
        if let bareLoop {
            text += "bare append loop: \(Format.fixed(bareLoop.entriesPerSecond, 0)) entries/s (one writer, each batch "
            text += "appended with one write + fdatasync to a growing file)\n"
        }
        text += "latency: per append of one batch, until durable (mem-first: append, then waitUntilDurable); "
        text += "ratio: entries/s ÷ ceiling\n"
        let columns: [(title: String, key: String, decimals: Int)] = [
            ("workload", "workload", 0), ("persistence", "persistence", 0), ("groups", "groups", 0), ("batch", "batch", 0),
            ("value B", "value_size", 0), ("entries", "entries", 0), ("seconds", "seconds", 2),
            ("entries/s", "entries_per_sec", 0), ("MB/s", "mb_per_sec", 2), ("p50 µs", "p50_us", 1), ("p99 µs", "p99_us", 1),
            ("fsyncs", "fsyncs", 0), ("mean batch", "mean_batch", 2), ("entries/commit", "entries_per_commit", 1),
            ("ceiling/s", "fsync_ceiling_per_sec", 0), ("ratio", "ratio_to_ceiling", 2),
            ("÷ bare loop", "ratio_to_bare_loop", 2),
        ]
        let objects = results.map(object)
        let cells = [columns.map(\.title)] + objects.map { object in
            columns.map { column in object[column.key].map { Self.cell($0, decimals: column.decimals) } ?? "-" }
        }
        return text + TextTable.render(cells)
    }

    private static func cell(_ value: JSONObject.Value, decimals: Int) -> String {
        switch value {
        case .string(let s): s
        case .integer(let n): String(n)
        case .unsigned(let n): String(n)
        case .number(let x, _): Format.fixed(x, decimals)
        case .bool(let b): b ? "on" : "off"
        case .null: "-"
        }
    }

    private static func microseconds(_ latency: Histogram<UInt64>, atPercentile percentile: Double) -> Double {
        Double(latency.valueAtPercentile(percentile)) / 1000
    }
}
