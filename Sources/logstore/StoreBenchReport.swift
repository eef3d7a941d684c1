import Histogram
import LogStore

/// Prints key-value store benchmark results: a readable table, or one JSON object per run
/// with the same keys, in the same order, as `bench append` (``BenchReport``), followed by
/// `keys` and the workload's own fields.
struct StoreBenchReport: Sendable {
    /// The single-writer fsync ceiling measured at the start of the run.
    let ceiling: FsyncCeiling
    /// Where the run happened.
    let directory: String

    /// One run as one line of JSON, without a trailing newline.
    func json(_ result: StoreBenchResult) -> String {
        object(result).serialized
    }

    /// The run's fields in order.
    func object(_ result: StoreBenchResult) -> JSONObject {
        let statistics = result.statistics
        let configuration = result.configuration
        var object = JSONObject()
        object["workload"] = .string(result.workload)
        object["backend"] = .string(statistics.backend)
        object["requested_backend"] = .string(configuration.backend.description)
        object["threads"] = .integer(Int64(result.threads))
        object["value_size"] = .integer(Int64(result.valueSize))
        object["key_size"] = .integer(Int64(BenchKeys.keySize))
        if let run = result.throughput {
            object["ops"] = .unsigned(run.ops)
            object["seconds"] = .number(run.seconds, decimals: 4)
            object["ops_per_sec"] = .number(run.opsPerSecond, decimals: 1)
            object["mb_per_sec"] = .number(result.megabytesPerSecond, decimals: 3)
            object["disk_mb_per_sec"] = .number(run.seconds > 0 ? Double(statistics.bytesWritten) / run.seconds / 1e6 : 0, decimals: 3)
            object["p50_us"] = .number(Self.microseconds(run.latency, atPercentile: 50), decimals: 3)
            object["p99_us"] = .number(Self.microseconds(run.latency, atPercentile: 99), decimals: 3)
            object["p999_us"] = .number(Self.microseconds(run.latency, atPercentile: 99.9), decimals: 3)
            object["max_us"] = .number(Double(run.latency.max) / 1000, decimals: 3)
            object["mean_us"] = .number(run.latency.mean / 1000, decimals: 3)
            object["fsyncs"] = .unsigned(statistics.syncs)
            object["batches"] = .unsigned(statistics.batches)
            object["mean_batch"] = .number(statistics.meanBatch, decimals: 3)
            object["max_batch"] = .unsigned(statistics.maxBatch)
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
        }
        object["fsync_ceiling_per_sec"] = .number(ceiling.writesPerSecond, decimals: 1)
        if let run = result.throughput {
            object["ratio_to_ceiling"] = ceiling.writesPerSecond > 0 ? .number(run.opsPerSecond / ceiling.writesPerSecond, decimals: 4) : .null
        }
        object["linger_us"] = .unsigned(UInt64(configuration.lingerMaxMicroseconds))
        object["spin_us"] = .unsigned(UInt64(configuration.writerSpinMicroseconds))
        object["prewrite"] = .bool(configuration.prewriteSegments)
        object["direct_zero_fill"] = .bool(configuration.directZeroFill)
        object["direct_write"] = .bool(configuration.directWrites)
        object["sealed_cache_bytes"] = configuration.sealedSegmentCacheBytes.map { .unsigned($0) } ?? .null
        object["uring_mode"] = .string(UringModeChoice.name(of: configuration.uringMode))
        object["segment_size"] = .unsigned(configuration.segmentSize)
        object["commit_max_ops"] = .integer(Int64(configuration.commitMaxOps))
        object["keys"] = .integer(Int64(result.keys))
        for (key, value) in result.extra { object[key] = value }
        return object
    }

    /// The results as a table: a line on the ceiling, then one row per run with the columns
    /// that apply to its workload.
    func table(_ results: [StoreBenchResult]) -> String {
        var text = "fsync ceiling: \(Format.fixed(ceiling.writesPerSecond, 0)) writes/s "
        text += "(one writer, \(Format.bytes(UInt64(FsyncCeiling.blockSize))) pwrite + fdatasync, "
        text += "\(ceiling.writes) writes in \(Format.fixed(ceiling.seconds, 2)) s) in \(directory)\n"
        let objects = results.map(object)
        let columns = Self.columns(for: results.first?.workload ?? "")
        let cells = [columns.map(\.title)] + objects.map { object in
            columns.map { column in object[column.key].map { Self.cell($0, decimals: column.decimals) } ?? "-" }
        }
        return text + TextTable.render(cells)
    }

    /// A table column: its title, the JSON key it shows and the decimals of numbers.
    private struct Column {
        let title: String
        let key: String
        let decimals: Int
    }

    private static func columns(for workload: String) -> [Column] {
        let head = [
            Column(title: "workload", key: "workload", decimals: 0), Column(title: "backend", key: "backend", decimals: 0),
            Column(title: "threads", key: "threads", decimals: 0), Column(title: "value B", key: "value_size", decimals: 0),
            Column(title: "keys", key: "keys", decimals: 0),
        ]
        let throughput = [
            Column(title: "ops", key: "ops", decimals: 0), Column(title: "seconds", key: "seconds", decimals: 2),
            Column(title: "ops/s", key: "ops_per_sec", decimals: 0), Column(title: "p50 µs", key: "p50_us", decimals: 1),
            Column(title: "p99 µs", key: "p99_us", decimals: 1), Column(title: "p99.9 µs", key: "p999_us", decimals: 1),
        ]
        let ceiling = [Column(title: "ceiling/s", key: "fsync_ceiling_per_sec", decimals: 0)]
        switch workload {
        case "put":
            return head + throughput + [
                Column(title: "fsyncs", key: "fsyncs", decimals: 0), Column(title: "mean batch", key: "mean_batch", decimals: 2),
            ] + ceiling + [Column(title: "ratio", key: "ratio_to_ceiling", decimals: 2)]
        case "get":
            return head + throughput + [
                Column(title: "reopen ms", key: "open_ms", decimals: 1), Column(title: "load s", key: "load_seconds", decimals: 2),
            ] + ceiling
        default:
            return head + [
                Column(title: "opens", key: "opens", decimals: 0), Column(title: "open ms", key: "open_ms", decimals: 1),
                Column(title: "min ms", key: "open_ms_min", decimals: 1), Column(title: "max ms", key: "open_ms_max", decimals: 1),
                Column(title: "replay ms", key: "replay_ms", decimals: 1), Column(title: "records", key: "records_replayed", decimals: 0),
                Column(title: "segments", key: "segments", decimals: 0),
            ] + ceiling
        }
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
