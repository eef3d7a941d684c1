import ArgumentParser
import Foundation
import LogStore

/// `logstore dump`: prints the records of a store in LSN order, read-only.
struct DumpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the records of a store in LSN order without changing it.",
        discussion: """
            Scans the store read-only (as verify does: every frame and record checksum is \
            checked; records of damaged frames are left out) and prints one line per record, \
            tab-separated: LSN, type (put, delete, a Raft type, or other(N)), namespace (- \
            for records that are not key-value), key, value length, a preview of the value (at \
            most --preview bytes), and the location 'seg <sequence> @ <offset>' (plus \
            '#<item>' inside a zstd container). Keys and values are printed as quoted text \
            when they are valid UTF-8, else as 0x and hex digits.

            Raft records are decoded: the type is raft_entry, raft_hard_state, \
            raft_truncate_prefix, raft_truncate_suffix, raft_snapshot or raft_remove_group; \
            the key column shows what the key and value hold (e.g. 'group=7 index=12 term=3', \
            'group=7 term=3 vote=1 commit=10'); the preview is an entry's payload ('-' for \
            the other Raft types, whose value is in the key column).

            With --json each record is one JSON object on its own line: lsn, type, type_code, \
            flags, namespace, key, key_encoding, value, value_encoding, value_length, segment, \
            offset, container_item, stored_bytes, and for a Raft record also group and its \
            numbers (index, term; term, vote, commit; first_index, previous_term; last_index; \
            index, term, file_length, file_crc). Bytes are UTF-8 text when valid \
            (encoding "utf8"), else base64 (encoding "base64"); the whole value is included.

            Examples:
              logstore dump ./store --limit 20
              logstore dump ./store --namespace users --from 1000 --json | jq -r .key
              logstore dump ./store --json | jq -c 'select(.group == 7)'

            Exit codes: 0 printed (the store may still hold a torn tail); 1 corruption was \
            found while scanning (printed on standard error; run verify for details); 2 the \
            store cannot be inspected (missing, not a store, locked, unreadable) or bad input \
            (invalid --namespace, --limit below 1); 64 command-line usage error.
            """)

    @Argument(help: ArgumentHelp("The store directory.", valueName: "store-dir"))
    var storeDirectory: String

    @Flag(help: "Print one JSON object per record instead of tab-separated text.")
    var json = false

    @Option(help: ArgumentHelp("Start at this LSN (earlier records are verified but not printed).", valueName: "LSN"))
    var from: UInt64 = 0

    @Option(help: ArgumentHelp("Print at most N records, then stop.", valueName: "N"))
    var limit: Int?

    @Option(help: ArgumentHelp("Print only key-value records of this namespace.", valueName: "NS"))
    var namespace: String?

    @Option(help: ArgumentHelp("Value bytes shown in a text line's preview.", valueName: "BYTES"))
    var preview: Int = 32

    func run() async throws {
        do {
            try validateInput()
            let options = DumpOptions(
                path: storeDirectory, json: json, from: from, limit: limit, namespace: namespace, preview: preview)
            let report = try await Inspection.run("logstore-dump") { () throws(LogError) in try options.dump() }
            if report.summary.corruptions > 0 {
                Console.error("error: the store is corrupt (\(report.summary.corruptions) problems); run 'logstore verify' for details\n")
                throw ExitCode(Inspection.corruptionCode)
            }
        } catch let failure as CLIFailure {
            throw failure.report()
        }
    }

    private func validateInput() throws(CLIFailure) {
        if let limit, limit < 1 { throw CLIFailure(badInput: "--limit must be at least 1, not \(limit)") }
        if preview < 0 { throw CLIFailure(badInput: "--preview cannot be negative") }
        if let namespace {
            do throws(StoreError) {
                _ = try Namespace(namespace)
            } catch {
                throw CLIFailure(error)
            }
        }
    }
}

/// One dump's options; `dump()` runs on a thread of its own and prints as it scans.
private struct DumpOptions: Sendable {
    let path: String
    let json: Bool
    let from: UInt64
    let limit: Int?
    let namespace: String?
    let preview: Int

    /// Output is flushed once this many bytes are pending (and at the end).
    static let flushBytes = 64 * 1024

    func dump() throws(LogError) -> VerificationReport {
        var pending = ""
        var printed = 0
        let report = try StoreInspector.scan(path: path, from: from) { record in
            let kv = record.keyValueKey
            if let namespace, kv?.namespace != namespace { return true }
            pending += json ? jsonLine(record, kv) : textLine(record, kv)
            printed += 1
            if pending.utf8.count >= Self.flushBytes {
                Console.out(pending)
                pending = ""
            }
            return limit.map { printed < $0 } ?? true
        }
        Console.out(pending)
        return report
    }

    private func typeName(_ record: InspectedRecord, _ raft: InspectedRaftRecord?) -> String {
        if let raft { return raft.name }
        if case .other(let code) = record.kind { return "other(\(code))" }
        return record.kind.name
    }

    private func textLine(_ record: InspectedRecord, _ kv: InspectedRecord.KeyValueKey?) -> String {
        let raft = record.raftDescription
        let key = raft?.description ?? kv.map { Inspection.preview($0.key) } ?? Inspection.preview(record.key)
        let shown = raft.map { $0.kind == .entry } ?? true
        return [
            String(record.lsn), typeName(record, raft), kv?.namespace ?? "-", key, String(record.value.count),
            shown ? Inspection.preview(record.value, limit: preview) : "-", record.location.description,
        ].joined(separator: "\t") + "\n"
    }

    private func jsonLine(_ record: InspectedRecord, _ kv: InspectedRecord.KeyValueKey?) -> String {
        let raft = record.raftDescription
        var object = JSONObject()
        object["lsn"] = .unsigned(record.lsn)
        object["type"] = .string(raft?.name ?? record.kind.name)
        object["type_code"] = .integer(Int64(record.type))
        object["flags"] = .integer(Int64(record.flags))
        object["namespace"] = kv.map { .string($0.namespace) } ?? .null
        object.setEncodedBytes("key", kv?.key ?? record.key)
        object["value_length"] = .integer(Int64(record.value.count))
        object.setEncodedBytes("value", record.value)
        object["segment"] = .unsigned(record.location.segment)
        object["offset"] = .unsigned(record.location.offset)
        object["container_item"] = record.location.containerItem.map { .integer(Int64($0)) } ?? .null
        object["stored_bytes"] = .unsigned(record.storedSize)
        if let raft {
            object["group"] = .unsigned(raft.group)
            for field in raft.fields { object[field.name] = .unsigned(field.value) }
        }
        return object.serialized + "\n"
    }
}
