import ArgumentParser

/// `logstore bench`: benchmarks of the commit log and the key-value store.
///
/// Run plain, it runs the default suite (``BenchSuiteCommand``); `logstore bench append`
/// runs one append workload (``BenchAppendCommand``); `put`, `get` and `open` measure the
/// key-value store (``BenchPutCommand``, ``BenchGetCommand``, ``BenchOpenCommand``); `raft`
/// measures Raft groups appending entries (``BenchRaftCommand``).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure durable appends, key-value store puts, gets and opens, and Raft appends against the disk's fsync ceiling.",
        subcommands: [
            BenchSuiteCommand.self, BenchAppendCommand.self, BenchPutCommand.self, BenchGetCommand.self,
            BenchOpenCommand.self, BenchOpenFillCommand.self, BenchRaftCommand.self,
        ],
        defaultSubcommand: BenchSuiteCommand.self)
}

/// `logstore bench append`: one append workload of `--threads` concurrent appenders.
struct BenchAppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Concurrent durable appends: ops/s, latency percentiles, group-commit batching.",
        discussion: """
            Measures the fsync ceiling (one writer, 4 KiB pwrite + fdatasync) in the same \
            directory first, then runs --threads tasks that each append records of \
            --value-size bytes (8-byte key) in a loop until --duration seconds have passed.
            """)

    /// Default number of concurrent appenders.
    static let defaultThreads = 16
    /// Default run length in seconds.
    static let defaultDuration = 5.0

    @Option(help: "Concurrent appenders (Swift tasks), each awaiting one append at a time.")
    var threads: Int = Self.defaultThreads

    @Option(help: "Seconds to append for.")
    var duration: Double = Self.defaultDuration

    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be a positive number of seconds") }
    }

    func run() async throws {
        let session = BenchSession(settings: options.settings)
        try await session.runReportingErrors(threadCounts: [threads], seconds: duration)
    }
}

/// `logstore bench` (or `logstore bench suite`): the default suite, which is what `make run` shows.
///
/// Measures the fsync ceiling once, then runs the append workload with 1, 16 and 64
/// appenders of 128-byte values and prints one table (or one JSON object per run).
struct BenchSuiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suite",
        abstract: "The default suite: append with 1, 16 and 64 appenders, one combined table.")

    /// Appender counts of the default suite.
    static let defaultThreadCounts = [1, 16, 64]
    /// Seconds per run of the default suite: shorter than a single `append` run.
    static let defaultDuration = 3.0

    @Option(help: "Seconds per run.")
    var duration: Double = Self.defaultDuration

    @Option(help: "Comma-separated appender counts, one run each.")
    var threads: ThreadCounts = ThreadCounts(Self.defaultThreadCounts)

    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard duration > 0, duration.isFinite else { throw ValidationError("--duration must be a positive number of seconds") }
    }

    func run() async throws {
        let session = BenchSession(settings: options.settings)
        try await session.runReportingErrors(threadCounts: threads.counts, seconds: duration)
    }
}

/// A comma-separated list of appender counts, e.g. `1,16,64`.
struct ThreadCounts: ExpressibleByArgument, Sendable {
    /// The counts, in the order given; each at least 1.
    let counts: [Int]

    init(_ counts: [Int]) { self.counts = counts }

    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
        var counts: [Int] = []
        for part in parts {
            guard let n = Int(part.filter { $0 != " " }), n >= 1 else { return nil }
            counts.append(n)
        }
        guard !counts.isEmpty else { return nil }
        self.counts = counts
    }

    var defaultValueDescription: String { counts.map(String.init).joined(separator: ",") }
}
