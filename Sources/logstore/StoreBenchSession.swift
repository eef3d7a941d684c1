import ArgumentParser
import Foundation
import LogStore

/// One key-value store benchmark invocation: makes the benchmark directory, measures the
/// fsync ceiling in it, runs the workload, prints the result (a table, or one JSON line) and
/// removes the directory (unless `--keep`). The same steps as ``BenchSession``.
struct StoreBenchSession: Sendable {
    /// The command line's settings.
    let settings: BenchSettings

    /// Runs `workload` in the session's directory; on failure prints the error to stderr and
    /// exits non-zero.
    ///
    /// - Parameter workload: Runs the benchmark in the given directory (which exists and
    ///   holds only the ceiling's scratch file, if anything) and returns its result.
    /// - Throws: `ExitCode.failure` after printing the error.
    func runReportingErrors(
        _ workload: @Sendable (_ directory: BenchDirectory) async throws -> StoreBenchResult
    ) async throws {
        do {
            try await run(workload)
        } catch {
            Console.error("logstore: \(error)\n")
            throw ExitCode.failure
        }
    }

    private func run(_ workload: @Sendable (_ directory: BenchDirectory) async throws -> StoreBenchResult) async throws {
        try await BenchDirectory.withSession(in: settings.parentDirectory, keep: settings.keep) { directory in
            let status = settings.json ? nil : ProgressLine(label: "fsync ceiling")
            status?.show("measuring for \(Format.fixed(settings.ceilingSeconds, 1)) s in \(directory.path) ...")
            let ceiling = try await FsyncCeiling.measure(in: directory.path, seconds: settings.ceilingSeconds)
            status?.finish()
            let result = try await workload(directory)
            let report = StoreBenchReport(ceiling: ceiling, directory: directory.path)
            Console.out(settings.json ? report.json(result) + "\n" : report.table([result]))
        }
    }
}

/// Opens and closes stores for the benchmarks on a thread of their own (they do file I/O).
enum BenchStore {
    /// Opens the store at `path`; returns it and the seconds `Store.open` took.
    static func open(_ path: String, configuration: StoreConfiguration) async throws(StoreError) -> (Store, Double) {
        try await DedicatedThread.run(name: "logstore-open") { () throws(StoreError) -> (Store, Double) in
            let start = ContinuousClock.now
            let store = try Store.open(at: path, configuration: configuration)
            return (store, start.duration(to: .now).seconds)
        }
    }

    /// Opens the store at `path`; returns it, the wall-clock seconds `Store.open` took and the
    /// CPU seconds the whole process used meanwhile (all threads: the open's own and the log's
    /// writer and preparer), which machine load disturbs less than wall-clock time.
    static func openMeasuringCPU(_ path: String, configuration: StoreConfiguration) async throws(StoreError) -> (Store, Double, Double) {
        try await DedicatedThread.run(name: "logstore-open") { () throws(StoreError) -> (Store, Double, Double) in
            let cpuBefore = processCPUSeconds()
            let start = ContinuousClock.now
            let store = try Store.open(at: path, configuration: configuration)
            let seconds = start.duration(to: .now).seconds
            return (store, seconds, processCPUSeconds() - cpuBefore)
        }
    }

    /// User plus system CPU seconds of this process so far.
    private static func processCPUSeconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Closes `store`.
    static func close(_ store: Store) async throws(StoreError) {
        try await DedicatedThread.run(name: "logstore-close") { () throws(StoreError) in try store.close() }
    }

    /// Runs `body` with the open `store`, then closes it, also when `body` fails (reporting
    /// `body`'s error then, and a failed close on stderr).
    static func closing<T: Sendable>(_ store: Store, _ body: () async throws -> T) async throws -> T {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        do {
            try await close(store)
        } catch {
            guard case .failure = outcome else { throw error }
            Console.error("logstore: closing the store after a failed run also failed: \(error)\n")
        }
        return try outcome.get()
    }
}
