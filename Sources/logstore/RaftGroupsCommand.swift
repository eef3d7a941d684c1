import ArgumentParser
import LogStore

/// `logstore raft groups`: one line per Raft group of a store.
struct RaftGroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List the store's Raft groups: indexes, entries, bytes, hard state, snapshot.",
        discussion: """
            Prints a table with one row per group that holds any state, in group order: \
            group, first and last index, entries retained, their payload bytes, the hard \
            state (term, vote, commit) and the newest snapshot's index ('-' for none). A store \
            without Raft groups prints 'no Raft groups'.

            With --json each group is one JSON object on a line of its own: group, \
            first_index, last_index, durable_index, entries, entry_bytes, term, vote, commit, \
            snapshot_index and snapshot_term (null without a snapshot); nothing for a store \
            without groups.

            Examples:
              logstore raft groups ./store
              logstore raft groups ./store --json | jq -c 'select(.entries > 1000)'

            Exit codes: 0 listed; 1 failed (no store, store locked, I/O error, corruption); 64 \
            command-line usage error.
            """)

    @Argument(help: ArgumentHelp("The store directory.", valueName: "store-dir"))
    var storeDirectory: String

    @OptionGroup var recovery: RecoveryArguments

    @Flag(help: "Print JSON lines instead of a table.")
    var json = false

    func run() async throws {
        do {
            let infos = try await StoreAccess.withStore(at: storeDirectory, create: false, configuration: recovery.readConfiguration) {
                (store) throws(CLIFailure) -> [RaftGroupInfo] in
                store.raft.groupIDs.compactMap { store.raft.info($0) }
            }
            Console.out(json ? jsonLines(infos) : table(infos))
        } catch {
            throw error.report()
        }
    }

    private func jsonLines(_ infos: [RaftGroupInfo]) -> String {
        infos.map { RaftInspection.object($0).serialized + "\n" }.joined()
    }

    private func table(_ infos: [RaftGroupInfo]) -> String {
        guard !infos.isEmpty else { return "no Raft groups\n" }
        let header = ["group", "first", "last", "entries", "bytes", "term", "vote", "commit", "snapshot"]
        let rows = infos.map { info in
            [
                info.group.description, String(info.firstIndex), String(info.lastIndex),
                String(RaftInspection.entryCount(info)), String(info.entryBytes), String(info.hardState.term),
                String(info.hardState.vote), String(info.hardState.commit), info.snapshotIndex.map(String.init) ?? "-",
            ]
        }
        return TextTable.render([header] + rows, leftAligned: 0)
    }
}
