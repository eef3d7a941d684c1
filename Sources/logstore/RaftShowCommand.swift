import ArgumentParser
import LogStore

/// `logstore raft show`: the details of one Raft group.
struct RaftShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one Raft group: indexes, hard state, snapshot, entry bytes.",
        discussion: """
            Prints one 'name: value' line per field: first, last and durable index, entries \
            retained and their payload bytes, the term of the last index, the hard state, and \
            the newest snapshot (index, term, and the sizes of its data and context, read from \
            its file and checked against its checksum).

            With --json prints one JSON object: the fields of 'raft groups --json' plus \
            last_term, snapshot_data_bytes and snapshot_context_bytes (null without a snapshot).

            Examples:
              logstore raft show ./store 7
              logstore raft show ./store 7 --json | jq .commit

            Exit codes: 0 printed; 1 the group does not exist (the message lists the groups \
            that do) or another failure (no store, store locked, a damaged snapshot file, I/O \
            error); 64 command-line usage error.
            """)

    @OptionGroup var target: RaftGroupArguments

    @Flag(help: "Print one JSON object instead of text lines.")
    var json = false

    /// What `show` prints: the summary, the term of the last index and the snapshot's sizes.
    private struct Details: Sendable {
        let info: RaftGroupInfo
        let lastTerm: UInt64?
        let snapshot: (data: Int, context: Int)?
    }

    func run() async throws {
        do {
            let group = RaftGroupID(target.group)
            let details = try await StoreAccess.withStore(at: target.storeDirectory, create: false, configuration: target.recovery.readConfiguration) {
                (store) throws(CLIFailure) -> Details in
                let info = try RaftInspection.info(store, group)
                do throws(StoreError) {
                    let snapshot = try store.raft.snapshot(group)
                    return Details(
                        info: info, lastTerm: try? store.raft.term(group, info.lastIndex),
                        snapshot: snapshot.map { ($0.data.count, $0.metadata.context.count) })
                } catch {
                    throw CLIFailure(error)
                }
            }
            Console.out(json ? jsonObject(details) : text(details))
        } catch {
            throw error.report()
        }
    }

    private func text(_ details: Details) -> String {
        let info = details.info
        let hard = info.hardState
        var lines: [(String, String)] = [
            ("group", info.group.description),
            ("first index", String(info.firstIndex)),
            ("last index", String(info.lastIndex)),
            ("durable index", String(info.durableIndex)),
            ("entries", "\(RaftInspection.entryCount(info)) (\(info.entryBytes) payload bytes)"),
            ("last term", details.lastTerm.map(String.init) ?? "-"),
            ("hard state", "term \(hard.term), vote \(hard.vote), commit \(hard.commit)"),
        ]
        if let index = info.snapshotIndex, let term = info.snapshotTerm, let sizes = details.snapshot {
            lines.append(("snapshot", "index \(index), term \(term), \(sizes.data) data bytes, \(sizes.context) context bytes"))
        } else {
            lines.append(("snapshot", "none"))
        }
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { name, value in
            name + ":" + String(repeating: " ", count: width - name.count + 2) + value + "\n"
        }.joined()
    }

    private func jsonObject(_ details: Details) -> String {
        var object = RaftInspection.object(details.info)
        object["last_term"] = details.lastTerm.map { .unsigned($0) } ?? .null
        object["snapshot_data_bytes"] = details.snapshot.map { .integer(Int64($0.data)) } ?? .null
        object["snapshot_context_bytes"] = details.snapshot.map { .integer(Int64($0.context)) } ?? .null
        return object.serialized + "\n"
    }
}
