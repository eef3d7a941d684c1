import Foundation
import Testing

@testable import LogStore

/// `--recovery strict|point-in-time|salvage` and `logstore recover`, run as child processes
/// (the binary located as the key-value CLI tests locate it) on stores with a flipped byte in
/// a frame of their oldest segment (as ``RecoveryModeTests`` damages logs).
@Suite("Recovery CLI")
struct RecoveryCLITests {
    /// Keys the fixture stores, one put (one frame) each, over several 64 KiB segments.
    static let keyCount = 400

    /// A closed store of ``keyCount`` keys in namespace `users`, and a damaged copy of it: one
    /// byte flipped in frame 10 of the oldest segment (the frame CRC fails, valid frames follow).
    struct Fixture {
        let original: TemporaryDirectory
        let copy: TemporaryDirectory
        /// The damaged segment file (in the copy).
        let damagedFile: String
        /// The damaged frame's offset in it.
        let offset: Int
        /// The copy's data segments after the damaged one.
        let laterSegments: [String]

        /// The damaged store's directory.
        var path: String { copy.logPath }

        static func build() async throws -> Fixture {
            let original = TemporaryDirectory("logstore-recovery-cli")
            var configuration = StoreConfiguration()
            configuration.segmentSize = 64 * 1024
            configuration.maxValueSize = 4096
            let store = try Store.open(at: original.logPath, configuration: configuration)
            let users = try Namespace("users")
            for i in 0..<RecoveryCLITests.keyCount {
                _ = try await store.put(testValue(writer: 0, seq: i, size: 400), for: Array("key-\(i)".utf8), in: users)
            }
            try store.close()
            let segments = try dataSegments(original.logPath)
            #expect(segments.count >= 3, "the fixture should span several segments")
            let frame = try #require(try frames(inSegment: segments[0]).filter { !$0.isSeal }.dropFirst(10).first)
            let copy = copyOfDirectory(original.logPath)
            let name = (segments[0] as NSString).lastPathComponent
            let damagedFile = segmentsDirectory(copy.logPath) + "/" + name
            try mutateFile(damagedFile) { $0[frame.offset + 44] ^= 0x20 }  // a body byte: the frame CRC fails
            let later = segments.dropFirst().map { segmentsDirectory(copy.logPath) + "/" + ($0 as NSString).lastPathComponent }
            return Fixture(original: original, copy: copy, damagedFile: damagedFile, offset: frame.offset, laterSegments: later)
        }
    }

    /// The JSON object a command printed as its only line.
    static func object(_ run: CLITests.Run) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(run.stdout)) as? [String: Any], "\(run)")
    }

    /// The number of keys `logstore list` prints (strict unless `extra` says otherwise).
    static func listed(_ path: String, _ extra: [String] = []) async throws -> (CLITests.Run, Int) {
        let run = try await CLITests.logstore(["list", path, "users"] + extra)
        return (run, run.lines.count)
    }

    @Test("strict refuses the damaged store naming file and offset; salvage opens it and reports the skip; strict works after")
    func strictThenSalvage() async throws {
        let fixture = try await Fixture.build()

        let strict = try await CLITests.logstore(["get", fixture.path, "users", "key-0"])
        #expect(strict.status == 1, "\(strict)")
        #expect(strict.stderr.hasPrefix("error: "), "\(strict)")
        #expect(strict.stderr.contains(fixture.damagedFile), "the message should name the file: \(strict)")
        #expect(strict.stderr.contains("offset \(fixture.offset)"), "the message should name the offset: \(strict)")
        #expect(strict.stderr.contains("--recovery"), "the message should say how to open it anyway: \(strict)")
        #expect(strict.stdout.isEmpty, "\(strict)")

        // A Raft command opens in salvage mode: stdout stays its own, the report goes to stderr.
        let salvage = try await CLITests.logstore(["raft", "groups", fixture.path, "--recovery", "salvage"])
        #expect(salvage.status == 0, "\(salvage)")
        #expect(salvage.text == "no Raft groups\n", "\(salvage)")
        #expect(salvage.stderr.contains("recovery: skipped 1 damaged range"), "\(salvage)")
        #expect(salvage.stderr.contains("\(fixture.damagedFile) @ \(fixture.offset)"), "\(salvage)")
        #expect(salvage.stderr.contains("recorded in the manifest"), "\(salvage)")

        // The skip is durable: strict commands now work, quietly, and lost exactly one key.
        let (list, count) = try await Self.listed(fixture.path)
        #expect(list.status == 0, "\(list)")
        #expect(list.stderr.isEmpty, "a strict open after salvage should print nothing extra: \(list)")
        #expect(count == Self.keyCount - 1, "salvage keeps every valid frame: \(list.lines.count) keys")
        let get = try await CLITests.logstore(["get", fixture.path, "users", "key-\(Self.keyCount - 1)"])
        #expect(get.status == 0 && get.stdout == testValue(writer: 0, seq: Self.keyCount - 1, size: 400), "\(get)")

        let recover = try await CLITests.logstore(["recover", fixture.path])
        #expect(recover.status == 0, "\(recover)")
        #expect(recover.text.contains("nothing was lost"), "\(recover)")
    }

    @Test("recover --recovery point-in-time --json cuts at the damage, renames later segments, reports it; exit 3")
    func pointInTime() async throws {
        let fixture = try await Fixture.build()
        let run = try await CLITests.logstore(["recover", fixture.path, "--recovery", "point-in-time", "--json"])
        #expect(run.status == 3, "\(run)")
        #expect(run.lines.count == 1, "one JSON object: \(run)")
        let report = try Self.object(run)
        #expect(report["mode"] as? String == "point-in-time")
        #expect(report["opened"] as? Bool == true)
        #expect(report["lost_data"] as? Bool == true)
        let damage = try #require(report["damage_found"] as? [[String: Any]], "\(run)")
        #expect(damage.contains { $0["file"] as? String == fixture.damagedFile && ($0["offset"] as? NSNumber)?.intValue == fixture.offset })

        let dropped = try #require(report["dropped"] as? [String: Any], "\(run)")
        #expect(dropped["first_damage_file"] as? String == fixture.damagedFile)
        #expect((dropped["first_damage_offset"] as? NSNumber)?.intValue == fixture.offset)
        #expect((dropped["ranges"] as? NSNumber)?.intValue == 1 + fixture.laterSegments.count)
        #expect(((dropped["frames"] as? NSNumber)?.intValue ?? 0) > 0, "valid frames after the cut are dropped")
        let cut = try #require(report["cut"] as? [String: Any], "\(run)")
        #expect(cut["file"] as? String == fixture.damagedFile)
        #expect((cut["offset"] as? NSNumber)?.intValue == fixture.offset)
        #expect((cut["end"] as? NSNumber)?.intValue == 64 * 1024)
        let files = try #require(report["dropped_files"] as? [[String: Any]], "\(run)")
        #expect(files.compactMap { $0["file"] as? String } == fixture.laterSegments.map { $0 + ".dropped" })
        for later in fixture.laterSegments {
            #expect(FileManager.default.fileExists(atPath: later + ".dropped"), "\(later) should be renamed")
        }

        // The log now ends before the damage: the keys before it remain, and strict opens agree.
        let after = try #require(report["after"] as? [String: Any], "\(run)")
        let keys = try #require((after["keys"] as? NSNumber)?.intValue)
        #expect(keys > 0 && keys < 20, "frame 10 of the first segment: \(keys) keys before it")
        let (list, count) = try await Self.listed(fixture.path)
        #expect(list.status == 0 && list.stderr.isEmpty, "\(list)")
        #expect(count == keys, "\(list)")
    }

    @Test("a data command in point-in-time mode prints the cut on stderr and keeps stdout clean")
    func pointInTimeDataCommand() async throws {
        let fixture = try await Fixture.build()
        let run = try await CLITests.logstore(["get", fixture.path, "users", "key-0", "--recovery", "point-in-time"])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout == testValue(writer: 0, seq: 0, size: 400), "\(run)")
        #expect(run.stderr.contains("recovery: point-in-time cut the log at \(fixture.damagedFile) @ \(fixture.offset)"), "\(run)")
        #expect(run.stderr.contains("truncated \(fixture.damagedFile) at offset \(fixture.offset)"), "\(run)")
        #expect(run.stderr.contains(".dropped"), "\(run)")
    }

    @Test("recover in strict mode on a damaged store exits 1 and names the damage (JSON and text)")
    func strictRecoverFails() async throws {
        let fixture = try await Fixture.build()
        let run = try await CLITests.logstore(["recover", fixture.path, "--json"])
        #expect(run.status == 1, "\(run)")
        let report = try Self.object(run)
        #expect(report["opened"] as? Bool == false)
        let error = try #require(report["error"] as? String, "\(run)")
        #expect(error.contains(fixture.damagedFile) && error.contains("offset \(fixture.offset)"), "\(run)")
        #expect(run.stderr.contains("error: "), "\(run)")
        let text = try await CLITests.logstore(["recover", fixture.path])
        #expect(text.status == 1, "\(text)")
        #expect(text.text.contains("opened:") && text.text.contains("no: "), "\(text)")
        #expect(text.text.contains("\(fixture.damagedFile) @ \(fixture.offset)"), "the verify lists the damage: \(text)")
    }

    @Test("salvage through the CLI reports a Raft group cut with its last kept index and commit past it; strict opens after keep saying so")
    func raftGroupCut() async throws {
        let original = try await RaftSalvageTests.makeStore()
        let (copy, path, frame, _) = try RaftSalvageTests.damaged(original)
        let group = RaftSalvageTests.damagedGroup
        let keptLast = UInt64(RaftSalvageTests.damagedRound) * RaftSalvageTests.perAppend

        let salvage = try await CLITests.logstore(["raft", "show", copy.logPath, "\(group)", "--recovery", "salvage"])
        #expect(salvage.status == 0, "\(salvage)")
        #expect(salvage.text.contains("last index:"), "stdout is the command's: \(salvage)")
        #expect(salvage.stderr.contains("\(path) @ \(frame.offset)"), "\(salvage)")
        #expect(salvage.stderr.contains("recovery: Raft group \(group) cut: entries up to index \(keptLast) kept"), "\(salvage)")
        #expect(salvage.stderr.contains("commit is past the last index"), "\(salvage)")

        // Later strict opens replay the same cut: recover says so as data, and exits 3.
        let recover = try await CLITests.logstore(["recover", copy.logPath, "--json", "--no-verify"])
        #expect(recover.status == 3, "\(recover)")
        let report = try Self.object(recover)
        #expect(report["damage_found"] is NSNull, "--no-verify: \(recover)")
        #expect(report["dropped"] is NSNull, "a strict open drops nothing new: \(recover)")
        let cuts = try #require(report["raft_groups_cut"] as? [[String: Any]], "\(recover)")
        #expect(cuts.count == 1, "\(recover)")
        #expect((cuts.first?["group"] as? NSNumber)?.uint64Value == group.rawValue)
        #expect((cuts.first?["last_index_kept"] as? NSNumber)?.uint64Value == keptLast)
        #expect(cuts.first?["commit_past_last_index"] as? Bool == true)
    }

    @Test("bad --recovery values are refused by argument parsing (exit 64)")
    func badValues() async throws {
        let dir = TemporaryDirectory("logstore-recovery-cli-args")
        for arguments in [
            ["get", dir.path, "users", "k", "--recovery", "lenient"],
            ["list", dir.path, "users", "--recovery", "Salvage"],
            ["raft", "show", dir.path, "1", "--recovery", "pointInTime"],
            ["recover", dir.path, "--recovery"],
        ] {
            let run = try await CLITests.logstore(arguments)
            #expect(run.status == 64, "\(arguments): \(run)")
            #expect(run.stderr.contains("recovery"), "\(arguments): \(run)")
        }
    }
}
