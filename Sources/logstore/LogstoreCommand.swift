import ArgumentParser

/// `logstore`: the command-line face of swift-logstore.
///
/// Subcommands: `put`, `get`, `delete` and `list` (the key-value store), `verify`, `dump`
/// and `inspect` (read-only), `recover` (open in a recovery mode and report what it dropped),
/// `raft` (the Raft groups: `groups`, `show`, `entries`), `bench` (throughput and latency of durable appends and store operations against the disk's
/// single-writer fsync ceiling), and `stress` and `check` (a workload that prints every
/// acknowledged operation, and the check of a store against those lines after a crash).
@main
struct LogstoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logstore",
        abstract: "Use, benchmark and inspect swift-logstore stores and logs.",
        discussion: """
            put, get, delete and list work on a key-value store directory; each opens the \
            store (replaying its log), does one operation and closes it, so they fail while \
            another process holds the store open. Errors go to standard error as \
            'error: <message>'. Exit codes: 0 success, 1 failure (key not found, version \
            mismatch, store locked, I/O error), 2 bad input (namespace, key or value refused, \
            malformed hex), 64 command-line usage error. verify, dump and inspect read a \
            store without changing it; their exit codes are in their --help. raft groups, \
            raft show and raft entries print the store's Raft groups and their entries. \
            put, get, delete, list, raft and recover take --recovery strict|point-in-time|salvage \
            (default strict, which refuses damaged data); the other two drop damaged data, \
            change the store on disk and report what they dropped on standard error; recover \
            opens a store that way and prints the full report (see 'logstore recover --help'). \
            stress runs a mixed workload printing every acknowledged operation, and check \
            verifies a store against those ACK streams after a crash (docs/TESTING.md).

            Example:
              logstore put ./store users alice hello && logstore get ./store users alice
            """,
        subcommands: [
            PutCommand.self, GetCommand.self, DeleteCommand.self, ListCommand.self, VerifyCommand.self, DumpCommand.self,
            InspectCommand.self, RecoverCommand.self, RaftCommand.self, BenchCommand.self, StressCommand.self, CheckCommand.self,
        ])
}
