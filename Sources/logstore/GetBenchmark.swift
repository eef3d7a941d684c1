import Histogram
import LogStore

/// `bench get`: loads `keys` keys (``StoreLoader``), closes the store and opens it again (so
/// reads go through the recovered index and the OS page cache), then runs `threads` readers,
/// each on a dedicated thread calling the synchronous ``Store/get(_:in:)`` on uniformly random
/// loaded keys until the duration has passed.
///
/// Timing every get would cost about as much as a get from the page cache, so readers time
/// one get in ``sampleInterval`` (and check that one's value) and look at the clock only then.
enum GetBenchmark {
    /// One get in this many is timed and has its value checked.
    static let sampleInterval = 64

    /// What to run.
    struct Workload: Sendable {
        /// Concurrent readers (threads).
        let threads: Int
        /// How long readers start new gets.
        let duration: Duration
        /// How the keys are loaded.
        let loader: StoreLoader
    }

    /// One reader's tally.
    private struct ReaderTally: Sendable {
        var ops: UInt64 = 0
        var misses: UInt64 = 0
        var wrongValues: UInt64 = 0
        var latency = LatencyHistogram.make()
        var finished: ContinuousClock.Instant
    }

    /// Loads, reopens and reads in `directory`.
    ///
    /// - Throws: ``StoreError`` from the store; ``BenchError`` if a get missed a loaded key or
    ///   returned another key's value.
    static func run(
        _ workload: Workload, configuration: StoreConfiguration, directory: String, quiet: Bool
    ) async throws -> StoreBenchResult {
        let loader = workload.loader
        let (loading, _) = try await BenchStore.open(directory, configuration: configuration)
        let loadSeconds = try await BenchStore.closing(loading) {
            try await loader.load(into: loading, progress: quiet ? nil : ProgressLine(label: "get: loading \(loader.keys) keys"))
        }
        let (store, openSeconds) = try await BenchStore.open(directory, configuration: configuration)
        return try await BenchStore.closing(store) {
            let progress = quiet ? nil : ProgressLine(label: "get threads=\(workload.threads)")
            progress?.show("reading for \(Format.fixed(workload.duration.seconds, 1)) s ...")
            let (throughput, misses, wrong) = try await measure(workload, store: store)
            progress?.finish()
            guard misses == 0, wrong == 0 else {
                throw BenchError(
                    "get", path: directory,
                    detail: "\(misses) gets of loaded keys found nothing and \(wrong) sampled gets returned another value")
            }
            let statistics = store.statistics
            let replay = store.recoveryReport
            return StoreBenchResult(
                workload: "get", configuration: configuration.log, threads: workload.threads, valueSize: loader.valueSize,
                keys: statistics.keys, throughput: throughput, statistics: statistics.log,
                extra: [
                    ("latency_sample_every", .integer(Int64(sampleInterval))),
                    ("open_ms", .number(openSeconds * 1000, decimals: 3)),
                    ("replay_ms", .number(Double(replay.replayNanoseconds) / 1e6, decimals: 3)),
                    ("load_seconds", .number(loadSeconds, decimals: 3)),
                    ("load_keys_per_sec", .number(loadSeconds > 0 ? Double(loader.keys) / loadSeconds : 0, decimals: 1)),
                    ("load_writers", .integer(Int64(loader.writers))),
                    ("load_batch", .integer(Int64(loader.batch))),
                    ("index_bytes", .integer(Int64(statistics.indexBytes))),
                    ("compression_threshold", configuration.log.compressionThreshold.map { .integer(Int64($0)) } ?? .null),
                    ("cache_capacity_bytes", .integer(Int64(statistics.cache.capacityBytes))),
                    ("cache_hits", .integer(Int64(statistics.cache.hits))),
                    ("cache_misses", .integer(Int64(statistics.cache.misses))),
                    ("cache_hit_ratio", .number(statistics.cache.hitRatio, decimals: 4)),
                    ("cache_insertions", .integer(Int64(statistics.cache.insertions))),
                    ("cache_evictions", .integer(Int64(statistics.cache.evictions))),
                    ("cache_bytes", .integer(Int64(statistics.cache.bytes))),
                    ("cache_entries", .integer(Int64(statistics.cache.entries))),
                ])
        }
    }

    /// Runs the readers and merges their tallies; returns the throughput, the misses and the
    /// sampled values that were wrong.
    private static func measure(_ workload: Workload, store: Store) async throws -> (StoreBenchResult.Throughput, UInt64, UInt64) {
        let keys = UInt64(workload.loader.keys)
        let valueSize = workload.loader.valueSize
        let start = ContinuousClock.now
        let deadline = start + workload.duration
        let tallies = try await withThrowingTaskGroup(of: ReaderTally.self, returning: [ReaderTally].self) { group in
            for id in 0..<workload.threads {
                group.addTask {
                    try await DedicatedThread.run(name: "get-reader-\(id)") { () throws(StoreError) -> ReaderTally in
                        try readLoop(
                            store: store, keys: keys, valueSize: valueSize, seed: BenchKeys.mix(UInt64(id) &+ 0x5EED),
                            until: deadline)
                    }
                }
            }
            var tallies: [ReaderTally] = []
            for try await tally in group { tallies.append(tally) }
            return tallies
        }
        var latency = LatencyHistogram.make()
        var ops: UInt64 = 0, misses: UInt64 = 0, wrong: UInt64 = 0
        var end = start
        for tally in tallies {
            latency.add(tally.latency)
            ops += tally.ops
            misses += tally.misses
            wrong += tally.wrongValues
            end = max(end, tally.finished)
        }
        let throughput = StoreBenchResult.Throughput(ops: ops, seconds: start.duration(to: end).seconds, latency: latency)
        return (throughput, misses, wrong)
    }

    /// One reader (blocking; on its own thread): gets random loaded keys in rounds of
    /// ``sampleInterval``, the first of each round timed and checked, until `deadline`.
    private static func readLoop(
        store: Store, keys: UInt64, valueSize: Int, seed: UInt64, until deadline: ContinuousClock.Instant
    ) throws(StoreError) -> ReaderTally {
        let namespace = BenchKeys.namespace
        var tally = ReaderTally(finished: .now)
        var key = [UInt8](repeating: 0, count: BenchKeys.keySize)
        var state = seed | 1
        var now = ContinuousClock.now
        while now < deadline {
            // The timed get.
            var index = nextIndex(&state, keys: keys)
            BenchKeys.fill(&key, index: index)
            let began = ContinuousClock.now
            let found = try store.get(key, in: namespace)
            now = ContinuousClock.now
            tally.latency.record(min(began.duration(to: now).nanoseconds, AppendBenchmark.maxTrackableNanoseconds))
            if let found {
                if !BenchKeys.matches(found.value, index: index, valueSize: valueSize) { tally.wrongValues += 1 }
            } else {
                tally.misses += 1
            }
            // The untimed rest of the round.
            for _ in 1..<sampleInterval {
                index = nextIndex(&state, keys: keys)
                BenchKeys.fill(&key, index: index)
                if try store.get(key, in: namespace) == nil { tally.misses += 1 }
            }
            tally.ops += UInt64(sampleInterval)
        }
        tally.finished = ContinuousClock.now
        return tally
    }

    /// The next uniformly random key number below `keys` (xorshift64*, then a multiply-shift
    /// instead of a division).
    @inline(__always)
    private static func nextIndex(_ state: inout UInt64, keys: UInt64) -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        let random = state &* 0x2545_F491_4F6C_DD1D
        return random.multipliedFullWidth(by: keys).high
    }
}
