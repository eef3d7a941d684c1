import Histogram
import LogStore

/// `bench put`: `threads` Swift tasks, each putting distinct 16-byte keys (its id and a
/// counter) with one shared value, one durable put at a time, until the duration has passed.
/// Every put is timed; each writer keeps its own histogram, merged at the end.
enum PutBenchmark {
    /// One writer's tally.
    private struct WriterTally: Sendable {
        var ops: UInt64
        var latency: Histogram<UInt64>
        var finished: ContinuousClock.Instant
    }

    /// Opens a fresh store in `directory`, runs the writers, reads the counters, closes it.
    ///
    /// - Throws: The first ``StoreError`` of open, a put, or close.
    static func run(
        threads: Int, valueSize: Int, duration: Duration, configuration: StoreConfiguration, directory: String,
        progress: ProgressLine?
    ) async throws -> StoreBenchResult {
        let (store, _) = try await BenchStore.open(directory, configuration: configuration)
        return try await BenchStore.closing(store) {
            let (throughput, statistics) = try await measure(
                store: store, threads: threads, valueSize: valueSize, duration: duration, progress: progress)
            return StoreBenchResult(
                workload: "put", configuration: configuration.log, threads: threads, valueSize: valueSize,
                keys: statistics.keys, throughput: throughput, statistics: statistics.log, extra: [])
        }
    }

    private static func measure(
        store: Store, threads: Int, valueSize: Int, duration: Duration, progress: ProgressLine?
    ) async throws -> (StoreBenchResult.Throughput, StoreStatistics) {
        let namespace = BenchKeys.namespace
        let value = AppendBenchmark.patternBytes(count: valueSize)
        let start = ContinuousClock.now
        let deadline = start + duration
        let tallies = try await withThrowingTaskGroup(of: WriterTally?.self, returning: [WriterTally].self) { group in
            if let progress {
                group.addTask {
                    await StoreProgress.run(progress, store: store, start: start)
                    return nil
                }
            }
            for id in 0..<threads {
                group.addTask {
                    try await putLoop(id: UInt64(id), store: store, namespace: namespace, value: value, until: deadline)
                }
            }
            var tallies: [WriterTally] = []
            do {
                while let outcome = try await group.next() {
                    if let tally = outcome { tallies.append(tally) }
                    if tallies.count == threads { group.cancelAll() }  // ends the progress line
                }
            } catch {
                group.cancelAll()  // stop the other writers; the first error is thrown
                throw error
            }
            return tallies
        }
        progress?.finish()
        let statistics = store.statistics
        var latency = LatencyHistogram.make()
        var ops: UInt64 = 0
        var end = start
        for tally in tallies {
            latency.add(tally.latency)
            ops += tally.ops
            end = max(end, tally.finished)
        }
        return (StoreBenchResult.Throughput(ops: ops, seconds: start.duration(to: end).seconds, latency: latency), statistics)
    }

    /// One writer: puts key (id, counter) until `deadline` or cancellation, timing each put.
    private static func putLoop(
        id: UInt64, store: Store, namespace: Namespace, value: [UInt8], until deadline: ContinuousClock.Instant
    ) async throws(StoreError) -> WriterTally {
        var latency = LatencyHistogram.make()
        var key = [UInt8](repeating: 0, count: BenchKeys.keySize)
        var ops: UInt64 = 0
        // One clock read per put: each one ends a put and begins the next.
        var now = ContinuousClock.now
        while now < deadline && !Task.isCancelled {
            BenchKeys.fill(&key, high: id, low: ops)
            let began = now
            try await store.put(value, for: key, in: namespace)
            now = ContinuousClock.now
            latency.record(min(began.duration(to: now).nanoseconds, AppendBenchmark.maxTrackableNanoseconds))
            ops += 1
        }
        return WriterTally(ops: ops, latency: latency, finished: now)
    }
}

/// Latency histograms of the store benchmarks: the same layout as ``AppendBenchmark``'s, so
/// they can be merged and printed alike.
enum LatencyHistogram {
    /// An empty histogram, nanoseconds up to ``AppendBenchmark/maxTrackableNanoseconds``.
    static func make() -> Histogram<UInt64> {
        Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: AppendBenchmark.maxTrackableNanoseconds,
            numberOfSignificantValueDigits: AppendBenchmark.histogramDigits)
    }
}

/// The progress line of a store benchmark: durable appends (or, while loading, live keys)
/// so far and their rate, once a second, until cancelled.
enum StoreProgress {
    /// Updates `progress` once per ``ProgressLine/interval`` until the task is cancelled.
    ///
    /// - Parameter countKeys: Count live keys instead of durable appends (loading with batches).
    static func run(_ progress: ProgressLine, store: Store, start: ContinuousClock.Instant, countKeys: Bool = false) async {
        while true {
            do {
                try await Task.sleep(for: ProgressLine.interval)
            } catch {
                return  // CancellationError: the run ended.
            }
            let elapsed = start.duration(to: .now).seconds
            let statistics = store.statistics
            let count = countKeys ? UInt64(statistics.keys) : statistics.log.appends
            let rate = elapsed > 0 ? Double(count) / elapsed : 0
            progress.show("\(Format.fixed(elapsed, 1)) s  \(count) \(countKeys ? "keys" : "ops")  \(Format.fixed(rate, 0)) /s")
        }
    }
}
