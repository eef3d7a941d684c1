import ArgumentParser
import LogStore

/// `logstore bench raft`: concurrent Raft groups appending batches of entries, durably.
struct BenchRaftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft",
        abstract: "Raft groups appending batches of entries: entries/s, per-batch latency, fsyncs, group-commit batching.",
        discussion: """
            Measures the fsync ceiling (one writer, 4 KiB pwrite + fdatasync) in the same \
            directory first and, with one group, a bare append loop (one writer appending each \
            batch of --batch entries with one write + fdatasync to a growing file, the peer \
            a hand-made WAL would be), then opens a fresh store and runs one writer task per group \
            (--groups): each appends batches of --batch consecutive entries of --value-size \
            payload bytes to its own group and waits until each batch is durable before the \
            next, for --duration seconds (or --batches appends per group). All groups share \
            the store's one log, so one fdatasync serves every batch that is waiting.

            --persistence disk-first (the default): append returns once durable, and the \
            latency is append's. mem-first (flush policy immediate): append returns once \
            readable, then the writer awaits waitUntilDurable(group, through: the batch's last \
            index); the latency (p50_us, p99_us) is that whole round trip, append's own is \
            visible_p50_us/visible_p99_us.

            Reports entries_per_sec, ops_per_sec (appends), mb_per_sec (payload), per-batch \
            p50_us/p99_us/p999_us, fsyncs, batches and mean_batch (appends per group commit), \
            entries_per_commit, fsync_ceiling_per_sec and ratio_to_ceiling \
            (entries_per_sec / fsync_ceiling_per_sec), and with one group \
            bare_loop_entries_per_sec and ratio_to_bare_loop. fsyncs and batches are the log's counters \
            over the timed phase; entry_cache_bytes is the entry cache's size (--entry-cache 0 \
            measures appends without its write-through). --metrics prints the Raft log's own \
            metrics on standard error.

            Examples:
              logstore bench raft --batch 16 --value-size 256 --duration 5
              logstore bench raft --groups 1000 --batch 1 --json
              logstore bench raft --persistence mem-first --batch 256
            """)

    /// Default run length in seconds.
    static let defaultDuration = 5.0

    @Option(help: "Raft groups, one writer task each.")
    var groups: Int = 1

    @Option(help: "Entries per append (one Raft batch).")
    var batch: Int = 16

    @Option(help: "Seconds to append for.")
    var duration: Double = Self.defaultDuration

    @Option(help: ArgumentHelp("Appends per group instead of --duration.", valueName: "N"))
    var batches: Int?

    @Option(help: "disk-first (append returns once durable) or mem-first (append returns once readable; then waitUntilDurable).")
    var persistence: RaftBenchPersistence = .diskFirst

    @Option(name: .customLong("entry-cache"), help: "The DiskFirst entry cache (RaftConfiguration.entryCacheBytes), which every append writes through; K, M and G suffixes are binary, 0 turns it off (default: \(RaftConfiguration().entryCacheBytes >> 20)M).")
    var entryCache: ByteCount?

    @Flag(help: "Print the Raft log's metrics summary on standard error after the run.")
    var metrics = false

    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard groups >= 1 else { throw ValidationError("--groups must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be a positive number of seconds") }
        if let batches, batches < 1 { throw ValidationError("--batches must be at least 1") }
    }

    func run() async throws {
        let settings = options.settings(defaultValueSize: BenchSettings.defaultRaftValueSize)
        let workload = RaftBenchWorkload(
            groups: groups, batch: batch, valueSize: settings.valueSize, duration: batches == nil ? .seconds(duration) : nil,
            batchesPerGroup: batches, persistence: persistence)
        let metrics = metrics
        var configured = BenchKeys.storeConfiguration(settings)
        if let entryCache { configured.raft.entryCacheBytes = Int(clamping: entryCache.bytes) }
        let configuration = configured
        do {
            try await BenchDirectory.withSession(in: settings.parentDirectory, keep: settings.keep) { directory in
                let status = settings.json ? nil : ProgressLine(label: "fsync ceiling")
                status?.show("measuring for \(Format.fixed(settings.ceilingSeconds, 1)) s in \(directory.path) ...")
                let ceiling = try await FsyncCeiling.measure(in: directory.path, seconds: settings.ceilingSeconds)
                status?.finish()
                // One writer's peer: a bare append + fdatasync loop of the same batches.
                var bareLoop: BareAppendLoop?
                if workload.groups == 1 {
                    let status = settings.json ? nil : ProgressLine(label: "bare append loop")
                    status?.show("measuring for \(Format.fixed(settings.ceilingSeconds, 1)) s ...")
                    bareLoop = try await BareAppendLoop.measure(
                        in: directory.path, batch: workload.batch, valueSize: workload.valueSize, seconds: settings.ceilingSeconds)
                    status?.finish()
                }
                let label = "raft groups=\(workload.groups) batch=\(workload.batch)"
                let result = try await RaftBenchmark.run(
                    workload, configuration: configuration,
                    directory: directory.subpath("raft-g\(workload.groups)-b\(workload.batch)"),
                    progress: settings.json ? nil : ProgressLine(label: label))
                if metrics { Console.error(result.metricsSummary + "\n") }
                let report = RaftBenchReport(ceiling: ceiling, bareLoop: bareLoop, directory: directory.path)
                Console.out(settings.json ? report.json(result) + "\n" : report.table([result]))
            }
        } catch {
            Console.error("logstore: \(error)\n")
            throw ExitCode.failure
        }
    }
}
