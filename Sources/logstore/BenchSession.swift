import ArgumentParser
import LogStore

/// One `logstore bench` invocation: makes the benchmark directory, measures the fsync
/// ceiling once, runs the append workload once per appender count, prints the results
/// and removes the directory (unless `--keep`).
struct BenchSession: Sendable {
    /// The command line's settings.
    let settings: BenchSettings

    /// Runs the session; on failure prints the error to stderr and exits non-zero.
    ///
    /// - Parameters:
    ///   - threadCounts: Appenders per run, one run each, in this order.
    ///   - seconds: Length of each run.
    /// - Throws: `ExitCode.failure` after printing a ``LogError`` or ``BenchError``.
    func runReportingErrors(threadCounts: [Int], seconds: Double) async throws {
        do {
            try await run(threadCounts: threadCounts, seconds: seconds)
        } catch {
            Console.error("logstore: \(error)\n")
            throw ExitCode.failure
        }
    }

    /// Runs the session.
    ///
    /// - Throws: ``LogError`` from the log, ``BenchError`` from the benchmark's own file work.
    func run(threadCounts: [Int], seconds: Double) async throws {
        try await BenchDirectory.withSession(in: settings.parentDirectory, keep: settings.keep) { directory in
            try await runIn(directory, threadCounts: threadCounts, seconds: seconds)
        }
    }

    private func runIn(_ directory: BenchDirectory, threadCounts: [Int], seconds: Double) async throws {
        let status = settings.json ? nil : ProgressLine(label: "fsync ceiling")
        status?.show("measuring for \(Format.fixed(settings.ceilingSeconds, 1)) s in \(directory.path) ...")
        let ceiling = try await FsyncCeiling.measure(in: directory.path, seconds: settings.ceilingSeconds)
        status?.finish()

        let report = BenchReport(ceiling: ceiling, directory: directory.path)
        var results: [AppendResult] = []
        for threads in threadCounts {
            let workload = AppendWorkload(threads: threads, valueSize: settings.valueSize, duration: .seconds(seconds))
            let logDirectory = directory.subpath("append-t\(threads)")
            let progress = settings.json ? nil : ProgressLine(label: "append threads=\(threads)")
            let result = try await AppendBenchmark.run(
                workload, configuration: settings.configuration, directory: logDirectory, progress: progress)
            if !settings.keep {
                // Each run's segments are no longer needed; free the space before the next run.
                try BenchDirectory.remove(logDirectory)
            }
            if settings.json {
                Console.out(report.json(result) + "\n")
            }
            results.append(result)
        }
        if !settings.json {
            Console.out(report.table(results))
        }
    }
}
