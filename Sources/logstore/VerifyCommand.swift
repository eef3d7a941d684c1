import ArgumentParser
import LogStore

/// `logstore verify`: checks every checksum of a store, read-only.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every frame and record checksum of a store without changing it.",
        discussion: """
            Replays the manifest and scans every segment file, verifying each frame's CRC32C \
            and each record's own CRC32C (zstd containers are expanded and their records \
            checked), LSN continuity, seals against the manifest, that the manifest and \
            segments/ agree, every file in snapshots/ (header, length and data checksum) and \
            that each Raft group's newest snapshot marker names an existing file of the same \
            length and checksum. Unlike opening the store, verify never modifies it (nothing is \
            written, truncated or removed), and it goes on past damage so that it reports \
            every problem, not only the first. It takes the store's LOCK while it reads, so \
            it fails while another process has the store open.

            Each problem is printed as '<kind>: <file> @ <offset>: <what>', then a summary. \
            A torn tail of the newest segment (an unfinished last write, which the next open \
            cuts off) is printed as a note and is not corruption.

            Examples:
              logstore verify ./store
              logstore verify --json ./store | jq 'select(.type == "problem")'

            Exit codes: 0 no corruption (also with a torn tail); 1 corruption found; 2 the \
            store cannot be inspected (missing, not a store, locked, unreadable); 64 \
            command-line usage error.
            """)

    @Argument(help: ArgumentHelp("The store directory.", valueName: "store-dir"))
    var storeDirectory: String

    @Flag(help: "Print JSON lines: one object per problem ({\"type\":\"problem\",...}) and a last {\"type\":\"summary\",...}.")
    var json = false

    func run() async throws {
        do {
            let path = storeDirectory
            let report = try await Inspection.run("logstore-verify") { () throws(LogError) in
                try StoreInspector.verify(path: path)
            }
            Console.out(render(report))
            if !report.isClean { throw ExitCode(Inspection.corruptionCode) }
        } catch let failure as CLIFailure {
            throw failure.report()
        }
    }

    private func render(_ report: VerificationReport) -> String {
        let s = report.summary
        if json {
            var text = report.problems.map { Inspection.json($0).serialized + "\n" }.joined()
            var object = JSONObject()
            object["type"] = .string("summary")
            object["store"] = .string(storeDirectory)
            object["clean"] = .bool(report.isClean)
            object["torn_tail"] = .bool(s.tornTail)
            object["problems"] = .unsigned(s.problems)
            object["corruptions"] = .unsigned(s.corruptions)
            object["segments"] = .unsigned(s.segments)
            object["segments_with_data"] = .unsigned(s.segmentsWithData)
            object["frames"] = .unsigned(s.frames)
            object["records"] = .unsigned(s.records)
            object["frame_bytes"] = .unsigned(s.frameBytes)
            object["first_lsn"] = .unsigned(s.firstLSN)
            object["last_lsn"] = .unsigned(s.lastLSN)
            object["manifest_records"] = .unsigned(s.manifestRecords)
            object["snapshot_files"] = .unsigned(s.snapshotFiles)
            object["writers"] = .integer(Int64(s.writerIDs.count))
            text += object.serialized + "\n"
            return text
        }
        var text = report.problems.map(Inspection.line).joined()
        text += "\(s.segments) segment files (\(s.segmentsWithData) with data), \(s.frames) frames, "
            + "\(s.records) records, \(s.frameBytes) frame bytes"
            + (s.records > 0 ? ", LSN \(s.firstLSN)...\(s.lastLSN)" : "") + "\n"
        text += "manifest: \(s.manifestRecords) records, \(s.manifestBytes) bytes; \(s.writerIDs.count) writer ids\n"
        text += "snapshots/: \(s.snapshotFiles) files, \(s.snapshotBytes) bytes\n"
        if report.isClean {
            text += s.tornTail
                ? "OK: no corruption (note: a torn tail, an unfinished last write, will be cut off at the next open)\n"
                : "OK: no problems\n"
        } else {
            text += "CORRUPT: \(s.corruptions) problem\(s.corruptions == 1 ? "" : "s")\n"
        }
        return text
    }
}
