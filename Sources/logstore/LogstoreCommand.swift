import ArgumentParser

/// `logstore`: the command-line face of swift-logstore.
///
/// Subcommands: `bench` (throughput and latency of durable appends against the disk's
/// single-writer fsync ceiling).
@main
struct LogstoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logstore",
        abstract: "Benchmark and inspect swift-logstore logs.",
        subcommands: [BenchCommand.self])
}
