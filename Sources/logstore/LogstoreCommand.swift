import ArgumentParser

/// `logstore`: the command-line face of swift-logstore.
@main
struct LogstoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logstore",
        abstract: "Benchmark and inspect swift-logstore logs.",
        subcommands: [])
}
