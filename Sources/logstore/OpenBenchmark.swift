import Foundation
import LogStore

/// `bench open`: how long ``Store/open(at:configuration:)`` takes on a store that was not
/// closed cleanly.
///
/// A child process (`logstore bench open-fill`) loads the keys and exits without closing the
/// store, as a crash would leave it. Opening recovers and then changes the directory (it
/// starts a new writer), so every timed open gets a fresh copy of the abandoned store: the
/// copy is made and made durable (untimed; it also leaves the files in the page cache), then
/// `Store.open` is timed in this process, the store closed and the copy removed. The median
/// open by wall-clock time is reported, with its CPU time (all threads of the process) and
/// replay time.
///
/// The copy is fsynced because the abandoned store's files were durable (every put was
/// acknowledged after an `fdatasync`; prepared segments are fsynced before use): an open that
/// finds them dirty would time the write-back of the benchmark's own copy (hundreds of
/// megabytes), which no real restart after a crash pays.
enum OpenBenchmark {
    /// Opens to time unless `--opens` says otherwise.
    static let defaultOpens = 3

    /// One timed open.
    private struct Sample: Sendable {
        let seconds: Double
        let cpuSeconds: Double
        let report: StoreRecoveryReport
    }

    /// Fills (in a child), then opens `opens` copies; reports the median open.
    ///
    /// - Parameter childArguments: Options for `bench open-fill` that reproduce this
    ///   command's log configuration.
    /// - Throws: ``BenchError`` for the child or the copies, ``StoreError`` from an open.
    static func run(
        opens: Int, loader: StoreLoader, childArguments: [String], configuration: StoreConfiguration, directory: BenchDirectory,
        quiet: Bool
    ) async throws -> StoreBenchResult {
        let filled = directory.subpath("abandoned")
        let progress = quiet ? nil : ProgressLine(label: "open")
        progress?.show("loading \(loader.keys) keys in a child process ...")
        let fillStart = ContinuousClock.now
        try await ChildProcess.runSelf(
            ["bench", "open-fill", filled, "--keys", "\(loader.keys)", "--load-writers", "\(loader.writers)",
             "--load-batch", "\(loader.batch)"] + childArguments)
        let fillSeconds = fillStart.duration(to: .now).seconds
        var samples: [Sample] = []
        var statistics: LogStatistics?
        for n in 0..<opens {
            progress?.show("open \(n + 1) of \(opens) ...")
            let copy = directory.subpath("open-\(n)")
            try await copyTree(from: filled, to: copy)
            try await syncTree(copy)
            let (store, seconds, cpuSeconds) = try await BenchStore.openMeasuringCPU(copy, configuration: configuration)
            samples.append(Sample(seconds: seconds, cpuSeconds: cpuSeconds, report: store.recoveryReport))
            statistics = store.statistics.log
            try await BenchStore.close(store)
            try BenchDirectory.remove(copy)
        }
        progress?.finish()
        let sorted = samples.sorted { $0.seconds < $1.seconds }
        guard let statistics, let fastest = sorted.first, let slowest = sorted.last else {
            throw BenchError("open", path: filled, detail: "--opens must be at least 1")
        }
        let median = sorted[sorted.count / 2]
        let report = median.report
        return StoreBenchResult(
            workload: "open", configuration: configuration.log, threads: loader.writers, valueSize: loader.valueSize,
            keys: report.keys, throughput: nil, statistics: statistics,
            extra: [
                ("opens", .integer(Int64(opens))),
                ("open_ms", .number(median.seconds * 1000, decimals: 3)),
                ("open_ms_min", .number(fastest.seconds * 1000, decimals: 3)),
                ("open_ms_max", .number(slowest.seconds * 1000, decimals: 3)),
                ("open_cpu_ms", .number(median.cpuSeconds * 1000, decimals: 3)),
                ("open_cpu_ms_min", .number((samples.map(\.cpuSeconds).min() ?? 0) * 1000, decimals: 3)),
                ("replay_ms", .number(Double(report.replayNanoseconds) / 1e6, decimals: 3)),
                ("replay_ms_min", .number(Double(samples.map(\.report.replayNanoseconds).min() ?? 0) / 1e6, decimals: 3)),
                ("records_replayed", .unsigned(report.recordsReplayed)),
                ("segments", .unsigned(report.log.segments)),
                ("frames", .unsigned(report.log.frames)),
                ("torn_tail_bytes", .unsigned(report.log.tornTail?.bytes ?? 0)),
                ("load_writers", .integer(Int64(loader.writers))),
                ("load_batch", .integer(Int64(loader.batch))),
                ("fill_seconds", .number(fillSeconds, decimals: 3)),
            ])
    }

    /// fsyncs every file and directory under `root` (and `root`), on a dedicated thread.
    private static func syncTree(_ root: String) async throws(BenchError) {
        try await DedicatedThread.run(name: "logstore-sync") { () throws(BenchError) in
            var paths = [root]
            if let walker = FileManager.default.enumerator(atPath: root) {
                while let relative = walker.nextObject() as? String { paths.append(root + "/" + relative) }
            }
            // Files first, then directories deepest first, so each directory entry is durable last.
            var isDirectory: ObjCBool = false
            let directories = paths.filter { FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && isDirectory.boolValue }
            let files = paths.filter { !directories.contains($0) }
            for path in files + directories.sorted(by: { $0.count > $1.count }) {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                if fd < 0 { throw BenchError("open", path: path, errno: errno) }
                defer { close(fd) }
                if fsync(fd) != 0 { throw BenchError("fsync", path: path, errno: errno) }
            }
        }
    }

    /// Copies the directory tree `source` to `destination` on a dedicated thread.
    private static func copyTree(from source: String, to destination: String) async throws(BenchError) {
        try await DedicatedThread.run(name: "logstore-copy") { () throws(BenchError) in
            do {
                try FileManager.default.copyItem(atPath: source, toPath: destination)
            } catch {
                throw BenchError("copy", path: source, error: error)
            }
        }
    }
}
