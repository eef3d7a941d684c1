/// The latencies of one kind of Raft operation: how many were timed, their mean, extremes and
/// percentiles.
///
/// Values are `Duration`s (nanosecond resolution). ``count``, ``average``, ``min`` and ``max`` are
/// exact; the percentiles come from a log-linear histogram and are within 1/64 (1.6 %) of the exact
/// nearest-rank percentile (exact below 64 ns), and never outside `min...max`. All zero when
/// nothing was timed.
public struct LatencySummary: Sendable, Hashable {
    /// How many operations were timed.
    public var count: Int
    /// The mean latency (exact, truncated to the nanosecond).
    public var average: Duration
    /// The shortest latency (exact).
    public var min: Duration
    /// The longest latency (exact).
    public var max: Duration
    /// The median: half of the operations took at most this long.
    public var p50: Duration
    /// 95 % of the operations took at most this long.
    public var p95: Duration
    /// 99 % of the operations took at most this long.
    public var p99: Duration

    /// A summary from its figures.
    public init(
        count: Int, average: Duration, min: Duration, max: Duration, p50: Duration, p95: Duration, p99: Duration
    ) {
        self.count = count
        self.average = average
        self.min = min
        self.max = max
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
    }

    /// Nothing timed: every figure zero.
    public static let empty = LatencySummary(
        count: 0, average: .zero, min: .zero, max: .zero, p50: .zero, p95: .zero, p99: .zero)

    /// A duration in microseconds, for display.
    public static func microseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
    }

    /// The summary of a histogram of nanoseconds.
    init(_ histogram: LogLinearHistogram) {
        let stats = histogram.statistics()
        func duration(_ ns: UInt64) -> Duration { .nanoseconds(Int64(clamping: ns)) }
        self.init(
            count: Int(clamping: stats.count), average: duration(stats.average), min: duration(stats.min),
            max: duration(stats.max), p50: duration(stats.p50), p95: duration(stats.p95), p99: duration(stats.p99))
    }
}

/// The number of entries per append call (the batch sizes Raft hands to the log).
///
/// ``count``, ``average`` and ``max`` are exact; the percentiles are exact up to 63 entries and
/// within 1/64 (1.6 %) of the exact nearest-rank percentile above. All zero when nothing was recorded.
public struct BatchSizeSummary: Sendable, Hashable {
    /// How many append calls were recorded.
    public var count: Int
    /// The entries in all of them.
    public var total: Int
    /// Mean entries per append.
    public var average: Double
    /// The most entries in one append.
    public var max: Int
    /// Half of the appends carried at most this many entries.
    public var p50: Int
    /// 95 % of the appends carried at most this many entries.
    public var p95: Int
    /// 99 % of the appends carried at most this many entries.
    public var p99: Int

    /// A summary from its figures.
    public init(count: Int, total: Int, average: Double, max: Int, p50: Int, p95: Int, p99: Int) {
        self.count = count
        self.total = total
        self.average = average
        self.max = max
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
    }

    /// Nothing recorded: every figure zero.
    public static let empty = BatchSizeSummary(count: 0, total: 0, average: 0, max: 0, p50: 0, p95: 0, p99: 0)

    /// The summary of a histogram of entry counts.
    init(_ histogram: LogLinearHistogram) {
        let stats = histogram.statistics()
        self.init(
            count: Int(clamping: stats.count), total: Int(clamping: stats.sum),
            average: stats.count == 0 ? 0 : Double(stats.sum) / Double(stats.count), max: Int(clamping: stats.max),
            p50: Int(clamping: stats.p50), p95: Int(clamping: stats.p95), p99: Int(clamping: stats.p99))
    }
}

/// A histogram of `UInt64` values in fixed log-linear buckets, with exact count, sum, min and max.
///
/// Values below 64 have a bucket each; above, every power-of-two range `[2^e, 2^(e+1))` is split
/// into 32 equal buckets, so a bucket is at most 1/32 of its values wide and the reported value
/// (the bucket's middle, clamped to `min...max`) is within 1/64 of any value in it. 1,920 buckets
/// cover all of `UInt64`.
///
/// A view over memory it does not own: ``allocate()`` makes the memory and ``deallocate()`` frees
/// it; the owner serializes access (a lock). Recording writes a few words and never allocates.
struct LogLinearHistogram {
    /// Sub-bucket bits: each power of two above 64 has `1 << subBucketBits` buckets.
    static let subBucketBits = 5
    /// Values below this are recorded exactly.
    static let exactLimit: UInt64 = 64
    /// Buckets in all: 64 exact plus 32 for each exponent 6...63.
    static let bucketCount = 64 + (64 - 6) * 32
    /// Header words: count, sum (low, high), min, max.
    static let headerWords = 5
    /// Words of memory one histogram takes.
    static let wordCount = headerWords + bucketCount

    /// The header followed by the bucket counts.
    let words: UnsafeMutablePointer<UInt64>

    /// A histogram over `words` (``wordCount`` words, set up by ``reset()``).
    init(words: UnsafeMutablePointer<UInt64>) { self.words = words }

    /// A new, empty histogram in memory of its own (free it with ``deallocate()``).
    static func allocate() -> LogLinearHistogram {
        let histogram = LogLinearHistogram(words: .allocate(capacity: wordCount))
        histogram.words.initialize(repeating: 0, count: wordCount)
        histogram.reset()
        return histogram
    }

    /// Frees memory made by ``allocate()``.
    func deallocate() { words.deallocate() }

    /// Forgets every value.
    func reset() {
        words.update(repeating: 0, count: Self.wordCount)
        words[3] = .max
    }

    /// The bucket that holds `value`.
    @inline(__always)
    static func bucketIndex(_ value: UInt64) -> Int {
        if value < exactLimit { return Int(truncatingIfNeeded: value) }
        let exponent = 63 &- value.leadingZeroBitCount  // 6...63
        let sub = Int(truncatingIfNeeded: value &>> UInt64(exponent &- subBucketBits)) & 31
        return 64 &+ (exponent &- 6) &* 32 &+ sub
    }

    /// The value reported for bucket `index`: the value itself below 64, else the bucket's middle.
    static func representative(ofBucket index: Int) -> UInt64 {
        if index < 64 { return UInt64(index) }
        let exponent = (index - 64) / 32 + 6
        let sub = UInt64((index - 64) % 32)
        let width = UInt64(1) << UInt64(exponent - subBucketBits)
        return (32 + sub) * width + width / 2
    }

    /// Adds one value.
    @inline(__always)
    func record(_ value: UInt64) {
        words[0] &+= 1
        let (low, carry) = words[1].addingReportingOverflow(value)
        words[1] = low
        if carry { words[2] &+= 1 }
        if value < words[3] { words[3] = value }
        if value > words[4] { words[4] = value }
        words[Self.headerWords &+ Self.bucketIndex(value)] &+= 1
    }

    /// Counts, extremes, mean and the 50th, 95th and 99th percentiles (nearest rank), all zero when
    /// empty.
    func statistics() -> Statistics {
        let count = words[0]
        guard count > 0 else { return Statistics(count: 0, sum: 0, min: 0, max: 0, average: 0, p50: 0, p95: 0, p99: 0) }
        let sum = UInt128(words[2]) << 64 | UInt128(words[1])
        let min = words[3]
        let max = words[4]
        // Ranks (1-based) of the nearest-rank percentiles: ceil(count * q / 1000).
        func rank(_ permille: UInt64) -> UInt64 {
            let product = UInt128(count) * UInt128(permille)
            return Swift.max(1, UInt64((product + 999) / 1000))
        }
        let ranks = [rank(500), rank(950), rank(990)]
        var values: [UInt64] = [max, max, max]
        var next = 0
        var seen: UInt64 = 0
        let last = Self.bucketIndex(max)
        var index = Self.bucketIndex(min)
        while index <= last && next < ranks.count {
            seen &+= words[Self.headerWords + index]
            while next < ranks.count && seen >= ranks[next] {
                values[next] = Swift.min(Swift.max(Self.representative(ofBucket: index), min), max)
                next += 1
            }
            index += 1
        }
        return Statistics(
            count: count, sum: sum, min: min, max: max, average: UInt64(sum / UInt128(count)),
            p50: values[0], p95: values[1], p99: values[2])
    }

    /// What ``statistics()`` reports.
    struct Statistics {
        /// Values recorded.
        var count: UInt64
        /// Their sum.
        var sum: UInt128
        /// The least and greatest of them.
        var min: UInt64, max: UInt64
        /// `sum / count`, truncated.
        var average: UInt64
        /// Percentiles (nearest rank, within the histogram's precision).
        var p50: UInt64, p95: UInt64, p99: UInt64
    }
}
