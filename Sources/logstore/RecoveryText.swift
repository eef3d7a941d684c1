import LogStore

/// What recovery did, as sentences: the short report a command prints on standard error after
/// a lossy open, and the lines of `logstore recover`'s full report.
enum RecoveryText {
    /// The short report: one `recovery: ` line per thing dropped, cut or renamed, and a last
    /// line saying what is now on disk; empty when ``RecoveryOutcome/isWorthReporting`` is false.
    static func short(_ outcome: RecoveryOutcome) -> String {
        guard outcome.isWorthReporting else { return "" }
        var lines = droppedLines(outcome) + raftLines(outcome)
        if outcome.report.log.dropped != nil, let torn = tornTail(outcome.report.log) { lines.append(torn) }
        if let after = aftermath(outcome) { lines.append(after) }
        return lines.map { "recovery: \($0)\n" }.joined()
    }

    /// What the log dropped, skipped, cut off a file, or renamed (no line when nothing).
    static func droppedLines(_ outcome: RecoveryOutcome) -> [String] {
        headline(outcome).map { [$0] + fileLines(outcome) } ?? fileLines(outcome)
    }

    /// What a point-in-time or salvage open dropped, in one sentence; `nil` when nothing.
    static func headline(_ outcome: RecoveryOutcome) -> String? {
        guard let dropped = outcome.report.log.dropped else { return nil }
        let lsn = dropped.firstLSN.map { " (first LSN lost: \($0))" } ?? ""
        let at = "\(dropped.firstDamagePath) @ \(dropped.firstDamageOffset)"
        switch outcome.mode {
        case .pointInTime:
            return "point-in-time cut the log at \(at)\(lsn): dropped \(count(dropped.ranges, "range")), "
                + "\(count(dropped.bytes, "byte")), \(count(dropped.frames, "valid frame")) after the cut"
        case .salvage, .strict:
            return "skipped \(count(dropped.ranges, "damaged range")), \(count(dropped.bytes, "byte")), "
                + "the first at \(at)\(lsn); every valid frame was kept"
        }
    }

    /// The byte range cut off the damaged segment and the segments renamed to `.dropped`.
    static func fileLines(_ outcome: RecoveryOutcome) -> [String] {
        var lines: [String] = []
        if let cut = outcome.cut {
            lines.append("truncated \(cut.path) at offset \(cut.offset): bytes [\(cut.offset), \(cut.end)) dropped")
        }
        for file in outcome.droppedFiles {
            let original = String(file.path.dropLast(".dropped".count))
            let name = file.path.split(separator: "/").last.map(String.init) ?? file.path
            lines.append("renamed \(original) (\(count(file.bytes, "byte"))) to \(name): its records are no longer in the log")
        }
        return lines
    }

    /// One line per Raft group cut, then per group whose commit index is past its last index.
    static func raftLines(_ outcome: RecoveryOutcome) -> [String] {
        var lines = outcome.report.raftGroupsCut.map(raftCut)
        let cut = Set(outcome.report.raftGroupsCut.map(\.group))
        for group in outcome.commitPastLastIndex where !cut.contains(group.group) {
            lines.append(
                "Raft group \(group.group): commit \(group.commit) is past its last index \(group.lastIndex): committed entries are missing")
        }
        return lines
    }

    /// A Raft group cut as one sentence: what it kept, what it lost, where, and its commit.
    static func raftCut(_ cut: RaftGroupCut) -> String {
        let from = cut.firstDroppedIndex.map { " from index \($0)" } ?? ""
        var line =
            "Raft group \(cut.group) cut: entries up to index \(cut.lastIndexKept) kept, "
            + "\(count(cut.droppedRecords, "record")) dropped\(from) "
            + "(LSN \(cut.firstDroppedLSN), \(cut.firstDroppedPath) @ \(cut.firstDroppedOffset))"
        if !cut.followsSkippedDamage { line += " with no skipped damage before it" }
        line += "; last index now \(cut.lastIndex), commit \(cut.commit)"
        if cut.commitPastLastIndex { line += ": commit is past the last index, committed entries are missing" }
        if cut.rebased { line += " (later records re-based the group)" }
        return line
    }

    /// The torn tail recovery cut off, if any.
    static func tornTail(_ report: RecoveryReport) -> String? {
        report.tornTail.map { "cut a torn tail of the newest segment at offset \($0.offset) (\(count($0.bytes, "byte")))" }
    }

    /// What the open left on disk for later opens, after a lossy point-in-time or salvage open.
    static func aftermath(_ outcome: RecoveryOutcome) -> String? {
        guard outcome.report.log.dropped != nil else { return nil }
        switch outcome.mode {
        case .pointInTime: return "the cut is recorded in the manifest: later strict opens end the log there"
        case .salvage: return "the skip ranges are recorded in the manifest: later strict opens skip them"
        case .strict: return nil
        }
    }

    /// `n` and `noun`, plural unless `n` is 1: "1 range", "3 ranges".
    static func count(_ n: UInt64, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
}
