import ArgumentParser
import Foundation
import Histogram
import LogStore

/// What one `bench raft` run does.
struct RaftBenchWorkload: Sendable {
    /// Raft groups, one writer task each.
    let groups: Int
    /// Entries per append (one Raft batch).
    let batch: Int
    /// Payload bytes per entry.
    let valueSize: Int
    /// How long writers start new appends; `nil` when ``batchesPerGroup`` bounds the run.
    let duration: Duration?
    /// Appends each writer makes, instead of a duration.
    let batchesPerGroup: Int?
    /// DiskFirst or MemFirst.
    let persistence: RaftBenchPersistence

    /// Entries appended per writer round trip.
    var entriesPerBatch: UInt64 { UInt64(batch) }
}

/// `--persistence`: the command-line spelling of ``RaftPersistence`` for `bench raft`.
enum RaftBenchPersistence: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// `append` returns once durable: its latency is the time to durability.
    case diskFirst = "disk-first"
    /// `append` returns once readable (flush policy `immediate`); the writer then awaits
    /// `waitUntilDurable(group, through: last index)`, and that whole round trip is the latency.
    case memFirst = "mem-first"

    var persistence: RaftPersistence {
        switch self {
        case .diskFirst: .diskFirst
        case .memFirst: .memFirst(.immediate)
        }
    }

    /// What the latency histogram times, as the report names it.
    var latencyMeasures: String {
        switch self {
        case .diskFirst: "append"
        case .memFirst: "append+wait_durable"
        }
    }
}

/// The outcome of one `bench raft` run.
struct RaftBenchResult: Sendable {
    let workload: RaftBenchWorkload
    /// The log's configuration.
    let configuration: LogConfiguration
    /// The Raft log's entry cache, in bytes.
    let entryCacheBytes: Int
    /// Appends (Raft batches) that completed (durable).
    let appends: UInt64
    /// Entries in them.
    let entries: UInt64
    /// Seconds from the start until the last writer's last append was durable.
    let seconds: Double
    /// Per append: nanoseconds from calling `append` until the batch was durable.
    let latency: Histogram<UInt64>
    /// MemFirst only: nanoseconds from calling `append` until it returned (readable).
    let visibleLatency: Histogram<UInt64>?
    /// The log's counters over the timed phase (differences; `maxBatch` is the store's since open).
    let statistics: LogStatistics
    /// The Raft log's metrics summary after the run.
    let metricsSummary: String

    var entriesPerSecond: Double { seconds > 0 ? Double(entries) / seconds : 0 }
    var appendsPerSecond: Double { seconds > 0 ? Double(appends) / seconds : 0 }
    /// Entry payload bytes per second, in 10⁶ bytes per second.
    var megabytesPerSecond: Double { entriesPerSecond * Double(workload.valueSize) / 1e6 }
    /// Entries (records) per group commit.
    var entriesPerCommit: Double {
        statistics.batches == 0 ? 0 : Double(statistics.records) / Double(statistics.batches)
    }
}

/// `bench raft`: `groups` writer tasks, each appending batches of `batch` entries to its own
/// group of a fresh store (consecutive indexes, term 1, one shared payload pattern) and
/// awaiting each batch's durability before the next, until the duration has passed or each
/// made `batchesPerGroup` appends.
///
/// Latencies go to a few shared histograms (a histogram is about 30 KB, too much for one per
/// writer when there are thousands), each behind its own lock.
enum RaftBenchmark {
    /// Histograms the writers share, writer `w` using `w % shards`.
    static let maxShards = 16

    /// Opens a fresh store in `directory`, runs the writers, reads the counters, closes it.
    ///
    /// - Throws: The first ``StoreError`` of open, an append, or close.
    static func run(
        _ workload: RaftBenchWorkload, configuration: StoreConfiguration, directory: String, progress: ProgressLine?
    ) async throws -> RaftBenchResult {
        var configuration = configuration
        configuration.raft.persistence = workload.persistence.persistence
        let (store, _) = try await BenchStore.open(directory, configuration: configuration)
        let log = configuration.log
        let entryCacheBytes = configuration.raft.entryCacheBytes
        return try await BenchStore.closing(store) {
            try await measure(workload, store: store, configuration: log, entryCacheBytes: entryCacheBytes, progress: progress)
        }
    }

    /// One writer's totals.
    private struct WriterTally: Sendable {
        var appends: UInt64
        var finished: ContinuousClock.Instant
    }

    /// Latency histograms shared by several writers.
    private final class Shard: @unchecked Sendable {  // safe: `lock` guards both histograms
        private let lock = NSLock()
        private var durable = LatencyHistogram.make()
        private var visible: Histogram<UInt64>?

        init(memFirst: Bool) { visible = memFirst ? LatencyHistogram.make() : nil }

        func record(durable nanoseconds: UInt64, visible visibleNanoseconds: UInt64?) {
            let cap = AppendBenchmark.maxTrackableNanoseconds
            lock.lock()
            durable.record(min(nanoseconds, cap))
            if let visibleNanoseconds { visible?.record(min(visibleNanoseconds, cap)) }
            lock.unlock()
        }

        func histograms() -> (Histogram<UInt64>, Histogram<UInt64>?) {
            lock.lock()
            defer { lock.unlock() }
            return (durable, visible)
        }
    }

    private static func measure(
        _ workload: RaftBenchWorkload, store: Store, configuration: LogConfiguration, entryCacheBytes: Int,
        progress: ProgressLine?
    ) async throws -> RaftBenchResult {
        let payload = AppendBenchmark.patternBytes(count: workload.valueSize)
        let memFirst = workload.persistence == .memFirst
        let shards = (0..<min(workload.groups, maxShards)).map { _ in Shard(memFirst: memFirst) }
        let before = store.statistics.log
        let start = ContinuousClock.now
        let deadline = workload.duration.map { start + $0 }
        let tallies = try await withThrowingTaskGroup(of: WriterTally?.self, returning: [WriterTally].self) { group in
            if let progress {
                group.addTask {
                    await Self.progress(progress, store: store, before: before.records, start: start)
                    return nil
                }
            }
            for id in 0..<workload.groups {
                let shard = shards[id % shards.count]
                group.addTask {
                    try await writeLoop(
                        RaftGroupID(UInt64(id) + 1), raft: store.raft, workload: workload, payload: payload, shard: shard,
                        until: deadline)
                }
            }
            var tallies: [WriterTally] = []
            do {
                while let outcome = try await group.next() {
                    if let tally = outcome { tallies.append(tally) }
                    if tallies.count == workload.groups { group.cancelAll() }  // ends the progress line
                }
            } catch {
                group.cancelAll()  // stop the other writers; the first error is thrown
                throw error
            }
            return tallies
        }
        progress?.finish()
        let after = store.statistics.log
        var latency = LatencyHistogram.make()
        var visible: Histogram<UInt64>? = memFirst ? LatencyHistogram.make() : nil
        for shard in shards {
            let (durable, shown) = shard.histograms()
            latency.add(durable)
            if let shown { visible?.add(shown) }
        }
        var appends: UInt64 = 0
        var end = start
        for tally in tallies {
            appends += tally.appends
            end = max(end, tally.finished)
        }
        return RaftBenchResult(
            workload: workload, configuration: configuration, entryCacheBytes: entryCacheBytes, appends: appends, entries: appends * workload.entriesPerBatch,
            seconds: start.duration(to: end).seconds, latency: latency, visibleLatency: visible,
            statistics: difference(after, before), metricsSummary: store.raft.metricsSnapshot.summary)
    }

    /// One writer: appends batches of consecutive entries to `group`, each durable before the
    /// next, until `deadline` (or its count of batches) or cancellation.
    private static func writeLoop(
        _ group: RaftGroupID, raft: RaftLog, workload: RaftBenchWorkload, payload: [UInt8], shard: Shard,
        until deadline: ContinuousClock.Instant?
    ) async throws(StoreError) -> WriterTally {
        let memFirst = workload.persistence == .memFirst
        var entries = (0..<workload.batch).map { RaftEntry(index: UInt64($0) + 1, term: 1, payload: payload) }
        var next: UInt64 = 1
        var appends: UInt64 = 0
        // One clock read per append (two for MemFirst): each one ends an append and begins the next.
        var now = ContinuousClock.now
        while !Task.isCancelled {
            if let deadline, now >= deadline { break }
            if let count = workload.batchesPerGroup, appends >= count { break }
            if next != entries[0].index {
                for i in entries.indices { entries[i].index = next + UInt64(i) }
            }
            let began = now
            try await raft.append(group, entries)
            var visible: UInt64?
            if memFirst {
                visible = began.duration(to: .now).nanoseconds
                try await raft.waitUntilDurable(group, through: next + workload.entriesPerBatch - 1)
            }
            now = ContinuousClock.now
            shard.record(durable: began.duration(to: now).nanoseconds, visible: visible)
            appends += 1
            next += workload.entriesPerBatch
        }
        return WriterTally(appends: appends, finished: now)
    }

    /// The progress line: durable entries (log records) so far and their rate, once a second.
    private static func progress(_ progress: ProgressLine, store: Store, before: UInt64, start: ContinuousClock.Instant) async {
        while true {
            do {
                try await Task.sleep(for: ProgressLine.interval)
            } catch {
                return  // CancellationError: the run ended.
            }
            let elapsed = start.duration(to: .now).seconds
            let entries = store.statistics.log.records - before
            let rate = elapsed > 0 ? Double(entries) / elapsed : 0
            progress.show("\(Format.fixed(elapsed, 1)) s  \(entries) entries  \(Format.fixed(rate, 0)) entries/s")
        }
    }

    /// The counters of `after` less those of `before` (the largest batch stays `after`'s).
    private static func difference(_ after: LogStatistics, _ before: LogStatistics) -> LogStatistics {
        var delta = after
        delta.appends -= before.appends
        delta.records -= before.records
        delta.batches -= before.batches
        delta.frames -= before.frames
        delta.bytesWritten -= before.bytesWritten
        delta.syncs -= before.syncs
        delta.rotations -= before.rotations
        delta.rotationWaits -= before.rotationWaits
        delta.lingerWaits -= before.lingerWaits
        delta.syncNanoseconds -= before.syncNanoseconds
        delta.gatherNanoseconds -= before.gatherNanoseconds
        delta.pipelinedBatches -= before.pipelinedBatches
        delta.idleSpins -= before.idleSpins
        return delta
    }
}
