import Histogram
import LogStore

/// Prints append results: a readable table, or one JSON object per run.
///
/// Latencies are histogram percentiles, printed in microseconds. The ratio to the ceiling
/// is `ops_per_sec / fsync_ceiling_per_sec`: above 1, group commit makes more appends
/// durable per second than one writer can sync 4 KiB blocks.
struct BenchReport: Sendable {
    /// The single-writer fsync ceiling measured at the start of the session.
    let ceiling: FsyncCeiling
    /// Where the session ran (the ceiling file and the logs).
    let directory: String

    /// The table's columns: title and how each row fills it.
    private static let columns: [(title: String, cell: @Sendable (Row) -> String)] = [
        ("workload", { _ in "append" }),
        ("backend", { $0.result.statistics.backend }),
        ("threads", { "\($0.result.workload.threads)" }),
        ("value B", { "\($0.result.workload.valueSize)" }),
        ("ops", { "\($0.result.ops)" }),
        ("seconds", { Format.fixed($0.result.seconds, 2) }),
        ("ops/s", { Format.fixed($0.result.opsPerSecond, 0) }),
        ("MB/s", { Format.fixed($0.result.megabytesPerSecond, 2) }),
        ("p50 µs", { Format.fixed($0.p50, 1) }),
        ("p99 µs", { Format.fixed($0.p99, 1) }),
        ("p99.9 µs", { Format.fixed($0.p999, 1) }),
        ("fsyncs", { "\($0.result.statistics.syncs)" }),
        ("mean batch", { Format.fixed($0.result.statistics.meanBatch, 2) }),
        ("max batch", { "\($0.result.statistics.maxBatch)" }),
        ("ceiling/s", { Format.fixed($0.ceiling, 0) }),
        ("ratio", { $0.ratio.map { Format.fixed($0, 2) + "x" } ?? "-" }),
    ]

    /// One result with the derived numbers the table and JSON print.
    private struct Row: Sendable {
        let result: AppendResult
        let ceiling: Double

        var p50: Double { microseconds(atPercentile: 50) }
        var p99: Double { microseconds(atPercentile: 99) }
        var p999: Double { microseconds(atPercentile: 99.9) }
        var ratio: Double? { ceiling > 0 ? result.opsPerSecond / ceiling : nil }

        func microseconds(atPercentile percentile: Double) -> Double {
            Double(result.latency.valueAtPercentile(percentile)) / 1000
        }
    }

    private func row(_ result: AppendResult) -> Row { Row(result: result, ceiling: ceiling.writesPerSecond) }

    /// The results table: a line on the ceiling, one on the log's configuration, then one
    /// row per run with right-aligned columns.
    func table(_ results: [AppendResult]) -> String {
        var text = "fsync ceiling: \(Format.fixed(ceiling.writesPerSecond, 0)) writes/s "
        text += "(one writer, \(Format.bytes(UInt64(FsyncCeiling.blockSize))) pwrite + fdatasync, "
        text += "\(ceiling.writes) writes in \(Format.fixed(ceiling.seconds, 2)) s) in \(directory)\n"
        if let configuration = results.first?.configuration {
            text += "log: \(Self.describe(configuration))\n"
        }
        let cells = [Self.columns.map(\.title)] + results.map { result in
            let row = row(result)
            return Self.columns.map { $0.cell(row) }
        }
        return text + TextTable.render(cells)
    }

    /// One run as one line of JSON (an object, keys in a fixed order, numbers as numbers).
    func json(_ result: AppendResult) -> String {
        let row = row(result)
        let statistics = result.statistics
        let configuration = result.configuration
        var object = JSONObject()
        object["workload"] = .string("append")
        object["backend"] = .string(statistics.backend)
        object["requested_backend"] = .string(configuration.backend.description)
        object["threads"] = .integer(Int64(result.workload.threads))
        object["value_size"] = .integer(Int64(result.workload.valueSize))
        object["key_size"] = .integer(Int64(AppendWorkload.keySize))
        object["ops"] = .unsigned(result.ops)
        object["seconds"] = .number(result.seconds, decimals: 4)
        object["ops_per_sec"] = .number(result.opsPerSecond, decimals: 1)
        object["mb_per_sec"] = .number(result.megabytesPerSecond, decimals: 3)
        object["disk_mb_per_sec"] = .number(result.diskMegabytesPerSecond, decimals: 3)
        object["p50_us"] = .number(row.p50, decimals: 3)
        object["p99_us"] = .number(row.p99, decimals: 3)
        object["p999_us"] = .number(row.p999, decimals: 3)
        object["max_us"] = .number(Double(result.latency.max) / 1000, decimals: 3)
        object["mean_us"] = .number(result.latency.mean / 1000, decimals: 3)
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
        object["fsync_ceiling_per_sec"] = .number(ceiling.writesPerSecond, decimals: 1)
        object["ratio_to_ceiling"] = row.ratio.map { .number($0, decimals: 4) } ?? .null
        object["linger_us"] = .unsigned(UInt64(configuration.lingerMaxMicroseconds))
        object["spin_us"] = .unsigned(UInt64(configuration.writerSpinMicroseconds))
        object["prewrite"] = .bool(configuration.prewriteSegments)
        object["direct_zero_fill"] = .bool(configuration.directZeroFill)
        object["direct_write"] = .bool(configuration.directWrites)
        object["sealed_cache_bytes"] = configuration.sealedSegmentCacheBytes.map { .unsigned($0) } ?? .null
        object["uring_mode"] = .string(UringModeChoice.name(of: configuration.uringMode))
        object["segment_size"] = .unsigned(configuration.segmentSize)
        object["commit_max_ops"] = .integer(Int64(configuration.commitMaxOps))
        return object.serialized
    }

    /// The configuration in one line, e.g. "linger 200 µs, prewrite on, segment 64 MiB, ...".
    private static func describe(_ configuration: LogConfiguration) -> String {
        [
            "requested backend \(configuration.backend)",
            "uring mode \(UringModeChoice.name(of: configuration.uringMode))",
            "linger \(configuration.lingerMaxMicroseconds) µs",
            "spin \(configuration.writerSpinMicroseconds) µs",
            "prewrite \(configuration.prewriteSegments ? "on" : "off")",
            "zero-fill \(configuration.directZeroFill ? "direct" : "cached")",
            "writes \(configuration.directWrites ? "direct" : "buffered")",
            "segment \(Format.bytes(configuration.segmentSize))",
            "sealed cache \(configuration.sealedSegmentCacheBytes.map { Format.bytes($0) } ?? "kept")",
            "commit max \(configuration.commitMaxOps) ops / \(Format.bytes(UInt64(configuration.commitMaxBytes)))",
        ].joined(separator: ", ")
    }
}
