import ArgumentParser
import Foundation
import LogStore

/// `logstore inspect`: describes a store's manifest, segments, writers and space use, read-only.
struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a store's manifest, segments, writers and live/dead bytes without changing it.",
        discussion: """
            Scans the store read-only (as verify does) and prints: the manifest summary \
            (records, bytes, writer starts, events by type); a table of segment files \
            (sequence, writer id, LSN range, bytes used, file size, sealed, state, live and \
            dead bytes); the writer ids seen (with the pid and start time of their last start); \
            totals; and any problems found.

            Live bytes are those of key-value puts that hold the current value of their key; \
            dead bytes are everything else in a segment's frames (overwritten and deleted \
            puts, tombstones, other records, frame headers, padding, the seal). A segment with \
            few live bytes is what compaction would reclaim.

            With --json every part is a JSON object on its own line, told apart by its "type": \
            manifest, segment, writer, problem, totals (last).

            Examples:
              logstore inspect ./store
              logstore inspect --json ./store | jq 'select(.type == "segment") | .dead_bytes'

            Exit codes: 0 described (no corruption; a torn tail is a note); 1 corruption found \
            (the description is still printed); 2 the store cannot be inspected (missing, not a \
            store, locked, unreadable); 64 command-line usage error.
            """)

    @Argument(help: ArgumentHelp("The store directory.", valueName: "store-dir"))
    var storeDirectory: String

    @Flag(help: "Print JSON lines (manifest, segment, writer, problem and totals objects) instead of text.")
    var json = false

    func run() async throws {
        do {
            let path = storeDirectory
            let description = try await Inspection.run("logstore-inspect") { () throws(LogError) in
                try StoreInspector.describe(path: path)
            }
            Console.out(json ? renderJSON(description) : renderText(description))
            if !description.verification.isClean { throw ExitCode(Inspection.corruptionCode) }
        } catch let failure as CLIFailure {
            throw failure.report()
        }
    }

    private static func time(_ nanoseconds: UInt64) -> String {
        guard nanoseconds > 0 else { return "-" }
        let date = Date(timeIntervalSince1970: Double(nanoseconds) / 1e9)
        return ISO8601DateFormatter().string(from: date)
    }

    private static func lsnRange(_ s: InspectedSegment) -> String {
        guard s.baseLSN > 0 else { return "-" }
        return s.lastLSN >= s.baseLSN ? "\(s.baseLSN)...\(s.lastLSN)" : "none (base \(s.baseLSN))"
    }

    private static func percent(_ part: UInt64, _ whole: UInt64) -> String {
        whole == 0 ? "-" : Format.fixed(Double(part) * 100 / Double(whole), 1) + "%"
    }

    private func renderText(_ d: StoreDescription) -> String {
        let v = d.verification, s = v.summary, m = d.manifest
        var text = "store \(storeDirectory)\n\n"
        text += "manifest: \(m.records) records, \(m.bytes) bytes"
            + (m.tornBytes > 0 ? ", torn tail of \(m.tornBytes) bytes" : "")
            + ", \(m.writerStarts) writer starts" + (m.skipRanges > 0 ? ", \(m.skipRanges) skip ranges" : "") + "\n"
        text += "  events: " + d.manifest.events.map { "\($0.name) \($0.count)" }.joined(separator: ", ") + "\n\n"
        var rows: [[String]] = [["seq", "writer", "lsns", "records", "used", "file", "sealed", "state", "live", "dead", "live%"]]
        for seg in d.segments {
            let x = seg.segment
            rows.append([
                String(x.sequence), Inspection.hex16(x.writerID), Self.lsnRange(x), String(x.records), String(x.bytesUsed),
                String(x.fileSize), x.sealed ? "yes" : "no", x.listed || x.state == .obsolete ? x.state.rawValue : "\(x.state.rawValue), unlisted",
                String(seg.liveBytes), String(seg.deadBytes), Self.percent(seg.liveBytes, x.frameBytes),
            ])
        }
        text += "segments:\n" + Self.table(rows) + "\n"
        text += "writers:\n"
        for w in d.writers {
            text += "  \(Inspection.hex16(w.id))  starts \(w.starts)  pid \(w.pid == 0 ? "-" : String(w.pid))"
                + "  started \(Self.time(w.startNanoseconds))  segments \(w.segments)\n"
        }
        text += "\ntotals: \(s.segments) segment files (\(s.segmentsWithData) with data), \(s.records) records"
            + (s.records > 0 ? " (LSN \(s.firstLSN)...\(s.lastLSN))" : "") + ", \(s.frameBytes) frame bytes, "
            + "\(s.fileBytes) file bytes\n"
        text += "        live \(d.liveBytes) bytes (\(Self.percent(d.liveBytes, s.frameBytes))) in \(d.liveKeys) keys, "
            + "dead \(d.deadBytes) bytes\n"
        if v.problems.isEmpty {
            text += "problems: none\n"
        } else {
            text += "problems:\n" + v.problems.map { "  " + Inspection.line($0) }.joined()
        }
        return text
    }

    /// Left-aligned columns separated by two spaces, indented by two.
    private static func table(_ rows: [[String]]) -> String {
        var widths = [Int](repeating: 0, count: rows.first?.count ?? 0)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            "  " + row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ") + "\n"
        }.joined()
    }

    private func renderJSON(_ d: StoreDescription) -> String {
        var lines: [JSONObject] = []
        var manifest = JSONObject()
        manifest["type"] = .string("manifest")
        manifest["records"] = .unsigned(d.manifest.records)
        manifest["bytes"] = .unsigned(d.manifest.bytes)
        manifest["torn_bytes"] = .unsigned(d.manifest.tornBytes)
        manifest["writer_starts"] = .unsigned(d.manifest.writerStarts)
        manifest["skip_ranges"] = .unsigned(d.manifest.skipRanges)
        for event in d.manifest.events { manifest["events_" + event.name.lowercased()] = .unsigned(event.count) }
        lines.append(manifest)
        for seg in d.segments {
            let x = seg.segment
            var o = JSONObject()
            o["type"] = .string("segment")
            o["seq"] = .unsigned(x.sequence)
            o["writer"] = .string(Inspection.hex16(x.writerID))
            o["base_lsn"] = .unsigned(x.baseLSN)
            o["last_lsn"] = .unsigned(x.lastLSN)
            o["records"] = .unsigned(x.records)
            o["frames"] = .unsigned(x.frames)
            o["bytes_used"] = .unsigned(x.bytesUsed)
            o["file_size"] = .unsigned(x.fileSize)
            o["frame_bytes"] = .unsigned(x.frameBytes)
            o["sealed"] = .bool(x.sealed)
            o["listed"] = .bool(x.listed)
            o["state"] = .string(x.state.rawValue)
            o["live_bytes"] = .unsigned(seg.liveBytes)
            o["dead_bytes"] = .unsigned(seg.deadBytes)
            o["live_records"] = .unsigned(seg.liveRecords)
            o["path"] = .string(x.path)
            lines.append(o)
        }
        for w in d.writers {
            var o = JSONObject()
            o["type"] = .string("writer")
            o["id"] = .string(Inspection.hex16(w.id))
            o["starts"] = .unsigned(w.starts)
            o["pid"] = .unsigned(w.pid)
            o["start_ns"] = .unsigned(w.startNanoseconds)
            o["segments"] = .unsigned(w.segments)
            lines.append(o)
        }
        lines += d.verification.problems.map(Inspection.json)
        let s = d.verification.summary
        var totals = JSONObject()
        totals["type"] = .string("totals")
        totals["segments"] = .unsigned(s.segments)
        totals["segments_with_data"] = .unsigned(s.segmentsWithData)
        totals["records"] = .unsigned(s.records)
        totals["first_lsn"] = .unsigned(s.firstLSN)
        totals["last_lsn"] = .unsigned(s.lastLSN)
        totals["frame_bytes"] = .unsigned(s.frameBytes)
        totals["file_bytes"] = .unsigned(s.fileBytes)
        totals["live_bytes"] = .unsigned(d.liveBytes)
        totals["dead_bytes"] = .unsigned(d.deadBytes)
        totals["live_keys"] = .integer(Int64(d.liveKeys))
        totals["problems"] = .unsigned(s.problems)
        totals["corruptions"] = .unsigned(s.corruptions)
        totals["torn_tail"] = .bool(s.tornTail)
        lines.append(totals)
        return lines.map { $0.serialized + "\n" }.joined()
    }
}
