import Foundation
import Testing

@testable import LogStore

/// `logstore raft groups|show|entries`, `dump` of Raft records and `bench raft`, run as child
/// processes (the binary located as ``CLITests`` locates it) against a store written through
/// the library.
@Suite("Raft CLI")
struct RaftCLITests {
    /// A closed store holding two groups:
    /// - 3: entries 1...10 (term 1, payload "entry <i>"), 11 ("x\ny") and 12 (empty) of term 2,
    ///   hard state (2, 1, 8), a snapshot at 5 (100 data bytes, 2 context bytes), truncated
    ///   up to 4, so it retains 4...12;
    /// - 7: one entry with a binary payload.
    static func makeStore(_ path: String) async throws {
        let store = try Store.open(at: path)
        let raft = store.raft
        try await raft.append(
            3, (1...10).map { RaftEntry(index: $0, term: 1, payload: Array("entry \($0)".utf8)) },
            hardState: RaftHardState(term: 2, vote: 1, commit: 8))
        try await raft.append(3, [RaftEntry(index: 11, term: 2, payload: Array("x\ny".utf8)), RaftEntry(index: 12, term: 2)])
        try await raft.saveSnapshot(
            3, RaftSnapshot(metadata: RaftSnapshotMetadata(index: 5, term: 1, context: [1, 2]), data: [UInt8](repeating: 7, count: 100)))
        try await raft.truncatePrefix(3, upTo: 4)
        try await raft.append(7, [RaftEntry(index: 1, term: 1, payload: [0, 1, 0xFF])])
        try store.close()
    }

    static func jsonObjects(_ run: CLITests.Run) throws -> [[String: Any]] {
        try run.lines.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }

    static func number(_ object: [String: Any], _ key: String) -> UInt64? { (object[key] as? NSNumber)?.uint64Value }

    @Test("raft groups and raft show print indexes, hard state and snapshot, as text and JSON")
    func groupsAndShow() async throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/store"
        try await Self.makeStore(store)

        let groups = try await CLITests.logstore(["raft", "groups", store])
        #expect(groups.status == 0, "\(groups)")
        #expect(groups.lines.count == 4, "header, rule and two groups: \(groups)")
        let row3 = groups.lines[2].split(separator: " ").map(String.init)
        #expect(row3 == ["3", "4", "12", "9", "\(7 * 6 + 8 + 3)", "2", "1", "8", "5"], "\(groups)")
        let row7 = groups.lines[3].split(separator: " ").map(String.init)
        #expect(row7 == ["7", "1", "1", "1", "3", "0", "0", "0", "-"], "\(groups)")

        let groupsJSON = try Self.jsonObjects(try await CLITests.logstore(["raft", "groups", "--json", store]))
        #expect(groupsJSON.count == 2)
        let g3 = try #require(groupsJSON.first)
        #expect(Self.number(g3, "group") == 3)
        #expect(Self.number(g3, "first_index") == 4)
        #expect(Self.number(g3, "last_index") == 12)
        #expect(Self.number(g3, "durable_index") == 12)
        #expect(Self.number(g3, "entries") == 9)
        #expect(Self.number(g3, "term") == 2 && Self.number(g3, "vote") == 1 && Self.number(g3, "commit") == 8)
        #expect(Self.number(g3, "snapshot_index") == 5 && Self.number(g3, "snapshot_term") == 1)
        #expect(groupsJSON[1]["snapshot_index"] is NSNull)

        let show = try await CLITests.logstore(["raft", "show", store, "3"])
        #expect(show.status == 0, "\(show)")
        let fields = Dictionary(
            uniqueKeysWithValues: show.lines.map { line in
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                return (parts[0], parts.count > 1 ? parts[1] : "")
            })
        #expect(fields["first index"] == "4", "\(show)")
        #expect(fields["last index"] == "12", "\(show)")
        #expect(fields["durable index"] == "12", "\(show)")
        #expect(fields["last term"] == "2", "\(show)")
        #expect(fields["hard state"] == "term 2, vote 1, commit 8", "\(show)")
        #expect(fields["snapshot"] == "index 5, term 1, 100 data bytes, 2 context bytes", "\(show)")

        let showJSON = try #require(try Self.jsonObjects(try await CLITests.logstore(["raft", "show", "--json", store, "7"])).first)
        #expect(Self.number(showJSON, "last_index") == 1)
        #expect(Self.number(showJSON, "entry_bytes") == 3)
        #expect(showJSON["snapshot_data_bytes"] is NSNull)

        let unknown = try await CLITests.logstore(["raft", "show", store, "42"])
        #expect(unknown.status == 1, "\(unknown)")
        #expect(unknown.stdout.isEmpty)
        #expect(unknown.stderr.contains("no Raft group 42"), "\(unknown)")
        #expect(unknown.stderr.contains("3, 7"), "the message lists the groups there are: \(unknown)")
        let unknownEntries = try await CLITests.logstore(["raft", "entries", store, "42"])
        #expect(unknownEntries.status == 1, "\(unknownEntries)")
        let notANumber = try await CLITests.logstore(["raft", "show", store, "three"])
        #expect(notANumber.status == 64, "\(notANumber)")
        let missing = try await CLITests.logstore(["raft", "groups", dir.path + "/missing"])
        #expect(missing.status == 1, "\(missing)")
    }

    @Test("raft entries prints ranges as text, hex and JSON, pages with --limit, refuses compacted and unavailable ranges")
    func entries() async throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/store"
        try await Self.makeStore(store)

        let all = try await CLITests.logstore(["raft", "entries", store, "3"])
        #expect(all.status == 0, "\(all)")
        #expect(all.lines.count == 9, "\(all)")
        #expect(all.lines.first == "4\t1\t7\t\"entry 4\"", "\(all)")

        let page = try await CLITests.logstore(["raft", "entries", store, "3", "--from", "9", "--limit", "3"])
        #expect(page.status == 0, "\(page)")
        #expect(page.lines == ["9\t1\t7\t\"entry 9\"", "10\t1\t8\t\"entry 10\"", "11\t2\t3\t\"x\\ny\"", "more from: 12"], "\(page)")
        let last = try await CLITests.logstore(["raft", "entries", store, "3", "--from", "12", "--to", "12"])
        #expect(last.lines == ["12\t2\t0\t\"\""], "\(last)")

        let binary = try await CLITests.logstore(["raft", "entries", store, "7"])
        #expect(binary.lines == ["1\t1\t3\t0x0001ff"], "\(binary)")
        let hex = try await CLITests.logstore(["raft", "entries", "--hex", store, "3", "--from", "4", "--to", "4"])
        #expect(hex.lines == ["4\t1\t7\t" + Array("entry 4".utf8).map { String(format: "%02x", $0) }.joined()], "\(hex)")

        let json = try Self.jsonObjects(try await CLITests.logstore(["raft", "entries", "--json", store, "3", "--to", "5"]))
        #expect(json.map { Self.number($0, "index") } == [4, 5])
        #expect(json.first?["payload_utf8"] as? String == "entry 4")
        #expect(json.first?["payload_base64"] as? String == Data("entry 4".utf8).base64EncodedString())
        #expect(Self.number(json[0], "term") == 1 && Self.number(json[0], "payload_length") == 7 && Self.number(json[0], "group") == 3)
        let binaryJSON = try #require(try Self.jsonObjects(try await CLITests.logstore(["raft", "entries", "--json", "--hex", store, "7"])).first)
        #expect(binaryJSON["payload_utf8"] is NSNull)
        #expect(binaryJSON["payload_base64"] as? String == "AAH/")
        #expect(binaryJSON["payload_hex"] as? String == "0001ff")
        let pagedJSON = try Self.jsonObjects(try await CLITests.logstore(["raft", "entries", "--json", store, "3", "--limit", "1"]))
        #expect(pagedJSON.count == 2)
        #expect(Self.number(pagedJSON[1], "more_from") == 5)

        let compacted = try await CLITests.logstore(["raft", "entries", store, "3", "--from", "2"])
        #expect(compacted.status == 1, "\(compacted)")
        #expect(compacted.stdout.isEmpty, "\(compacted)")
        #expect(compacted.stderr.contains("compacted") && compacted.stderr.contains("--from 4"), "\(compacted)")
        let unavailable = try await CLITests.logstore(["raft", "entries", store, "3", "--to", "13"])
        #expect(unavailable.status == 1, "\(unavailable)")
        #expect(unavailable.stdout.isEmpty, "\(unavailable)")
        #expect(unavailable.stderr.contains("unavailable") && unavailable.stderr.contains("--to 12"), "\(unavailable)")
        let pastEnd = try await CLITests.logstore(["raft", "entries", store, "3", "--from", "20"])
        #expect(pastEnd.status == 1, "\(pastEnd)")
        let badLimit = try await CLITests.logstore(["raft", "entries", store, "3", "--limit", "0"])
        #expect(badLimit.status == 2, "\(badLimit)")
        let backwards = try await CLITests.logstore(["raft", "entries", store, "3", "--from", "9", "--to", "5"])
        #expect(backwards.status == 2, "\(backwards)")
    }

    @Test("dump names and decodes Raft records")
    func dump() async throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/store"
        try await Self.makeStore(store)

        let dump = try await CLITests.logstore(["dump", store])
        #expect(dump.status == 0, "\(dump)")
        let rows = dump.lines.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.allSatisfy { $0.count == 7 }, "\(dump)")
        #expect(rows.contains { $0[1] == "raft_entry" && $0[2] == "-" && $0[3] == "group=3 index=1 term=1" && $0[5] == "\"entry 1\"" }, "\(dump)")
        #expect(rows.contains { $0[1] == "raft_hard_state" && $0[3] == "group=3 term=2 vote=1 commit=8" && $0[5] == "-" }, "\(dump)")
        #expect(rows.contains { $0[1] == "raft_truncate_prefix" && $0[3] == "group=3 first_index=4 previous_term=1" }, "\(dump)")
        #expect(rows.contains { $0[1] == "raft_snapshot" && $0[3].hasPrefix("group=3 index=5 term=1 file_length=") }, "\(dump)")
        #expect(rows.contains { $0[1] == "raft_entry" && $0[3] == "group=7 index=1 term=1" && $0[5] == "0x0001ff" }, "\(dump)")

        let json = try Self.jsonObjects(try await CLITests.logstore(["dump", "--json", store]))
        let hard = try #require(json.first { $0["type"] as? String == "raft_hard_state" }, "\(json)")
        #expect(Self.number(hard, "type_code") == 17)
        #expect(Self.number(hard, "group") == 3 && Self.number(hard, "term") == 2 && Self.number(hard, "commit") == 8)
        let entry = try #require(json.first { $0["type"] as? String == "raft_entry" })
        #expect(Self.number(entry, "index") == 1 && Self.number(entry, "term") == 1)
        #expect(entry["value"] as? String == "entry 1")
    }

    @Test("InspectedRecord.raftDescription decodes every Raft type and refuses malformed lengths")
    func raftDescription() {
        func word(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let entry = InspectedRaftRecord(type: 16, key: word(3) + word(9) + word(2), value: [1, 2])
        #expect(entry?.kind == .entry && entry?["index"] == 9 && entry?["term"] == 2 && entry?.group == 3)
        let hard = InspectedRaftRecord(type: 17, key: word(3), value: word(4) + word(5) + word(6))
        #expect(hard?.description == "group=3 term=4 vote=5 commit=6")
        #expect(InspectedRaftRecord(type: 19, key: word(1), value: word(8))?.description == "group=1 last_index=8")
        #expect(InspectedRaftRecord(type: 21, key: word(1), value: [])?.name == "raft_remove_group")
        let snapshot = InspectedRaftRecord(type: 20, key: word(1), value: word(5) + word(1) + word(99) + [1, 0, 0, 0])
        #expect(snapshot?["file_crc"] == 1 && snapshot?["file_length"] == 99)
        #expect(InspectedRaftRecord(type: 17, key: word(3), value: word(4)) == nil)
        #expect(InspectedRaftRecord(type: 16, key: word(3), value: []) == nil)
        #expect(InspectedRaftRecord(type: 1, key: word(3), value: []) == nil)
    }

    @Test("bench raft --json reports entries/s, latency, fsyncs and the ratio to the fsync ceiling")
    func bench() async throws {
        let dir = TemporaryDirectory()
        let run = try await CLITests.logstore([
            "bench", "raft", "--duration", "1", "--json", "--groups", "4", "--batch", "2", "--ceiling-seconds", "0.2", "--dir", dir.path,
        ])
        #expect(run.status == 0, "\(run)")
        let object = try #require(try Self.jsonObjects(run).first, "\(run)")
        for key in [
            "entries_per_sec", "mb_per_sec", "p50_us", "p99_us", "fsyncs", "fsync_ceiling_per_sec", "ratio_to_ceiling", "mean_batch",
            "entries_per_commit", "entries", "ops",
        ] {
            #expect(object[key] is NSNumber, "\(key) missing: \(run)")
        }
        #expect(object["workload"] as? String == "raft")
        #expect(object["persistence"] as? String == "disk-first")
        #expect(Self.number(object, "groups") == 4 && Self.number(object, "batch") == 2 && Self.number(object, "value_size") == 256)
        #expect((Self.number(object, "entries") ?? 0) > 0)
        #expect(Self.number(object, "entries") == 2 * (Self.number(object, "ops") ?? 0))
        #expect((Self.number(object, "fsyncs") ?? 0) > 0)

        let memFirst = try await CLITests.logstore([
            "bench", "raft", "--persistence", "mem-first", "--batches", "20", "--value-size", "10", "--json", "--ceiling-seconds", "0.2",
            "--dir", dir.path,
        ])
        #expect(memFirst.status == 0, "\(memFirst)")
        let mem = try #require(try Self.jsonObjects(memFirst).first, "\(memFirst)")
        #expect(mem["persistence"] as? String == "mem-first")
        // Compared outside #expect: under ASan, #expect's decomposition of an optional
        // integer compared with a literal trips a stack-buffer-overflow report inside the
        // Swift runtime's AnyHashable conversion (toolchain 6.3.1), not in our code.
        let entriesMatch = Self.number(mem, "entries") == 20 * 16
        let valueSizeMatch = Self.number(mem, "value_size") == 10
        #expect(entriesMatch, "\(mem)")
        #expect(valueSizeMatch, "\(mem)")
        #expect(mem["visible_p50_us"] is NSNumber)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "the bench directory is removed")
    }
}
