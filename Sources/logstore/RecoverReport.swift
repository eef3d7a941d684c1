import LogStore

/// The full report of `logstore recover`: the damage a read-only verify found, then what the
/// open did (or why it failed), as aligned `name: value` lines or as one JSON object.
struct RecoverReport {
    /// The store directory.
    let path: String
    /// The recovery mode asked for.
    let mode: LogConfiguration.RecoveryMode
    /// The problems the read-only verify found before the open; `nil` when it did not run.
    let damage: [InspectionProblem]?
    /// What the open did; `nil` when it failed.
    let outcome: RecoveryOutcome?
    /// Why the verify or the open failed.
    let failure: CLIFailure?

    /// `name: value` lines, details indented under them.
    var text: String {
        var fields: [(String, String, [String])] = [
            ("store", path, []),
            ("recovery mode", RecoveryModeArgument(mode).rawValue, []),
        ]
        if let damage {
            let corrupt = damage.filter(\.isCorruption).count
            let found = "\(RecoveryText.count(UInt64(damage.count), "problem")), \(corrupt) of them corruption"
            let summary = (damage.isEmpty ? "none" : found) + " (read-only verify before opening)"
            fields.append(("damage found", summary, damage.map { Inspection.line($0).dropLast().description }))
        }
        fields.append(("opened", outcome != nil ? "yes" : "no: \(failure?.message.split(separator: "\n").first ?? "")", []))
        if let outcome { fields += Self.textFields(outcome) }
        let width = fields.map(\.0.count).max() ?? 0
        return fields.map { name, value, details in
            name + ":" + String(repeating: " ", count: width - name.count + 2) + value + "\n"
                + details.map { "  \($0)\n" }.joined()
        }.joined()
    }

    /// What the open did, as text fields.
    private static func textFields(_ outcome: RecoveryOutcome) -> [(String, String, [String])] {
        let log = outcome.report.log
        let count = RecoveryText.count
        var fields: [(String, String, [String])] = []
        if let dropped = log.dropped {
            let value =
                "\(count(dropped.ranges, "range")), \(count(dropped.bytes, "byte")), \(count(dropped.frames, "valid frame")) after a cut; "
                + "first damage \(dropped.firstDamagePath) @ \(dropped.firstDamageOffset)"
                + (dropped.firstLSN.map { ", first LSN lost \($0)" } ?? "")
            fields.append(("dropped", value, RecoveryText.fileLines(outcome)))
        } else {
            fields.append(("dropped", "nothing", RecoveryText.fileLines(outcome)))
        }
        fields.append(("torn tail", log.tornTail.map { "cut at offset \($0.offset) of the newest segment (\(count($0.bytes, "byte")))" } ?? "none", []))
        let m = log.manifest
        fields.append((
            "manifest",
            "\(count(m.records, "record")), \(count(m.bytes, "byte")); torn tail cut: \(count(m.tornBytes, "byte"))"
                + (m.rewritten ? "; rewritten" : ""), []
        ))
        fields.append((
            "removed", "\(count(log.removedUnusedSegments, "unused segment file")), \(count(log.removedObsoleteSegments, "obsolete segment file"))", []
        ))
        fields.append((
            "unclean writers",
            log.uncleanWriterCount == 0 ? "none" : "\(log.uncleanWriterCount): " + log.uncleanWriters.map(Inspection.hex16).joined(separator: ", "), []
        ))
        let cuts = outcome.report.raftGroupsCut
        fields.append((
            "raft groups cut",
            cuts.isEmpty ? "none" : "\(cuts.count): " + cuts.map(\.group.description).joined(separator: ", "),
            cuts.map(RecoveryText.raftCut)
        ))
        let past = outcome.commitPastLastIndex
        fields.append((
            "commit past last",
            past.isEmpty ? "none" : past.map(\.group.description).joined(separator: ", "),
            past.map { "Raft group \($0.group): commit \($0.commit), last index \($0.lastIndex)" }
        ))
        let r = outcome.report
        fields.append((
            "after",
            "\(count(log.segments, "segment")), \(count(log.records, "record")), last LSN \(log.lastLSN); "
                + "\(count(UInt64(r.keys), "key")) in \(count(UInt64(r.namespaces), "namespace")); "
                + "\(count(UInt64(outcome.raftGroups), "Raft group"))", []
        ))
        fields.append((
            "result",
            outcome.lostData
                ? "data was lost (see above); " + (RecoveryText.aftermath(outcome) ?? "the store opens strictly")
                : "nothing was lost", []
        ))
        return fields
    }

    /// The report as one JSON object (keys listed in `recover --help`).
    var json: JSONTree {
        var entries: [(String, JSONTree)] = [
            ("store", .string(path)),
            ("mode", .string(RecoveryModeArgument(mode).rawValue)),
            ("opened", .bool(outcome != nil)),
            ("error", failure.map { .string($0.message) } ?? .null),
            ("damage_found", damage.map { .array($0.map(Self.json)) } ?? .null),
        ]
        if let outcome { entries += Self.jsonEntries(outcome) }
        return .object(entries)
    }

    /// A problem the verify found.
    private static func json(_ problem: InspectionProblem) -> JSONTree {
        .object([
            ("kind", .string(problem.kind.name)),
            ("corruption", .bool(problem.isCorruption)),
            ("file", .string(problem.path)),
            ("segment", problem.segmentSequence.map(JSONTree.unsigned) ?? .null),
            ("offset", problem.offset.map(JSONTree.unsigned) ?? .null),
            ("message", .string(problem.message)),
        ])
    }

    /// What the open did, as JSON entries.
    private static func jsonEntries(_ outcome: RecoveryOutcome) -> [(String, JSONTree)] {
        let log = outcome.report.log
        let dropped: JSONTree = log.dropped.map { d in
            .object([
                ("ranges", .unsigned(d.ranges)), ("bytes", .unsigned(d.bytes)), ("frames", .unsigned(d.frames)),
                ("first_lsn", d.firstLSN.map(JSONTree.unsigned) ?? .null),
                ("first_damage_file", .string(d.firstDamagePath)), ("first_damage_offset", .unsigned(d.firstDamageOffset)),
            ])
        } ?? .null
        let cut: JSONTree = outcome.cut.map { c in
            .object([("file", .string(c.path)), ("offset", .unsigned(c.offset)), ("end", .unsigned(c.end)), ("bytes", .unsigned(c.end - c.offset))])
        } ?? .null
        let files = outcome.droppedFiles.map { f in
            JSONTree.object([("file", .string(f.path)), ("bytes", .unsigned(f.bytes))])
        }
        let torn: JSONTree = log.tornTail.map { .object([("offset", .unsigned($0.offset)), ("bytes", .unsigned($0.bytes))]) } ?? .null
        let m = log.manifest
        let manifest = JSONTree.object([
            ("records", .unsigned(m.records)), ("bytes", .unsigned(m.bytes)), ("torn_bytes", .unsigned(m.tornBytes)),
            ("rewritten", .bool(m.rewritten)),
        ])
        let r = outcome.report
        let after = JSONTree.object([
            ("segments", .unsigned(log.segments)), ("frames", .unsigned(log.frames)), ("records", .unsigned(log.records)),
            ("last_lsn", .unsigned(log.lastLSN)), ("keys", .unsigned(UInt64(r.keys))), ("namespaces", .unsigned(UInt64(r.namespaces))),
            ("raft_groups", .unsigned(UInt64(outcome.raftGroups))),
        ])
        return [
            ("dropped", dropped),
            ("cut", cut),
            ("dropped_files", .array(files)),
            ("torn_tail", torn),
            ("manifest", manifest),
            ("removed_unused_segments", .unsigned(log.removedUnusedSegments)),
            ("removed_obsolete_segments", .unsigned(log.removedObsoleteSegments)),
            ("unclean_writers", .array(log.uncleanWriters.map { .string(Inspection.hex16($0)) })),
            ("raft_groups_cut", .array(r.raftGroupsCut.map(json))),
            (
                "raft_groups_commit_past_last_index",
                .array(outcome.commitPastLastIndex.map { .object([("group", .unsigned($0.group.rawValue)), ("commit", .unsigned($0.commit)), ("last_index", .unsigned($0.lastIndex))]) })
            ),
            ("after", after),
            ("lost_data", .bool(outcome.lostData)),
        ]
    }

    /// A Raft group cut.
    private static func json(_ cut: RaftGroupCut) -> JSONTree {
        .object([
            ("group", .unsigned(cut.group.rawValue)),
            ("last_index_kept", .unsigned(cut.lastIndexKept)),
            ("first_dropped_index", cut.firstDroppedIndex.map(JSONTree.unsigned) ?? .null),
            ("first_dropped_lsn", .unsigned(cut.firstDroppedLSN)),
            ("file", .string(cut.firstDroppedPath)),
            ("offset", .unsigned(cut.firstDroppedOffset)),
            ("dropped_records", .unsigned(cut.droppedRecords)),
            ("follows_skipped_damage", .bool(cut.followsSkippedDamage)),
            ("rebased", .bool(cut.rebased)),
            ("last_index", .unsigned(cut.lastIndex)),
            ("commit", .unsigned(cut.commit)),
            ("commit_past_last_index", .bool(cut.commitPastLastIndex)),
        ])
    }
}
