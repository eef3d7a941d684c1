import ArgumentParser

/// `logstore`: the command-line face of swift-logstore.
///
/// Subcommands: `put`, `get`, `delete` and `list` (the key-value store) and `bench`
/// (throughput and latency of durable appends and store operations against the disk's
/// single-writer fsync ceiling).
@main
struct LogstoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logstore",
        abstract: "Use, benchmark and inspect swift-logstore stores and logs.",
        subcommands: [PutCommand.self, GetCommand.self, DeleteCommand.self, ListCommand.self, BenchCommand.self])
}
