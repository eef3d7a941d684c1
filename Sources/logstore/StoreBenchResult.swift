import Histogram
import LogStore

/// The outcome of one key-value store benchmark run (`bench put`, `bench get`, `bench open`),
/// in the terms ``StoreBenchReport`` prints.
struct StoreBenchResult: Sendable {
    /// Operations timed in a loop: how many, for how long, and their latencies.
    struct Throughput: Sendable {
        /// Operations that returned successfully.
        let ops: UInt64
        /// Seconds from the start until the last worker's last operation returned.
        let seconds: Double
        /// Latency in nanoseconds of every operation, or of a sample (see ``StoreBenchResult/extra``).
        let latency: Histogram<UInt64>

        /// Operations per second.
        var opsPerSecond: Double { seconds > 0 ? Double(ops) / seconds : 0 }
    }

    /// "put", "get" or "open".
    let workload: String
    /// The log's configuration.
    let configuration: LogConfiguration
    /// Concurrent workers of the timed phase (writers, readers; for open, the loaders).
    let threads: Int
    /// Value bytes per key.
    let valueSize: Int
    /// Live keys in the store at the end of the run.
    let keys: Int
    /// The timed loop, if the workload has one (open has not).
    let throughput: Throughput?
    /// The log's counters of the timed phase's store, read before it was closed.
    let statistics: LogStatistics
    /// Workload-specific fields, printed after the common ones, in this order.
    let extra: [(key: String, value: JSONObject.Value)]

    /// Key plus value bytes per second, in 10⁶ bytes per second.
    var megabytesPerSecond: Double {
        (throughput?.opsPerSecond ?? 0) * Double(BenchKeys.keySize + valueSize) / 1e6
    }
}
