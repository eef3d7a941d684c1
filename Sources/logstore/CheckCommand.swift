import ArgumentParser
import Foundation
import LogStore

/// `logstore check`: verifies a store against the ACK streams of the `logstore stress` runs
/// that wrote it (docs/TESTING.md, "The ACK stream").
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a store against the ACK streams of `logstore stress` runs: nothing acknowledged lost or changed.",
        discussion: """
            Reads the ACK files in the order given (one per stress run on this store, oldest \
            first), then verifies the store read-only (every checksum; a torn tail is \
            expected after a kill), opens it (recovery) and reads every key of the \
            stress-* namespaces and every Raft group. Each run's BASE lines (the state it \
            found at open) are checked against the runs before it, so a file list checks \
            every recovery in between, not only the last one.

            The rules (docs/TESTING.md, "The ACK stream", says them exactly): every \
            acknowledged key-value write is present with its value unless an acknowledged \
            write of the same key with a higher version (versions are LSNs) replaced it; a \
            key may instead hold the value of a write that was in flight at the crash (TRY \
            without ACK), at a higher version, or be absent because of a delete in flight; an \
            in-flight batch survives whole or not at all; a value refused by its condition \
            (NAK) never appears; no acknowledged version is past the end of the recovered log. \
            Each Raft group equals, exactly (indexes, every entry's term and payload checksum, \
            hard state, snapshot), the documented semantics applied to its acknowledged \
            operations, or that plus the first few of its operations in flight at the crash \
            (one in DiskFirst, up to a burst in MemFirst) — at least as many as its DURABLE \
            lines (what durableIndex reported) require.

            A last line cut short by SIGKILL (no newline) is ignored; any other malformed \
            line is an error.

            Examples:
              logstore check ./store --acks acks-1.txt
              logstore check ./store --acks acks-1.txt --acks acks-2.txt --acks acks-3.txt

            Exit codes: 0 every acknowledged operation is there (a summary is printed); 1 \
            violations (each printed as 'VIOLATION: ...'), or the store fails verification or \
            does not open; 2 an ACK file is unreadable or malformed; 64 command-line usage error.
            """)

    @Argument(help: ArgumentHelp("The store directory.", valueName: "store-dir"))
    var storeDirectory: String

    @Option(name: .customLong("acks"), help: ArgumentHelp("An ACK file (stdout of one logstore stress run); repeat for successive runs, oldest first.", valueName: "file"))
    var ackFiles: [String] = []

    @Option(name: .customLong("segment-size"), help: "Segment size to open the store with (new segments only; K, M, G suffixes; default 1M).")
    var segmentSize: ByteCount?

    @Option(help: "Print at most this many violations (all are counted).")
    var limit: Int = 50

    func validate() throws {
        guard !ackFiles.isEmpty else { throw ValidationError("give at least one --acks file") }
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        do throws(CLIFailure) {
            try await check()
        } catch {
            throw error.report()
        }
    }

    private func check() async throws(CLIFailure) {
        var checker = AckChecker()
        var lines = 0
        for (i, file) in ackFiles.enumerated() {
            do throws(AckFormatError) {
                let run = try AckRun(path: file)
                lines += run.lines
                try checker.read(run, number: i + 1)
            } catch {
                throw CLIFailure(badInput: "not an ACK stream: \(error)")
            }
        }
        let path = storeDirectory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIFailure("no store at \(path)")
        }
        var problems: [String] = []
        let report = try await Inspection.run("logstore-verify") { () throws(LogError) in try StoreInspector.verify(path: path) }
        for problem in report.corruption { problems.append("verify: \(Inspection.line(problem).dropLast())") }

        let configuration = StressCommand.storeConfiguration(
            segmentSize: segmentSize, backend: nil, compressThreshold: nil, persistence: .diskFirst)
        let namespaces = checker.namespaces
        let observed = await DedicatedThread.run(name: "logstore-check") { () -> Result<StoreObservation, StoreError> in
            Result { () throws(StoreError) -> StoreObservation in
                let store = try Store.open(at: path, configuration: configuration)
                let observation: StoreObservation
                do throws(StoreError) { observation = try StoreObservation(store, alsoNamespaces: namespaces) } catch {
                    // The read error is the one to report; still say if closing failed too.
                    do throws(StoreError) { try store.close() } catch let closeError {
                        Console.error("error: closing the store also failed: \(closeError)\n")
                    }
                    throw error
                }
                try store.close()
                return observation
            }
        }
        switch observed {
        case .success(let observation):
            checker.checkFinal(observation)
            problems += checker.violations
            printSummary(checker, observation: observation, files: ackFiles.count, lines: lines, tornTail: report.summary.tornTail)
        case .failure(let error):
            problems += checker.violations
            problems.append("the store does not open or read after the last run: \(error)")
        }
        guard problems.isEmpty else {
            for problem in problems.prefix(limit) { Console.out("VIOLATION: \(problem)\n") }
            if problems.count > limit { Console.out("... and \(problems.count - limit) more\n") }
            Console.out("FAILED: \(problems.count) violations\n")
            throw CLIFailure("\(problems.count) violations of the durability contract in \(path)")
        }
        Console.out("OK: every acknowledged operation is present and nothing else is\n")
    }

    private func printSummary(_ checker: AckChecker, observation: StoreObservation, files: Int, lines: Int, tornTail: Bool) {
        let acks = checker.acknowledged
        let entries = observation.groups.values.reduce(0) { $0 + $1.entries.count }
        var text = "\(files) ACK files, \(lines) lines"
        if checker.tornLines > 0 { text += " (\(checker.tornLines) torn last lines ignored)" }
        if checker.runsWithoutWrites > 0 { text += ", \(checker.runsWithoutWrites) runs killed before writing" }
        text += "\nacknowledged: \(acks.values.reduce(0, +)) ("
            + acks.keys.sorted().map { "\($0) \(acks[$0]!)" }.joined(separator: ", ")
            + "), refused by a condition: \(checker.refusedCount)\n"
        text += "in flight at the crashes: \(checker.inFlightSurvived) found to have survived, \(checker.inFlightLost) not (or not visible)\n"
        text += "store: \(observation.keys.count) keys, \(observation.groups.count) Raft groups with \(entries) entries, "
            + "recovered up to LSN \(observation.horizon)" + (tornTail ? " (verify saw a torn tail, which the open cut off)" : "") + "\n"
        Console.out(text)
    }
}
