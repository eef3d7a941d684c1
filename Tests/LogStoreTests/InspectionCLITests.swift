import Foundation
import Testing

@testable import LogStore

/// `logstore verify`, `dump` and `inspect` run as child processes (the binary located as the
/// key-value CLI tests locate it).
@Suite("Inspection CLI")
struct InspectionCLITests {
    @Test("verify exits 0 on a clean store and 1 on a flipped bit; dump and inspect change nothing")
    func verifyExitCodes() async throws {
        let fixture = try await InspectedFixture.build()
        let before = try snapshotFiles(fixture.path)

        let clean = try await CLITests.logstore(["verify", fixture.path])
        #expect(clean.status == 0, "\(clean)")
        #expect(clean.text.contains("OK"), "\(clean)")

        let json = try await CLITests.logstore(["verify", "--json", fixture.path])
        #expect(json.status == 0, "\(json)")
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data((json.lines.last ?? "").utf8)) as? [String: Any], "\(json)")
        #expect(summary["type"] as? String == "summary")
        #expect((summary["records"] as? NSNumber)?.intValue == fixture.writes.count)

        let dump = try await CLITests.logstore(["dump", fixture.path, "--namespace", "users", "--limit", "10"])
        #expect(dump.status == 0, "\(dump)")
        #expect(dump.lines.count == 10, "\(dump)")
        #expect(dump.lines.allSatisfy { $0.split(separator: "\t")[2] == "users" }, "\(dump)")
        let dumpJSON = try await CLITests.logstore(["dump", "--json", fixture.path, "--from", "5", "--limit", "1"])
        let first = try #require(
            try JSONSerialization.jsonObject(with: Data((dumpJSON.lines.first ?? "").utf8)) as? [String: Any], "\(dumpJSON)")
        #expect((first["lsn"] as? NSNumber)?.intValue == 5)
        #expect(first["key_encoding"] as? String == "utf8")

        let inspect = try await CLITests.logstore(["inspect", fixture.path])
        #expect(inspect.status == 0, "\(inspect)")
        #expect(inspect.text.contains("segments:"), "\(inspect)")
        #expect(try snapshotFiles(fixture.path) == before, "a command changed the store")

        // One flipped bit in the oldest segment's first frame body: corruption, exit 1.
        let copy = copyOfDirectory(fixture.path)
        let segment = try #require(try dataSegments(copy.logPath).first)
        let frame = try #require(try frames(inSegment: segment).first { !$0.isSeal })
        try flipBit(segment, at: frame.bodyEnd - 5)
        let damagedBefore = try snapshotFiles(copy.logPath)
        let corrupt = try await CLITests.logstore(["verify", copy.logPath])
        #expect(corrupt.status == 1, "\(corrupt)")
        #expect(corrupt.text.contains(segment), "the problem should name the file: \(corrupt)")
        #expect(corrupt.text.contains("CORRUPT"), "\(corrupt)")
        #expect(try snapshotFiles(copy.logPath) == damagedBefore, "verify changed the store")

        let missing = try await CLITests.logstore(["verify", fixture.dir.path + "/missing"])
        #expect(missing.status == 2, "\(missing)")
    }
}
