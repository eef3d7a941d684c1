import ArgumentParser
import LogStore

/// The options every bench command shares: how the log is configured, where it lives,
/// how the fsync ceiling is measured and how results are printed.
struct BenchOptions: ParsableArguments {
    @Option(help: "Durable-write backend: auto (io_uring if a probe at open succeeds), io_uring or pwritev (default: the LogConfiguration default, \(LogConfiguration().backend)).")
    var backend: BackendChoice?

    @Option(name: .customLong("uring-mode"), help: "How io_uring makes writes durable: linked (writev + linked fdatasync) or dsync (RWF_DSYNC writev).")
    var uringMode: UringModeChoice = .linked

    @Option(name: .customLong("linger-us"), help: "Longest the writer waits for expected appends before a write, in µs (default: the LogConfiguration default, \(LogConfiguration().lingerMaxMicroseconds)).")
    var lingerMicroseconds: UInt32?

    @Option(name: .customLong("spin-us"), help: "How long the writer polls for appends before sleeping, in µs (default: the LogConfiguration default, \(LogConfiguration().writerSpinMicroseconds)).")
    var spinMicroseconds: UInt32?

    @Option(help: "Pipelined group commit: never, auto (while callers take longer to come back than a sync) or always (default: never, the LogConfiguration default).")
    var pipelining: PipeliningChoice = .never

    @Flag(name: .customLong("no-prewrite"), help: "Only preallocate new segments instead of zero-filling them.")
    var noPrewrite = false

    @Flag(name: .customLong("cached-zero-fill"), help: "Zero-fill new segments through the page cache, not with direct I/O.")
    var cachedZeroFill = false

    @Flag(name: .customLong("buffered-writes"), help: "Write commits through the page cache, not with direct I/O.")
    var bufferedWrites = false

    @Option(name: .customLong("sealed-cache"), help: "Page cache left to the sealed segments before the oldest one's is released; K, M and G suffixes are binary, 'keep' never releases (default: \((LogConfiguration().sealedSegmentCacheBytes ?? 0) >> 20)M).")
    var sealedCache: SealedCacheChoice?

    @Option(name: .customLong("segment-size"), help: "Bytes per segment file; K, M and G suffixes are binary (default: \(LogConfiguration().segmentSize >> 20)M).")
    var segmentSize: ByteCount?

    @Option(name: .customLong("value-size"), help: "Value bytes per record (the key is 8 bytes; default \(BenchSettings.defaultValueSize), for 'bench raft' \(BenchSettings.defaultRaftValueSize): the entry payload).")
    var valueSizeOption: Int?

    /// `--value-size`, or the default of every bench but `bench raft`.
    var valueSize: Int { valueSizeOption ?? BenchSettings.defaultValueSize }

    @Option(name: .customLong("ceiling-seconds"), help: "Seconds to measure the single-writer fsync ceiling for.")
    var ceilingSeconds: Double = FsyncCeiling.defaultSeconds

    @Option(help: "Parent directory for the benchmark (default: the system temp dir). A new subdirectory is made in it and removed afterwards unless --keep.")
    var dir: String?

    @Flag(help: "Keep the benchmark directory and its logs.")
    var keep = false

    @Flag(help: "Print one JSON object per run on stdout (one per line) instead of a table; no progress line.")
    var json = false

    func validate() throws {
        guard valueSizeOption.map({ $0 >= 0 }) ?? true else { throw ValidationError("--value-size must not be negative") }
        guard ceilingSeconds > 0, ceilingSeconds.isFinite else {
            throw ValidationError("--ceiling-seconds must be a positive number of seconds")
        }
    }

    /// The options as a plain value that can cross into tasks.
    var settings: BenchSettings { settings(defaultValueSize: BenchSettings.defaultValueSize) }

    /// The options as a plain value, with `defaultValueSize` unless `--value-size` was given.
    func settings(defaultValueSize: Int) -> BenchSettings {
        var configuration = LogConfiguration()
        if let backend { configuration.backend = backend.backend }
        configuration.uringMode = uringMode.mode
        if let lingerMicroseconds { configuration.lingerMaxMicroseconds = lingerMicroseconds }
        if let spinMicroseconds { configuration.writerSpinMicroseconds = spinMicroseconds }
        configuration.prewriteSegments = !noPrewrite
        configuration.directZeroFill = !cachedZeroFill
        configuration.directWrites = !bufferedWrites
        configuration.pipelining = pipelining.pipelining
        if let segmentSize { configuration.segmentSize = segmentSize.bytes }
        if let sealedCache { configuration.sealedSegmentCacheBytes = sealedCache.bytes }
        return BenchSettings(
            configuration: configuration, valueSize: valueSizeOption ?? defaultValueSize, ceilingSeconds: ceilingSeconds,
            parentDirectory: dir, keep: keep, json: json)
    }
}

/// Everything a bench run needs from the command line, `Sendable`.
struct BenchSettings: Sendable {
    /// Value bytes per record unless `--value-size` says otherwise.
    static let defaultValueSize = 128
    /// Payload bytes per entry of `bench raft` unless `--value-size` says otherwise.
    static let defaultRaftValueSize = 256

    /// The log's configuration for every run.
    var configuration: LogConfiguration
    /// Value bytes per record.
    var valueSize: Int
    /// Seconds to measure the fsync ceiling for.
    var ceilingSeconds: Double
    /// Where to make the benchmark directory; `nil` for the system temp dir.
    var parentDirectory: String?
    /// Keep the benchmark directory afterwards.
    var keep: Bool
    /// JSON lines instead of a table and a progress line.
    var json: Bool
}

/// `--backend`: the command-line spelling of ``LogConfiguration/Backend``.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto
    case ioUring = "io_uring"
    case pwritev

    var backend: LogConfiguration.Backend {
        switch self {
        case .auto: .automatic
        case .ioUring: .ioUring
        case .pwritev: .pwritev
        }
    }
}

/// `--pipelining`: the command-line spelling of ``LogConfiguration/Pipelining``.
enum PipeliningChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto
    case never
    case always

    var pipelining: LogConfiguration.Pipelining {
        switch self {
        case .auto: .automatic
        case .never: .never
        case .always: .always
        }
    }
}

/// `--uring-mode`: the command-line spelling of ``LogConfiguration/UringMode``.
enum UringModeChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case linked
    case dsync

    var mode: LogConfiguration.UringMode {
        switch self {
        case .linked: .linkedFdatasync
        case .dsync: .dsyncWrite
        }
    }

    /// The spelling of a configured mode, as reports print it.
    static func name(of mode: LogConfiguration.UringMode) -> String {
        switch mode {
        case .linkedFdatasync: UringModeChoice.linked.rawValue
        case .dsyncWrite: UringModeChoice.dsync.rawValue
        }
    }
}

/// `--sealed-cache`: a byte count, or `keep` for never releasing (`nil`).
struct SealedCacheChoice: ExpressibleByArgument, Sendable {
    /// ``LogConfiguration/sealedSegmentCacheBytes``.
    let bytes: UInt64?

    /// The choice spelled as the command line takes it (bytes without a suffix).
    var argument: String { bytes.map { "\($0)" } ?? "keep" }

    init?(argument: String) {
        if argument == "keep" {
            bytes = nil
        } else if let count = ByteCount(argument: argument) {
            bytes = count.bytes
        } else {
            return nil
        }
    }
}

/// A byte count on the command line: digits with an optional binary suffix K, M or G
/// (`64M` is 64 MiB).
struct ByteCount: ExpressibleByArgument, Sendable {
    /// The count in bytes.
    let bytes: UInt64

    init?(argument: String) {
        let shifts: [Character: UInt64] = ["K": 10, "k": 10, "M": 20, "m": 20, "G": 30, "g": 30]
        var digits = Substring(argument)
        var shift: UInt64 = 0
        if let last = digits.last, let s = shifts[last] {
            shift = s
            digits = digits.dropLast()
        }
        guard let n = UInt64(digits), n <= UInt64.max >> shift else { return nil }
        bytes = n << shift
    }
}
