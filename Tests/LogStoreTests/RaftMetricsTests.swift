import CoreMetrics
import Foundation
import Testing

@testable import LogStore

/// The Raft log's metrics collector (DESIGN §6): latency summaries within the histogram's
/// precision, counts, bytes, errors, the summary table, exact counts under concurrency and the
/// swift-metrics publication.
@Suite struct RaftMetricsTests {
    /// The histogram's stated precision: a percentile is within 1/64 of the exact one.
    static let precision = 1.0 / 64

    /// The exact nearest-rank percentile of `sorted` (`permille` thousandths).
    static func exactPercentile(_ sorted: [UInt64], permille: Int) -> UInt64 {
        let rank = max(1, (sorted.count * permille + 999) / 1000)
        return sorted[rank - 1]
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// `actual` is within the histogram's precision of `expected`.
    static func expectClose(
        _ actual: UInt64, _ expected: UInt64, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let error = abs(Double(actual) - Double(expected))
        #expect(
            error <= Double(expected) * precision, "\(what): \(actual) vs exact \(expected)",
            sourceLocation: sourceLocation)
    }

    /// Checks a latency summary against the exact figures of `values`.
    static func expectSummary(
        _ summary: LatencySummary, of values: [UInt64], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let sorted = values.sorted()
        #expect(summary.count == values.count, sourceLocation: sourceLocation)
        let sum = values.reduce(UInt64(0), +)
        #expect(nanoseconds(summary.average) == sum / UInt64(values.count), sourceLocation: sourceLocation)
        #expect(nanoseconds(summary.min) == sorted.first, sourceLocation: sourceLocation)
        #expect(nanoseconds(summary.max) == sorted.last, sourceLocation: sourceLocation)
        for (value, permille) in [(summary.p50, 500), (summary.p95, 950), (summary.p99, 990)] {
            expectClose(
                nanoseconds(value), exactPercentile(sorted, permille: permille), "p\(permille / 10)",
                sourceLocation: sourceLocation)
        }
    }

    static func logStatistics(syncs: UInt64 = 0, appends: UInt64 = 0, batches: UInt64 = 0, maxBatch: UInt64 = 0)
        -> LogStatistics
    {
        LogStatistics(
            appends: appends, records: appends, batches: batches, frames: batches, bytesWritten: 0, syncs: syncs,
            maxBatch: maxBatch, rotations: 0, rotationWaits: 0, lingerWaits: 0, syncNanoseconds: 0,
            gatherNanoseconds: 0, pipelinedBatches: 0, idleSpins: 0, durableLSN: 0, backend: "pwritev")
    }

    @Test func latencyPercentilesOfOneToAHundredMicroseconds() {
        let metrics = RaftMetrics(factory: RecordingMetricsFactory())
        let values = (1...100).map { UInt64($0) * 1000 }
        for value in values.shuffled() { metrics.record(.append, nanoseconds: value) }
        let latency = metrics.snapshot(log: Self.logStatistics())[.append].latency
        Self.expectSummary(latency, of: values)
        #expect(latency.average == .nanoseconds(50_500))
        #expect(latency.max == .microseconds(100))
        #expect(latency.min == .microseconds(1))
    }

    @Test func smallValuesAreExact() {
        let metrics = RaftMetrics(factory: RecordingMetricsFactory())
        for value in 0..<64 { metrics.record(.read, nanoseconds: UInt64(value)) }
        let latency = metrics.snapshot(log: Self.logStatistics())[.read].latency
        #expect(latency.p50 == .nanoseconds(31))
        #expect(latency.p95 == .nanoseconds(60))
        #expect(latency.p99 == .nanoseconds(63))
        #expect(latency.max == .nanoseconds(63))
        #expect(latency.min == .zero)
    }

    @Test func skewedRandomLatenciesAreWithinPrecision() {
        var generator = SplitMix(state: 42)
        // Mostly ~50 µs with a long tail up to ~50 ms, like fsync-bound appends.
        let values = (0..<20_000).map { _ -> UInt64 in
            let base = 20_000 + generator.next() % 60_000
            return generator.next() % 100 < 3 ? base * (1 + generator.next() % 1000) : base
        }
        let metrics = RaftMetrics(factory: RecordingMetricsFactory())
        for value in values { metrics.record(.saveSnapshot, nanoseconds: value) }
        Self.expectSummary(metrics.snapshot(log: Self.logStatistics())[.saveSnapshot].latency, of: values)
    }

    @Test func everyBucketBoundaryIsWithinPrecision() {
        // Each value alone: its percentiles clamp to min...max, so they are exact.
        for shift in 0..<63 {
            for value in [UInt64(1) << shift, (UInt64(1) << shift) + 1, (UInt64(1) << (shift + 1)) - 1] {
                let histogram = LogLinearHistogram.allocate()
                defer { histogram.deallocate() }
                histogram.record(value)
                let stats = histogram.statistics()
                #expect(stats.p50 == value && stats.p99 == value && stats.average == value)
                // And the bucket's representative is within precision of the value.
                let representative = LogLinearHistogram.representative(ofBucket: LogLinearHistogram.bucketIndex(value))
                Self.expectClose(representative, value, "representative of \(value)")
                #expect(LogLinearHistogram.bucketIndex(value) < LogLinearHistogram.bucketCount)
            }
        }
        #expect(LogLinearHistogram.bucketIndex(.max) == LogLinearHistogram.bucketCount - 1)
    }

    @Test func emptyAndSingleValueSummaries() {
        let metrics = RaftMetrics(factory: RecordingMetricsFactory())
        #expect(metrics.snapshot(log: Self.logStatistics())[.loadSnapshot].latency == .empty)
        #expect(metrics.snapshot(log: Self.logStatistics()).appendBatches == .empty)
        metrics.record(.loadSnapshot, nanoseconds: 1_234_567)
        let latency = metrics.snapshot(log: Self.logStatistics())[.loadSnapshot].latency
        let exact = Duration.nanoseconds(1_234_567)
        #expect(
            latency
                == LatencySummary(count: 1, average: exact, min: exact, max: exact, p50: exact, p95: exact, p99: exact))
    }

    @Test func countsEntriesBytesAndErrors() {
        let metrics = RaftMetrics(factory: RecordingMetricsFactory())
        for _ in 0..<10 { metrics.record(.append, nanoseconds: 5_000, entries: 4, bytes: 1_000) }
        metrics.record(.read, nanoseconds: 1_000, entries: 7, bytes: 700)
        metrics.record(.truncatePrefix, nanoseconds: 2_000, entries: 100)
        metrics.record(.hardState, nanoseconds: 3_000)
        metrics.recordError(.read, kind: .compacted)
        metrics.recordError(.read, kind: .compacted)
        metrics.recordError(.read, kind: .unavailable)
        metrics.recordError(.append, kind: .outOfOrder)
        metrics.recordError(.saveSnapshot, kind: .snapshotOutOfDate)
        metrics.recordCacheLookup(hit: true)
        metrics.recordCacheLookup(hit: true)
        metrics.recordCacheLookup(hit: false)
        metrics.recordCacheLookups(hits: 5, misses: 1)
        for entries in 1...100 { metrics.recordBatch(entries: entries) }

        let log = Self.logStatistics(syncs: 42, appends: 120, batches: 40, maxBatch: 9)
        let snapshot = metrics.snapshot(log: log)
        #expect(snapshot[.append] == RaftOperationMetrics(
            count: 10, errors: 1, entries: 40, bytes: 10_000, latency: snapshot[.append].latency,
            errorsByKind: ["outOfOrder": 1]))
        #expect(snapshot[.append].latency.p99 == .microseconds(5))
        #expect(snapshot[.read].count == 1)
        #expect(snapshot[.read].entries == 7)
        #expect(snapshot[.read].bytes == 700)
        #expect(snapshot[.read].errors == 3)
        #expect(snapshot[.read].errorsByKind == ["compacted": 2, "unavailable": 1])
        #expect(snapshot[.truncatePrefix].entries == 100)
        #expect(snapshot[.hardState].count == 1)
        #expect(snapshot[.removeGroup] == RaftOperationMetrics())
        #expect(snapshot.operations.count == RaftOperation.allCases.count)
        #expect(snapshot.errorsByKind == ["compacted": 2, "unavailable": 1, "outOfOrder": 1, "snapshotOutOfDate": 1])
        #expect(snapshot.errors(.compacted) == 2)
        #expect(snapshot.errors(.io) == 0)
        #expect(snapshot.totalErrors == 5)
        #expect(snapshot.cacheHits == 7)
        #expect(snapshot.cacheMisses == 2)
        #expect(abs(snapshot.cacheHitRatio - 7.0 / 9) < 1e-12)
        #expect(snapshot.appendBatches.count == 100)
        #expect(snapshot.appendBatches.total == 5_050)
        #expect(snapshot.appendBatches.average == 50.5)
        #expect(snapshot.appendBatches.max == 100)
        #expect(snapshot.appendBatches.p50 == 50)  // exact below 64
        Self.expectClose(UInt64(snapshot.appendBatches.p99), 99, "batch p99")
        #expect(snapshot.fsyncs == 42)
        #expect(snapshot.meanCommitBatch == 3)
        #expect(snapshot.maxCommitBatch == 9)
    }

    @Test func summaryShowsTheFigures() throws {
        let metrics = RaftMetrics(factory: RecordingMetricsFactory())
        for value in 1...100 { metrics.record(.append, nanoseconds: UInt64(value) * 1000, entries: 3, bytes: 25_000) }
        metrics.recordError(.read, kind: .compacted)
        metrics.recordCacheLookups(hits: 3, misses: 1)
        metrics.recordBatch(entries: 3)
        let snapshot = metrics.snapshot(log: Self.logStatistics(syncs: 17, appends: 30, batches: 12, maxBatch: 5))
        let lines = snapshot.summary.split(separator: "\n").map(String.init)
        let header = try #require(lines.first { $0.hasPrefix("operation") })
        #expect(
            header.split(separator: " ").joined(separator: " ")
                == "operation count entries MB avg µs p50 µs p95 µs p99 µs max µs errors")
        let append = try #require(lines.first { $0.hasPrefix("append ") })
        let latency = snapshot[.append].latency
        let us = { (d: Duration) in String(format: "%.1f", LatencySummary.microseconds(d)) }
        // count, entries, MB (2.5 MB), avg, p50, p95, p99, max (µs), errors
        #expect(
            append.split(separator: " ").map(String.init) == [
                "append", "100", "300", "2.50", "50.5", us(latency.p50), us(latency.p95), us(latency.p99), "100.0", "0",
            ])
        #expect(us(latency.p95) != us(latency.p50))
        let read = try #require(lines.first { $0.hasPrefix("read ") })
        #expect(read.split(separator: " ").last == "1")
        for operation in RaftOperation.allCases {
            #expect(lines.contains { $0.hasPrefix(operation.rawValue + " ") })
        }
        #expect(snapshot.summary.contains("fsyncs 17"))
        #expect(snapshot.summary.contains("commit batch mean 2.5 max 5"))
        #expect(snapshot.summary.contains("entries per append avg 3.0 p50 3 p99 3 max 3"))
        #expect(snapshot.summary.contains("cache hits 3 misses 1 (75.0 % hits)"))
        #expect(snapshot.summary.contains("errors by kind: compacted 1"))
        #expect(snapshot.description == snapshot.summary)
        #expect(snapshot.summary.hasPrefix("Raft log metrics"))
    }

    @Test func concurrentRecordingGivesExactCounts() async {
        let factory = RecordingMetricsFactory()
        let metrics = RaftMetrics(factory: factory)
        let tasks = 16
        let perTask = 5_000
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    let operation = RaftOperation.allCases[task % RaftOperation.allCases.count]
                    for i in 0..<perTask {
                        metrics.record(operation, nanoseconds: UInt64(1_000 + i), entries: 1, bytes: 10)
                        metrics.record(.append, nanoseconds: 500, entries: 2, bytes: 3)
                        metrics.recordBatch(entries: 2)
                        metrics.recordCacheLookup(hit: i % 4 != 0)
                        if i % 100 == 0 { metrics.recordError(.read, kind: .io) }
                    }
                }
            }
            // Snapshots taken meanwhile are consistent: every append so far moved 2 entries
            // except those of the tasks recording `.append` themselves (1 entry, 10 bytes).
            group.addTask {
                for _ in 0..<50 {
                    let read = metrics.snapshot(log: Self.logStatistics())[.read]
                    #expect(read.entries == read.count && read.bytes == 10 * read.count)
                    #expect(read.latency.count == read.count)
                    await Task.yield()
                }
            }
        }
        let snapshot = metrics.snapshot(log: Self.logStatistics())
        let operations = RaftOperation.allCases.count
        for (index, operation) in RaftOperation.allCases.enumerated() {
            let ownTasks = (0..<tasks).filter { $0 % operations == index }.count
            let extra = operation == .append ? tasks * perTask : 0
            #expect(snapshot[operation].count == ownTasks * perTask + extra)
            #expect(snapshot[operation].entries == ownTasks * perTask + 2 * extra)
            #expect(snapshot[operation].bytes == 10 * ownTasks * perTask + 3 * extra)
        }
        #expect(snapshot[.read].errors == tasks * perTask / 100)
        #expect(snapshot.errors(.io) == tasks * perTask / 100)
        #expect(snapshot.appendBatches.count == tasks * perTask)
        #expect(snapshot.appendBatches.total == 2 * tasks * perTask)
        #expect(snapshot.cacheHits == tasks * perTask * 3 / 4)
        #expect(snapshot.cacheMisses == tasks * perTask / 4)
        // swift-metrics saw the same.
        #expect(factory.counter("logstore_raft_operations_total", ["operation": "append"]) == snapshot[.append].count)
        #expect(factory.counter("logstore_raft_cache_hits_total") == snapshot.cacheHits)
        #expect(factory.timerValues("logstore_raft_duration_nanoseconds", ["operation": "append"]).count
            == snapshot[.append].count)
    }

    @Test func publishesThroughSwiftMetrics() {
        let factory = RecordingMetricsFactory()
        let metrics = RaftMetrics(labelPrefix: "test_raft", factory: factory)
        let madeAtInit = factory.made
        metrics.record(.append, nanoseconds: 7_000, entries: 3, bytes: 300)
        metrics.record(.append, nanoseconds: 9_000, entries: 2, bytes: 200)
        metrics.record(.read, nanoseconds: 1_500, entries: 5, bytes: 500)
        metrics.recordBatch(entries: 3)
        metrics.recordBatch(entries: 2)
        metrics.recordCacheLookup(hit: true)
        metrics.recordCacheLookup(hit: false)
        metrics.recordCacheLookups(hits: 4, misses: 0)
        #expect(factory.made == madeAtInit, "recording makes no handles")
        metrics.recordError(.read, kind: .compacted)
        metrics.recordError(.read, kind: .compacted)
        metrics.recordError(.append, kind: .noSpace)
        #expect(factory.made == madeAtInit + 2, "one error counter per operation and kind, made once")

        let append = ["operation": "append"]
        #expect(factory.counter("test_raft_operations_total", append) == 2)
        #expect(factory.counter("test_raft_entries_total", append) == 5)
        #expect(factory.counter("test_raft_bytes_total", append) == 500)
        #expect(factory.timerValues("test_raft_duration_nanoseconds", append) == [7_000, 9_000])
        #expect(factory.counter("test_raft_operations_total", ["operation": "read"]) == 1)
        #expect(factory.counter("test_raft_bytes_total", ["operation": "read"]) == 500)
        #expect(factory.timerValues("test_raft_duration_nanoseconds", ["operation": "read"]) == [1_500])
        #expect(factory.counter("test_raft_operations_total", ["operation": "removeGroup"]) == 0)
        #expect(factory.counter("test_raft_errors_total", ["operation": "read", "kind": "compacted"]) == 2)
        #expect(factory.counter("test_raft_errors_total", ["operation": "append", "kind": "noSpace"]) == 1)
        #expect(factory.counter("test_raft_cache_hits_total") == 5)
        #expect(factory.counter("test_raft_cache_misses_total") == 1)
        #expect(factory.recorderValues("test_raft_append_batch_entries") == [3, 2])
        // Every operation has its handles, with the `operation` dimension.
        for operation in RaftOperation.allCases {
            #expect(factory.exists("test_raft_operations_total", ["operation": operation.rawValue]))
            #expect(factory.exists("test_raft_duration_nanoseconds", ["operation": operation.rawValue]))
        }

        _ = metrics.snapshot(log: Self.logStatistics(syncs: 11, appends: 30, batches: 10, maxBatch: 6))
        #expect(factory.recorderValues("test_raft_fsyncs") == [11])
        #expect(factory.recorderValues("test_raft_commit_batch_mean") == [3])
        #expect(factory.recorderValues("test_raft_commit_batch_max") == [6])
    }

    @Test func withoutAFactoryItStillCounts() {
        // The global factory (never bootstrapped by the tests): swift-metrics' no-op one, or whatever
        // another suite installed; the collector's own figures do not depend on it.
        let metrics = RaftMetrics()
        metrics.record(.removeGroup, nanoseconds: 10_000, entries: 1)
        metrics.recordError(.removeGroup, kind: .closed)
        metrics.recordCacheLookup(hit: false)
        metrics.recordBatch(entries: 5)
        let snapshot = metrics.snapshot(log: Self.logStatistics(syncs: 1))
        #expect(snapshot[.removeGroup].count == 1)
        #expect(snapshot[.removeGroup].errorsByKind == ["closed": 1])
        #expect(snapshot.cacheMisses == 1)
        #expect(snapshot.appendBatches.max == 5)
        #expect(snapshot.fsyncs == 1)
    }

    @Test func errorKindLabelsAreStableAndDistinct() {
        let kinds: [StoreError.Kind] = [
            .invalidNamespace, .invalidKey, .keyTooLarge, .valueTooLarge, .invalidArgument, .versionMismatch,
            .corrupt, .io, .noSpace, .outcomeUnknown, .failed, .tooLarge, .closed, .busy, .outOfMemory,
            .compression, .compacted, .unavailable, .snapshotOutOfDate, .outOfOrder, .notFound, .readOnly,
        ]
        #expect(kinds.count == StoreError.Kind.metricsLabels.count)
        #expect(Set(kinds.map(\.metricsIndex)) == Set(0..<kinds.count))
        for kind in kinds { #expect(kind.metricsLabel == String(describing: kind)) }
    }
}

/// A swift-metrics backend that keeps every value, for tests (passed to `RaftMetrics.init`, never
/// bootstrapped: the metrics system is process-global).
final class RecordingMetricsFactory: MetricsFactory, @unchecked Sendable {  // safe: `lock` guards the state
    /// A metric's identity: label and sorted dimensions.
    struct Key: Hashable {
        let label: String
        let dimensions: [String]
        init(_ label: String, _ dimensions: [(String, String)]) {
            self.label = label
            self.dimensions = dimensions.map { "\($0.0)=\($0.1)" }.sorted()
        }
    }

    /// Values recorded by one handler.
    final class Handler: CounterHandler, RecorderHandler, TimerHandler, @unchecked Sendable {
        private let lock = NSLock()
        private var total: Int64 = 0
        private var recorded: [Double] = []
        var value: Int64 { lock.withLock { total } }
        var values: [Double] { lock.withLock { recorded } }
        func increment(by amount: Int64) { lock.withLock { total += amount } }
        func reset() { lock.withLock { total = 0 } }
        func record(_ value: Int64) { lock.withLock { recorded.append(Double(value)) } }
        func record(_ value: Double) { lock.withLock { recorded.append(value) } }
        func recordNanoseconds(_ duration: Int64) { lock.withLock { recorded.append(Double(duration)) } }
    }

    private let lock = NSLock()
    private var handlers: [Key: Handler] = [:]
    private var makeCalls = 0

    /// How many handles were made.
    var made: Int { lock.withLock { makeCalls } }

    private func handler(_ label: String, _ dimensions: [(String, String)]) -> Handler {
        lock.withLock {
            makeCalls += 1
            let key = Key(label, dimensions)
            if let handler = handlers[key] { return handler }
            let handler = Handler()
            handlers[key] = handler
            return handler
        }
    }

    private func find(_ label: String, _ dimensions: [String: String]) -> Handler? {
        lock.withLock { handlers[Key(label, dimensions.map { ($0.key, $0.value) })] }
    }

    func exists(_ label: String, _ dimensions: [String: String] = [:]) -> Bool { find(label, dimensions) != nil }
    func counter(_ label: String, _ dimensions: [String: String] = [:]) -> Int {
        Int(find(label, dimensions)?.value ?? -1)
    }
    func timerValues(_ label: String, _ dimensions: [String: String] = [:]) -> [Double] {
        find(label, dimensions)?.values ?? []
    }
    func recorderValues(_ label: String, _ dimensions: [String: String] = [:]) -> [Double] {
        find(label, dimensions)?.values ?? []
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { handler(label, dimensions) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        handler(label, dimensions)
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { handler(label, dimensions) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
