import ArgumentParser
import Foundation
import LogStore

/// `logstore bench put`: concurrent durable puts of distinct keys into a fresh store.
struct BenchPutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Concurrent durable puts into a key-value store: ops/s, latency percentiles, group-commit batching.",
        discussion: """
            Measures the fsync ceiling (one writer, 4 KiB pwrite + fdatasync) in the same \
            directory first, then opens a fresh store and runs --threads tasks that each put \
            distinct 16-byte keys with --value-size-byte values, one put at a time, each \
            returning once durable, until --duration seconds have passed. Reports the same \
            fields as 'bench append' (ops_per_sec, p50_us, p99_us, mean_batch, \
            ratio_to_ceiling...) plus keys, the live keys at the end.

            Example:
              logstore bench put --threads 64 --duration 5 --json
            """)

    /// Default number of concurrent writers.
    static let defaultThreads = 64
    /// Default run length in seconds.
    static let defaultDuration = 5.0

    @Option(help: "Concurrent writers (Swift tasks), each awaiting one put at a time.")
    var threads: Int = Self.defaultThreads

    @Option(help: "Seconds to put for.")
    var duration: Double = Self.defaultDuration

    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be a positive number of seconds") }
    }

    func run() async throws {
        let settings = options.settings
        let (threads, duration) = (threads, duration)
        try await StoreBenchSession(settings: settings).runReportingErrors { directory in
            try await PutBenchmark.run(
                threads: threads, valueSize: settings.valueSize, duration: .seconds(duration),
                configuration: BenchKeys.storeConfiguration(settings), directory: directory.subpath("put-t\(threads)"),
                progress: settings.json ? nil : ProgressLine(label: "put threads=\(threads)"))
        }
    }
}

/// `logstore bench get`: random point reads of a loaded, reopened store.
struct BenchGetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Random gets from a key-value store of --keys keys: gets/s and latency percentiles.",
        discussion: """
            Measures the fsync ceiling first (for the common report fields), then loads \
            --keys 16-byte keys with --value-size-byte values (--load-writers concurrent \
            tasks writing batches of --load-batch puts), closes the store and opens it again, \
            so reads go through the recovered index and the OS page cache. Then --threads \
            reader threads call the synchronous get on uniformly random loaded keys for \
            --duration seconds. ops_per_sec is gets per second; one get in 64 is timed (and \
            its value checked) for p50_us/p99_us, so timing does not dominate. Also reports \
            keys, open_ms (the reopen), replay_ms, the load's speed and the value cache's \
            counters for the reads (cache_hits, cache_misses, cache_evictions, cache_bytes). \
            --compress-threshold stores the load's batches as zstd containers, whose values \
            the cache holds.

            Examples:
              logstore bench get --keys 1000000 --duration 5 --json
              logstore bench get --keys 1000000 --compress-threshold 1 --cache-bytes 256M --json
            """)

    /// Default number of reader threads.
    static let defaultThreads = 1
    /// Default run length in seconds.
    static let defaultDuration = 5.0

    @Option(help: "Reader threads, each calling get in a loop.")
    var threads: Int = Self.defaultThreads

    @Option(help: "Seconds to read for.")
    var duration: Double = Self.defaultDuration

    @Option(name: .customLong("cache-bytes"), help: "The store's value cache (StoreConfiguration.cacheBytes); K, M and G suffixes are binary, 0 turns it off (default: \(StoreConfiguration().cacheBytes >> 20)M).")
    var cacheBytes: ByteCount?

    @Option(name: .customLong("compress-threshold"), help: "zstd-compress appends (the load's batches) of at least this many encoded bytes into container records (LogConfiguration.compressionThreshold; default: no compression).")
    var compressThreshold: ByteCount?

    @OptionGroup var load: LoadOptions

    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be a positive number of seconds") }
    }

    func run() async throws {
        let settings = options.settings
        let workload = GetBenchmark.Workload(
            threads: threads, duration: .seconds(duration), loader: load.loader(valueSize: settings.valueSize))
        var configured = BenchKeys.storeConfiguration(settings)
        if let cacheBytes { configured.cacheBytes = Int(clamping: cacheBytes.bytes) }
        if let compressThreshold { configured.log.compressionThreshold = Int(clamping: compressThreshold.bytes) }
        let configuration = configured
        try await StoreBenchSession(settings: settings).runReportingErrors { directory in
            try await GetBenchmark.run(workload, configuration: configuration, directory: directory.subpath("get"), quiet: settings.json)
        }
    }
}

/// `logstore bench open`: how long opening an abandoned store of --keys keys takes.
struct BenchOpenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "Time opening (recovering) a key-value store of --keys keys that was not closed cleanly.",
        discussion: """
            Measures the fsync ceiling first (for the common report fields), then runs this \
            binary again as a child process that loads --keys 16-byte keys with \
            --value-size-byte values and exits without closing the store, as a crash would \
            leave it. Then, --opens times, copies the abandoned store (untimed), times \
            Store.open on the copy in this process, and closes it. Reports the median open \
            as open_ms (with open_ms_min, open_ms_max), its open_cpu_ms (CPU time of all \
            the process's threads during the open, less disturbed by other load), the \
            recovery report's replay_ms, keys, records replayed and segments.

            Example:
              logstore bench open --keys 1000000 --json
            """)

    @Option(help: "Opens to time; the median is reported.")
    var opens: Int = OpenBenchmark.defaultOpens

    @OptionGroup var load: LoadOptions

    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard opens >= 1 else { throw ValidationError("--opens must be at least 1") }
    }

    func run() async throws {
        let settings = options.settings
        let (opens, loader, childArguments) = (opens, load.loader(valueSize: settings.valueSize), options.logArguments)
        try await StoreBenchSession(settings: settings).runReportingErrors { directory in
            try await OpenBenchmark.run(
                opens: opens, loader: loader, childArguments: childArguments,
                configuration: BenchKeys.storeConfiguration(settings), directory: directory, quiet: settings.json)
        }
    }
}

/// `logstore bench open-fill` (hidden): the child process of `bench open`. Loads the keys into
/// a new store and exits at once, without closing it.
struct BenchOpenFillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open-fill",
        abstract: "Load keys into a store and exit without closing it (the child process of 'bench open').",
        discussion: "Every put has returned, so it is durable; the store's files are left as a crash would leave them.",
        shouldDisplay: false)

    @Argument(help: ArgumentHelp("The store directory to create and fill.", valueName: "store-dir"))
    var storeDirectory: String

    @OptionGroup var load: LoadOptions

    @OptionGroup var options: BenchOptions

    func run() async throws {
        let settings = options.settings
        do {
            let (store, _) = try await BenchStore.open(storeDirectory, configuration: BenchKeys.storeConfiguration(settings))
            _ = try await load.loader(valueSize: settings.valueSize).load(into: store, progress: nil)
        } catch {
            Console.error("logstore: \(error)\n")
            throw ExitCode.failure
        }
        // No close: leave the store as a crash would.
        _exit(0)
    }
}

/// How the store benchmarks that need keys load them.
struct LoadOptions: ParsableArguments {
    /// Keys to load unless `--keys` says otherwise.
    static let defaultKeys = 1_000_000

    @Option(help: "Keys to load (16 bytes each, values of --value-size bytes).")
    var keys: Int = Self.defaultKeys

    @Option(name: .customLong("load-writers"), help: "Concurrent tasks loading the keys.")
    var loadWriters: Int = StoreLoader.defaultWriters

    @Option(name: .customLong("load-batch"), help: "Puts per atomic batch while loading (1: single puts).")
    var loadBatch: Int = StoreLoader.defaultBatch

    func validate() throws {
        guard keys >= 1 else { throw ValidationError("--keys must be at least 1") }
        guard loadWriters >= 1 else { throw ValidationError("--load-writers must be at least 1") }
        guard loadBatch >= 1 else { throw ValidationError("--load-batch must be at least 1") }
    }

    /// The loader these options describe.
    func loader(valueSize: Int) -> StoreLoader {
        StoreLoader(keys: keys, valueSize: valueSize, writers: loadWriters, batch: loadBatch)
    }
}

extension BenchOptions {
    /// The options that shape the log and the values, spelled for a child `logstore bench`
    /// command, so that it writes exactly as this one would.
    var logArguments: [String] {
        var arguments = ["--value-size", "\(valueSize)", "--uring-mode", uringMode.rawValue]
        if let backend { arguments += ["--backend", backend.rawValue] }
        if let lingerMicroseconds { arguments += ["--linger-us", "\(lingerMicroseconds)"] }
        if let spinMicroseconds { arguments += ["--spin-us", "\(spinMicroseconds)"] }
        if noPrewrite { arguments.append("--no-prewrite") }
        if cachedZeroFill { arguments.append("--cached-zero-fill") }
        if bufferedWrites { arguments.append("--buffered-writes") }
        if let sealedCache { arguments += ["--sealed-cache", sealedCache.argument] }
        if let segmentSize { arguments += ["--segment-size", "\(segmentSize.bytes)"] }
        return arguments
    }
}
