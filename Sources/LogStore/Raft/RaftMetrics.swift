import CLogStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
internal import Metrics

/// Which Raft operation a latency or count belongs to.
public enum RaftOperation: String, Sendable, CaseIterable {
    /// Appending entries (and possibly a hard state) to a group's log.
    case append
    /// Saving a hard state on its own.
    case hardState
    /// Reading entries (or terms) of a group.
    case read
    /// Discarding the entries before an index (compaction).
    case truncatePrefix
    /// Discarding the entries from an index on.
    case truncateSuffix
    /// Saving a snapshot.
    case saveSnapshot
    /// Loading a snapshot.
    case loadSnapshot
    /// Removing a group and all it holds.
    case removeGroup

    /// The position in ``allCases``.
    var slot: Int {
        switch self {
        case .append: 0
        case .hardState: 1
        case .read: 2
        case .truncatePrefix: 3
        case .truncateSuffix: 4
        case .saveSnapshot: 5
        case .loadSnapshot: 6
        case .removeGroup: 7
        }
    }
}

extension StoreError.Kind {
    /// Every kind, in the order of ``metricsIndex``.
    static let metricsLabels = [
        "invalidNamespace", "invalidKey", "keyTooLarge", "valueTooLarge", "invalidArgument", "versionMismatch",
        "corrupt", "io", "noSpace", "outcomeUnknown", "failed", "tooLarge", "closed", "busy", "outOfMemory",
        "compression", "compacted", "unavailable", "snapshotOutOfDate", "outOfOrder", "notFound", "readOnly",
    ]

    /// A stable position among the kinds, for per-kind counters (the switch has no `default`, so a new
    /// kind does not compile until it has a position and a label).
    var metricsIndex: Int {
        switch self {
        case .invalidNamespace: 0
        case .invalidKey: 1
        case .keyTooLarge: 2
        case .valueTooLarge: 3
        case .invalidArgument: 4
        case .versionMismatch: 5
        case .corrupt: 6
        case .io: 7
        case .noSpace: 8
        case .outcomeUnknown: 9
        case .failed: 10
        case .tooLarge: 11
        case .closed: 12
        case .busy: 13
        case .outOfMemory: 14
        case .compression: 15
        case .compacted: 16
        case .unavailable: 17
        case .snapshotOutOfDate: 18
        case .outOfOrder: 19
        case .notFound: 20
        case .readOnly: 21
        }
    }

    /// The kind's name as a metrics label value: the case name (`"corrupt"`, `"noSpace"`...).
    var metricsLabel: String { Self.metricsLabels[metricsIndex] }
}

/// Collects the metrics of a Raft log: per operation counts, entries, bytes, latencies and errors,
/// cache hits and misses, entries per append; publishes them through swift-metrics as they are
/// recorded and keeps its own totals for ``snapshot(log:)``.
///
/// Recording takes the lock of the operation's kind (a pthread mutex: one per ``RaftOperation``, one
/// for cache lookups and batch sizes), adds a few words, releases it and then calls the swift-metrics
/// handlers made in `init`; it never allocates. With swift-metrics' no-op factory (nothing
/// bootstrapped) the handlers are not called at all.
///
/// Published metrics (`<p>` is the label prefix; every one but the cache, batch and log ones has an
/// `operation` dimension with a ``RaftOperation`` raw value):
/// - `<p>_operations_total`, `<p>_entries_total`, `<p>_bytes_total`: counters;
/// - `<p>_duration_nanoseconds`: a timer, one value per operation;
/// - `<p>_errors_total`: a counter with a `kind` dimension as well (the ``StoreError/Kind`` case
///   name); made on the first error of each operation and kind, so unseen pairs do not show;
/// - `<p>_cache_hits_total`, `<p>_cache_misses_total`: counters of entry-cache lookups;
/// - `<p>_append_batch_entries`: a recorder of entries per append call;
/// - `<p>_fsyncs`, `<p>_commit_batch_mean`, `<p>_commit_batch_max`: gauges of the shared log,
///   refreshed by ``publish(log:)`` and ``snapshot(log:)``.
///
/// The handles are never destroyed: another collector with the same prefix (a reopened log) shares
/// them in most backends.
final class RaftMetrics: @unchecked Sendable {  // safe: mutable state is behind the pthread locks
    /// One operation's lock, counters and latency histogram.
    struct Slot {
        /// Guards `words` and `histogram`.
        let lock: UnsafeMutablePointer<pthread_mutex_t>
        /// `entries, bytes, errors`, then one error count per ``StoreError/Kind``.
        let words: UnsafeMutablePointer<UInt64>
        /// Latencies in nanoseconds; its count is the operation count.
        let histogram: LogLinearHistogram
    }

    /// The swift-metrics handlers of one operation. Handlers, not `Counter`/`Timer` objects: their
    /// calls are not generic, so they cost one dynamic call each (the generic `Counter.increment(by:)`
    /// is not always specialized across modules and then costs tens of nanoseconds).
    final class Handles: Sendable {
        let operations: any CounterHandler
        let entries: any CounterHandler
        let bytes: any CounterHandler
        let latency: any TimerHandler

        init(
            operations: any CounterHandler, entries: any CounterHandler, bytes: any CounterHandler,
            latency: any TimerHandler
        ) {
            self.operations = operations
            self.entries = entries
            self.bytes = bytes
            self.latency = latency
        }
    }

    /// Words before the per-kind error counts in ``Slot/words``.
    private static let slotHeaderWords = 3
    private static let kindCount = StoreError.Kind.metricsLabels.count

    private let labelPrefix: String
    private let factory: any MetricsFactory
    /// False when the factory is swift-metrics' no-op one (the default before a bootstrap): then the
    /// handlers are not called at all, which saves the reference counting of four dynamic calls.
    private let publishes: Bool
    private let slots: [Slot]
    private let handles: [Handles]

    /// Guards the cache counts, the batch histogram and `errorCounters`.
    private let miscLock: UnsafeMutablePointer<pthread_mutex_t>
    /// Cache hits, cache misses.
    private let cacheWords: UnsafeMutablePointer<UInt64>
    /// Entries per append call.
    private let batches: LogLinearHistogram
    /// `<p>_errors_total` per operation slot and kind index, made on first use.
    private var errorCounters: [(any CounterHandler)?]

    private let cacheHits: any CounterHandler
    private let cacheMisses: any CounterHandler
    private let batchRecorder: any RecorderHandler
    private let fsyncGauge: any RecorderHandler
    private let commitBatchMeanGauge: any RecorderHandler
    private let commitBatchMaxGauge: any RecorderHandler

    /// `labelPrefix` e.g. "logstore_raft"; `factory` nil = the global MetricsSystem factory (swift-metrics bootstrap)
    init(labelPrefix: String = "logstore_raft", factory: (any MetricsFactory)? = nil) {
        let factory = factory ?? MetricsSystem.factory
        self.labelPrefix = labelPrefix
        self.factory = factory
        publishes = !(factory is NOOPMetricsHandler)
        slots = RaftOperation.allCases.map { _ in
            let words = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.slotHeaderWords + Self.kindCount)
            words.initialize(repeating: 0, count: Self.slotHeaderWords + Self.kindCount)
            return Slot(lock: Self.makeLock(), words: words, histogram: .allocate())
        }
        handles = RaftOperation.allCases.map { operation in
            let dimensions = [("operation", operation.rawValue)]
            let latency = factory.makeTimer(label: labelPrefix + "_duration_nanoseconds", dimensions: dimensions)
            latency.preferDisplayUnit(.microseconds)
            return Handles(
                operations: factory.makeCounter(label: labelPrefix + "_operations_total", dimensions: dimensions),
                entries: factory.makeCounter(label: labelPrefix + "_entries_total", dimensions: dimensions),
                bytes: factory.makeCounter(label: labelPrefix + "_bytes_total", dimensions: dimensions),
                latency: latency)
        }
        miscLock = Self.makeLock()
        cacheWords = .allocate(capacity: 2)
        cacheWords.initialize(repeating: 0, count: 2)
        batches = .allocate()
        errorCounters = Array(repeating: nil, count: RaftOperation.allCases.count * Self.kindCount)
        cacheHits = factory.makeCounter(label: labelPrefix + "_cache_hits_total", dimensions: [])
        cacheMisses = factory.makeCounter(label: labelPrefix + "_cache_misses_total", dimensions: [])
        batchRecorder = factory.makeRecorder(
            label: labelPrefix + "_append_batch_entries", dimensions: [], aggregate: true)
        // Gauges: recorders that do not aggregate, as `Gauge` makes them.
        func gauge(_ name: String) -> any RecorderHandler {
            factory.makeRecorder(label: labelPrefix + name, dimensions: [], aggregate: false)
        }
        fsyncGauge = gauge("_fsyncs")
        commitBatchMeanGauge = gauge("_commit_batch_mean")
        commitBatchMaxGauge = gauge("_commit_batch_max")
    }

    deinit {
        for slot in slots {
            pthread_mutex_destroy(slot.lock)
            slot.lock.deallocate()
            slot.words.deallocate()
            slot.histogram.deallocate()
        }
        pthread_mutex_destroy(miscLock)
        miscLock.deallocate()
        cacheWords.deallocate()
        batches.deallocate()
    }

    private static func makeLock() -> UnsafeMutablePointer<pthread_mutex_t> {
        let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        lock.initialize(to: pthread_mutex_t())
        precondition(ls_mutex_init_adaptive(lock) == 0, "ls_mutex_init_adaptive failed")
        return lock
    }

    /// The current time of the monotonic clock in nanoseconds, for timing operations
    /// (`record(op, nanoseconds: RaftMetrics.now() - start)`).
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// Records one successful `operation` that took `nanoseconds` and moved `entries` entries and
    /// `bytes` payload bytes. A failed operation is counted by ``recordError(_:kind:)`` instead.
    func record(_ operation: RaftOperation, nanoseconds: UInt64, entries: Int = 0, bytes: Int = 0) {
        let index = operation.slot
        let slot = slots[index]
        pthread_mutex_lock(slot.lock)
        slot.words[0] &+= UInt64(truncatingIfNeeded: entries)
        slot.words[1] &+= UInt64(truncatingIfNeeded: bytes)
        slot.histogram.record(nanoseconds)
        pthread_mutex_unlock(slot.lock)
        guard publishes else { return }

        let handles = handles[index]
        handles.operations.increment(by: 1)
        if entries > 0 { handles.entries.increment(by: Int64(entries)) }
        if bytes > 0 { handles.bytes.increment(by: Int64(bytes)) }
        handles.latency.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    /// Counts one failed `operation` that threw an error of `kind`.
    func recordError(_ operation: RaftOperation, kind: StoreError.Kind) {
        let index = operation.slot
        let kindIndex = kind.metricsIndex
        let slot = slots[index]
        pthread_mutex_lock(slot.lock)
        slot.words[2] &+= 1
        slot.words[Self.slotHeaderWords + kindIndex] &+= 1
        pthread_mutex_unlock(slot.lock)
        guard publishes else { return }
        errorCounter(slot: index, operation: operation, kindIndex: kindIndex).increment(by: 1)
    }

    /// The `<p>_errors_total` counter of an operation and kind, made the first time it is needed.
    private func errorCounter(slot: Int, operation: RaftOperation, kindIndex: Int) -> any CounterHandler {
        let position = slot * Self.kindCount + kindIndex
        pthread_mutex_lock(miscLock)
        defer { pthread_mutex_unlock(miscLock) }
        if let counter = errorCounters[position] { return counter }
        let counter = factory.makeCounter(
            label: labelPrefix + "_errors_total",
            dimensions: [("operation", operation.rawValue), ("kind", StoreError.Kind.metricsLabels[kindIndex])])
        errorCounters[position] = counter
        return counter
    }

    /// Counts one entry-cache lookup.
    func recordCacheLookup(hit: Bool) {
        pthread_mutex_lock(miscLock)
        cacheWords[hit ? 0 : 1] &+= 1
        pthread_mutex_unlock(miscLock)
        guard publishes else { return }
        if hit { cacheHits.increment(by: 1) } else { cacheMisses.increment(by: 1) }
    }

    /// Counts several entry-cache lookups at once (a read of many entries).
    func recordCacheLookups(hits: Int, misses: Int) {
        guard hits > 0 || misses > 0 else { return }
        pthread_mutex_lock(miscLock)
        cacheWords[0] &+= UInt64(truncatingIfNeeded: Swift.max(hits, 0))
        cacheWords[1] &+= UInt64(truncatingIfNeeded: Swift.max(misses, 0))
        pthread_mutex_unlock(miscLock)
        guard publishes else { return }
        if hits > 0 { cacheHits.increment(by: Int64(hits)) }
        if misses > 0 { cacheMisses.increment(by: Int64(misses)) }
    }

    /// Records the number of entries of one append call (batch sizes).
    func recordBatch(entries: Int) {
        let value = UInt64(truncatingIfNeeded: Swift.max(entries, 0))
        pthread_mutex_lock(miscLock)
        batches.record(value)
        pthread_mutex_unlock(miscLock)
        guard publishes else { return }
        batchRecorder.record(Int64(clamping: value))
    }

    /// Sets the gauges of the shared log: fsyncs and group-commit batch sizes.
    func publish(log: LogStatistics) {
        guard publishes else { return }
        fsyncGauge.record(Int64(clamping: log.syncs))
        commitBatchMeanGauge.record(log.meanBatch)
        commitBatchMaxGauge.record(Int64(clamping: log.maxBatch))
    }

    /// A consistent copy; `log` supplies fsyncs and group-commit batch sizes from the shared log
    ///
    /// Every figure is read while all the collector's locks are held, so they agree with each other.
    /// Also refreshes the log gauges (``publish(log:)``).
    func snapshot(log: LogStatistics) -> RaftMetricsSnapshot {
        for slot in slots { pthread_mutex_lock(slot.lock) }
        pthread_mutex_lock(miscLock)
        var operations: [RaftOperation: RaftOperationMetrics] = [:]
        var errorsByKind: [String: Int] = [:]
        for operation in RaftOperation.allCases {
            let slot = slots[operation.slot]
            var kinds: [String: Int] = [:]
            for kind in 0..<Self.kindCount where slot.words[Self.slotHeaderWords + kind] > 0 {
                let label = StoreError.Kind.metricsLabels[kind]
                let count = Int(clamping: slot.words[Self.slotHeaderWords + kind])
                kinds[label] = count
                errorsByKind[label, default: 0] += count
            }
            operations[operation] = RaftOperationMetrics(
                count: Int(clamping: slot.histogram.words[0]), errors: Int(clamping: slot.words[2]),
                entries: Int(clamping: slot.words[0]), bytes: Int(clamping: slot.words[1]),
                latency: LatencySummary(slot.histogram), errorsByKind: kinds)
        }
        let hits = Int(clamping: cacheWords[0])
        let misses = Int(clamping: cacheWords[1])
        let batchSummary = BatchSizeSummary(batches)
        pthread_mutex_unlock(miscLock)
        for slot in slots.reversed() { pthread_mutex_unlock(slot.lock) }

        publish(log: log)
        return RaftMetricsSnapshot(
            operations: operations, cacheHits: hits, cacheMisses: misses, appendBatches: batchSummary,
            fsyncs: Int(clamping: log.syncs), meanCommitBatch: log.meanBatch,
            maxCommitBatch: Int(clamping: log.maxBatch),
            errorsByKind: errorsByKind)
    }
}

/// The figures of one kind of Raft operation.
public struct RaftOperationMetrics: Sendable, Hashable {
    /// Operations that succeeded (each timed in ``latency``).
    public var count: Int
    /// Operations that failed.
    public var errors: Int
    /// Entries they moved (appended, read, discarded...).
    public var entries: Int
    /// Payload bytes they moved.
    public var bytes: Int
    /// The latencies of the successful operations.
    public var latency: LatencySummary
    /// Failures by ``StoreError/Kind`` case name (`"compacted"`, `"io"`...); kinds never seen are absent.
    public var errorsByKind: [String: Int]

    /// Figures of an operation.
    public init(
        count: Int = 0, errors: Int = 0, entries: Int = 0, bytes: Int = 0, latency: LatencySummary = .empty,
        errorsByKind: [String: Int] = [:]
    ) {
        self.count = count
        self.errors = errors
        self.entries = entries
        self.bytes = bytes
        self.latency = latency
        self.errorsByKind = errorsByKind
    }
}

/// A consistent copy of a Raft log's metrics: per operation counts, entries, bytes, latencies and
/// errors, entry-cache hits, entries per append, and the fsyncs and group-commit batch sizes of the
/// shared log (which serve the key-value store as well as every Raft group).
public struct RaftMetricsSnapshot: Sendable, Hashable, CustomStringConvertible {
    /// The figures of every operation (each ``RaftOperation`` is present).
    public var operations: [RaftOperation: RaftOperationMetrics]
    /// Entry-cache lookups that found the entry.
    public var cacheHits: Int
    /// Entry-cache lookups that had to read the segment files.
    public var cacheMisses: Int
    /// Entries per append call.
    public var appendBatches: BatchSizeSummary
    /// `fdatasync` calls (or DSYNC writes) of the shared log since it opened.
    public var fsyncs: Int
    /// Mean appends per group commit of the shared log.
    public var meanCommitBatch: Double
    /// The most appends in one group commit of the shared log.
    public var maxCommitBatch: Int
    /// Failures of all operations by ``StoreError/Kind`` case name; kinds never seen are absent.
    public var errorsByKind: [String: Int]

    /// A snapshot from its figures.
    public init(
        operations: [RaftOperation: RaftOperationMetrics], cacheHits: Int, cacheMisses: Int,
        appendBatches: BatchSizeSummary, fsyncs: Int, meanCommitBatch: Double, maxCommitBatch: Int,
        errorsByKind: [String: Int]
    ) {
        self.operations = operations
        self.cacheHits = cacheHits
        self.cacheMisses = cacheMisses
        self.appendBatches = appendBatches
        self.fsyncs = fsyncs
        self.meanCommitBatch = meanCommitBatch
        self.maxCommitBatch = maxCommitBatch
        self.errorsByKind = errorsByKind
    }

    /// The figures of `operation` (all zero when it never ran).
    public subscript(operation: RaftOperation) -> RaftOperationMetrics {
        operations[operation] ?? RaftOperationMetrics()
    }

    /// Failures of all operations with errors of `kind`.
    public func errors(_ kind: StoreError.Kind) -> Int { errorsByKind[kind.metricsLabel] ?? 0 }

    /// Failures of all operations.
    public var totalErrors: Int { errorsByKind.values.reduce(0, +) }

    /// The share of entry-cache lookups that hit, 0...1 (0 when there were none).
    public var cacheHitRatio: Double {
        let lookups = cacheHits + cacheMisses
        return lookups == 0 ? 0 : Double(cacheHits) / Double(lookups)
    }

    /// A table with one line per operation (count, entries, MB — 10^6 bytes —, latency average,
    /// p50, p95, p99 and max in microseconds, errors), then the shared log's fsyncs and commit
    /// batches, entries per append, entry-cache hits, and the errors by kind when there are any.
    public var summary: String {
        let columns: [(title: String, width: Int)] = [
            ("operation", 15), ("count", 10), ("entries", 12), ("MB", 10), ("avg µs", 10), ("p50 µs", 10),
            ("p95 µs", 10), ("p99 µs", 10), ("max µs", 10), ("errors", 8),
        ]
        func row(_ cells: [String]) -> String {
            var line = ""
            for (index, (cell, column)) in zip(cells, columns).enumerated() {
                line += index == 0 ? pad(cell, column.width, left: true) : " " + pad(cell, column.width)
            }
            return line
        }
        var lines = ["Raft log metrics", row(columns.map(\.title))]
        for operation in RaftOperation.allCases {
            let m = self[operation]
            let us = { (d: Duration) in fixed(LatencySummary.microseconds(d), 1) }
            lines.append(
                row([
                    operation.rawValue, String(m.count), String(m.entries), fixed(Double(m.bytes) / 1e6, 2),
                    us(m.latency.average), us(m.latency.p50), us(m.latency.p95), us(m.latency.p99),
                    us(m.latency.max), String(m.errors),
                ]))
        }
        lines.append(
            "fsyncs \(fsyncs); commit batch mean \(fixed(meanCommitBatch, 1)) max \(maxCommitBatch); "
                + "entries per append avg \(fixed(appendBatches.average, 1)) p50 \(appendBatches.p50) "
                + "p99 \(appendBatches.p99) max \(appendBatches.max); "
                + "cache hits \(cacheHits) misses \(cacheMisses) (\(fixed(cacheHitRatio * 100, 1)) % hits)")
        if !errorsByKind.isEmpty {
            let kinds = errorsByKind.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            lines.append("errors by kind: " + kinds.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    /// The ``summary`` table.
    public var description: String { summary }
}

extension RaftMetricsSnapshot {
/// `text` padded with spaces to `width` characters, on the right (`left: true`) or the left.
fileprivate func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return left ? text + fill : fill + text
}

/// `value` with `decimals` digits after the point (no Foundation), rounded half away from zero.
fileprivate func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite, abs(value) < 1e15 else { return String(value) }
    var scale: UInt64 = 1
    for _ in 0..<decimals { scale *= 10 }
    let scaled = UInt64((abs(value) * Double(scale)).rounded())
    let whole = String(scaled / scale)
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard decimals > 0 else { return sign + whole }
    let fraction = String(scaled % scale)
    return sign + whole + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
}
}
