import Histogram
import LogStore

/// What one append run does: how many appenders, how large a value, for how long.
struct AppendWorkload: Sendable {
    /// Key bytes per record: the appender's id and its counter, 4 bytes each, little-endian.
    static let keySize = 8
    /// The record type the benchmark writes (0 is reserved).
    static let recordType: UInt8 = 1

    /// Concurrent appenders (Swift tasks), each awaiting one append at a time.
    let threads: Int
    /// Value bytes per record.
    let valueSize: Int
    /// How long appenders start new appends; the ones in flight at the end still count.
    let duration: Duration
}

/// The outcome of one append run.
struct AppendResult: Sendable {
    /// What was run.
    let workload: AppendWorkload
    /// The log's configuration.
    let configuration: LogConfiguration
    /// Appends that returned successfully.
    let ops: UInt64
    /// Seconds from the start until the last appender's last append returned.
    let seconds: Double
    /// Per-append latency in nanoseconds, from just before `append` to its return.
    let latency: Histogram<UInt64>
    /// The writer's counters, read after the last append and before close.
    let statistics: LogStatistics

    /// Appends per second.
    var opsPerSecond: Double { seconds > 0 ? Double(ops) / seconds : 0 }
    /// Record payload (key + value) in 10⁶ bytes per second.
    var megabytesPerSecond: Double {
        opsPerSecond * Double(AppendWorkload.keySize + workload.valueSize) / 1e6
    }
    /// Frame bytes the writer wrote (headers and padding included) in 10⁶ bytes per second.
    var diskMegabytesPerSecond: Double { seconds > 0 ? Double(statistics.bytesWritten) / seconds / 1e6 : 0 }
}

/// Runs an append workload against a fresh ``CommitLog`` and measures it.
///
/// Each appender records its latencies into its own histogram (no shared state on the hot
/// path); the histograms are merged when the run ends. The optional progress line reads
/// the log's ``LogStatistics/appends`` once a second.
enum AppendBenchmark {
    /// The largest latency the histograms track, in nanoseconds (60 s); longer ones are
    /// recorded as 60 s.
    static let maxTrackableNanoseconds: UInt64 = 60_000_000_000
    /// Significant decimal digits the histograms keep: two (1% resolution). Three made each
    /// histogram about 220 KB, and recording into dozens of them cost cache misses on the
    /// benchmark's own hot path.
    static let histogramDigits = SignificantDigits.two

    /// Opens a log in `directory` (which should not exist yet), runs `workload` against it,
    /// then closes it.
    ///
    /// - Parameters:
    ///   - workload: Appenders, value size and duration.
    ///   - configuration: The log's configuration.
    ///   - directory: Where the log's segments go.
    ///   - progress: A progress line to keep updated on stderr, or `nil`.
    /// - Returns: Counts, latencies and the writer's statistics.
    /// - Throws: The first ``LogError`` of open, any append, or close.
    static func run(
        _ workload: AppendWorkload, configuration: LogConfiguration, directory: String, progress: ProgressLine?
    ) async throws(LogError) -> AppendResult {
        // Open and close do file I/O (segment preparation, final sync): keep them off the pool.
        let log = try await DedicatedThread.run(name: "logstore-open") { () throws(LogError) -> CommitLog in
            try CommitLog.open(directory: directory, configuration: configuration)
        }
        let measured = await measure(workload, log: log, progress: progress)
        let statistics = log.statistics
        let closed = await DedicatedThread.run(name: "logstore-close") { () -> Result<Void, LogError> in
            Result { () throws(LogError) in try log.close() }
        }
        switch (measured, closed) {
        case (.failure(let error), .failure(let closeError)):
            Console.error("logstore: closing the log after a failed run also failed: \(closeError)\n")
            throw error
        case (.failure(let error), .success), (.success, .failure(let error)):
            throw error
        case (.success(let run), .success):
            return AppendResult(
                workload: workload, configuration: configuration, ops: run.ops, seconds: run.seconds,
                latency: run.latency, statistics: statistics)
        }
    }

    /// The totals of a run, before the log is closed.
    private struct Measurement: Sendable {
        var ops: UInt64
        var seconds: Double
        var latency: Histogram<UInt64>
    }

    /// One appender's tally.
    private struct AppenderTally: Sendable {
        var ops: UInt64
        var latency: Histogram<UInt64>
        var finished: ContinuousClock.Instant
    }

    /// What a child task of the run reports.
    private enum ChildOutcome: Sendable {
        case appender(Result<AppenderTally, LogError>)
        case progressEnded
    }

    /// Runs the appenders (and the progress line) in one task group and merges their tallies.
    private static func measure(
        _ workload: AppendWorkload, log: CommitLog, progress: ProgressLine?
    ) async -> Result<Measurement, LogError> {
        let value = patternBytes(count: workload.valueSize)
        let start = ContinuousClock.now
        let deadline = start + workload.duration

        let (tallies, failure) = await withTaskGroup(
            of: ChildOutcome.self, returning: ([AppenderTally], LogError?).self
        ) { group in
            if let progress {
                group.addTask {
                    await progress.run(log: log, start: start)
                    return .progressEnded
                }
            }
            for id in 0..<workload.threads {
                group.addTask {
                    .appender(await appendLoop(id: UInt32(truncatingIfNeeded: id), log: log, value: value, until: deadline))
                }
            }
            var tallies: [AppenderTally] = []
            var failure: LogError?
            var running = workload.threads
            for await outcome in group {
                guard case .appender(let result) = outcome else { continue }
                running -= 1
                switch result {
                case .success(let tally):
                    tallies.append(tally)
                case .failure(let error):
                    // Stop the other appenders early; keep the first error.
                    if failure == nil { failure = error }
                    group.cancelAll()
                }
                if running == 0 { group.cancelAll() }  // ends the progress line
            }
            return (tallies, failure)
        }
        progress?.finish()
        if let failure { return .failure(failure) }

        var latency = makeHistogram()
        var ops: UInt64 = 0
        var end = start
        for tally in tallies {
            latency.add(tally.latency)
            ops += tally.ops
            end = max(end, tally.finished)
        }
        return .success(Measurement(ops: ops, seconds: start.duration(to: end).seconds, latency: latency))
    }

    /// One appender: appends records with key (id, counter) and the shared value, one at a
    /// time, until `deadline` or cancellation, timing each append.
    private static func appendLoop(
        id: UInt32, log: CommitLog, value: [UInt8], until deadline: ContinuousClock.Instant
    ) async -> Result<AppenderTally, LogError> {
        var latency = makeHistogram()
        var record = LogRecord(
            type: AppendWorkload.recordType, key: [UInt8](repeating: 0, count: AppendWorkload.keySize), value: value)
        var ops: UInt64 = 0
        // One clock read per append: each one ends an append and begins the next.
        var now = ContinuousClock.now
        while now < deadline && !Task.isCancelled {
            let key = UInt64(id) | UInt64(UInt32(truncatingIfNeeded: ops)) << 32
            record.key.withUnsafeMutableBytes { $0.storeBytes(of: key.littleEndian, as: UInt64.self) }
            let began = now
            do {
                _ = try await log.append(record)
            } catch {
                return .failure(error)
            }
            now = ContinuousClock.now
            latency.record(min(began.duration(to: now).nanoseconds, maxTrackableNanoseconds))
            ops += 1
        }
        return .success(AppenderTally(ops: ops, latency: latency, finished: now))
    }

    /// An empty latency histogram; all have the same layout so they can be merged.
    private static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: maxTrackableNanoseconds,
            numberOfSignificantValueDigits: histogramDigits)
    }

    /// `count` bytes of a fixed xorshift sequence: the same every run, not compressible.
    static func patternBytes(count: Int) -> [UInt8] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }
}
