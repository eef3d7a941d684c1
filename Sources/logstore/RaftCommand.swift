import ArgumentParser
import LogStore

/// `logstore raft`: looks at the Raft log storage of a store directory (``Store/raft``):
/// `groups`, `show` and `entries`.
struct RaftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft",
        abstract: "Look at the Raft groups of a store: list them, show one, print its entries.",
        discussion: """
            Each subcommand opens the store read-only (replaying its log, so it fails while \
            another process holds the store open; Raft entries are not loaded, only their \
            index), prints, and closes it. Nothing is written, unless --recovery point-in-time \
            or salvage drops damaged data, which opens the store for writing (see \
            'logstore recover --help').

            Examples:
              logstore raft groups ./store
              logstore raft show ./store 7
              logstore raft entries ./store 7 --from 100 --limit 10

            Exit codes: 0 printed; 1 failed (no store, store locked, unknown group, entries \
            compacted or unavailable, I/O error, corruption); 2 bad input (e.g. --limit below 1, \
            --from past --to); 64 command-line usage error.
            """,
        subcommands: [RaftGroupsCommand.self, RaftShowCommand.self, RaftEntriesCommand.self])
}

/// The leading arguments of `raft show` and `raft entries`: the store directory, the group and
/// the recovery mode of the open.
struct RaftGroupArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("The store directory.", valueName: "store-dir"))
    var storeDirectory: String

    @Argument(help: ArgumentHelp("The Raft group id (a number, as 'raft groups' lists them).", valueName: "group"))
    var group: UInt64

    @OptionGroup var recovery: RecoveryArguments
}

/// What the `raft` commands share: the store's groups and the unknown-group failure.
enum RaftInspection {
    /// The group's summary, or a failure naming the groups the store has.
    static func info(_ store: Store, _ group: RaftGroupID) throws(CLIFailure) -> RaftGroupInfo {
        if let info = store.raft.info(group) { return info }
        let ids = store.raft.groupIDs
        let shown = ids.prefix(10).map(\.description).joined(separator: ", ")
        let holds =
            ids.isEmpty
            ? "it holds no Raft groups" : "it holds \(ids.count) group\(ids.count == 1 ? "" : "s"): \(shown)\(ids.count > 10 ? ", ..." : "")"
        throw CLIFailure("no Raft group \(group) in \(store.path) (\(holds))")
    }

    /// Entries the group retains (0 when its first index is past its last).
    static func entryCount(_ info: RaftGroupInfo) -> UInt64 {
        info.lastIndex >= info.firstIndex ? info.lastIndex - info.firstIndex + 1 : 0
    }

    /// The group's fields as JSON (the keys `raft groups --json` and `raft show --json` share).
    static func object(_ info: RaftGroupInfo) -> JSONObject {
        var object = JSONObject()
        object["group"] = .unsigned(info.group.rawValue)
        object["first_index"] = .unsigned(info.firstIndex)
        object["last_index"] = .unsigned(info.lastIndex)
        object["durable_index"] = .unsigned(info.durableIndex)
        object["entries"] = .unsigned(entryCount(info))
        object["entry_bytes"] = .integer(Int64(info.entryBytes))
        object["term"] = .unsigned(info.hardState.term)
        object["vote"] = .unsigned(info.hardState.vote)
        object["commit"] = .unsigned(info.hardState.commit)
        object["snapshot_index"] = info.snapshotIndex.map { .unsigned($0) } ?? .null
        object["snapshot_term"] = info.snapshotTerm.map { .unsigned($0) } ?? .null
        return object
    }
}
