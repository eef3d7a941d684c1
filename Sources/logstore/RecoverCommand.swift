import ArgumentParser
import LogStore

/// `logstore recover`: opens a store in a recovery mode, prints everything its recovery found
/// and did (text, or one JSON object), and closes it.
struct RecoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Open a store in a recovery mode, print what recovery dropped or cut, and close it.",
        discussion: """
            Opens the store with --recovery (default strict), which is how a damaged store is \
            repaired for good: a point-in-time or salvage open records what it dropped in the \
            manifest, so every later open (strict too) accepts the store. Nothing else is \
            written. put, get, delete, list and raft take --recovery too and print a short \
            report on standard error; recover prints it in full.

            What each mode drops (docs/FORMAT.md §7.5):
              strict         only a torn tail of the newest segment (a write
                             cut short by a crash, never acknowledged); any
                             other damage refuses the open.
              point-in-time  everything after the first damage in LSN order,
                             valid later writes included: the damaged segment
                             is truncated and sealed there, later segments
                             are renamed to <name>.dropped.
              salvage        only the damaged byte ranges, recorded as skip
                             ranges in the manifest; every valid frame is
                             kept. A Raft group whose records cannot follow
                             the gap is cut (it keeps its entries up to the
                             gap); its node must not vote as if it had the
                             lost entries.

            Before opening, recover verifies the store read-only (as 'logstore verify' does) \
            and lists each problem it found, with file and offset: the ranges a salvage skips, \
            the first of which is where a point-in-time open cuts (--no-verify skips this \
            extra read of the store). To look without changing anything, run 'logstore verify' \
            instead.

            The report: the damage found, what the open dropped (ranges, bytes, valid frames \
            after a cut, the first damage's file and offset, the first LSN lost), the byte \
            range cut off a segment and the segments renamed to .dropped, a torn tail cut, \
            files removed, writers that did not close cleanly, the Raft groups cut (last index \
            kept, first index and LSN dropped, whether the commit index is now past the last \
            index), and the log after the open. With --json it is one JSON object with the keys \
            store, mode, opened, error, damage_found, dropped, cut, dropped_files, torn_tail, \
            manifest, removed_unused_segments, removed_obsolete_segments, unclean_writers, \
            raft_groups_cut, raft_groups_commit_past_last_index, after and lost_data.

            Examples:
              logstore recover ./store                           # does a strict open work?
              logstore recover ./store --recovery salvage
              logstore recover ./store --recovery point-in-time --json | jq .dropped

            Exit codes: 0 opened and nothing was lost (a torn tail cut is not a loss); 1 the \
            open failed (strict refused damage, salvage cannot repair it, no store, store \
            locked, I/O error; the report still says what was found); 3 opened, but data was \
            dropped or skipped, or Raft groups were cut (now, or after damage an earlier salvage \
            skipped); 64 command-line usage error.
            """)

    /// Exit code when the store opened but data is missing.
    static let lostDataCode: Int32 = 3

    @Argument(help: ArgumentHelp("The store directory.", valueName: "store-dir"))
    var storeDirectory: String

    @OptionGroup var recovery: RecoveryArguments

    @Flag(name: .customLong("no-verify"), help: "Do not verify the store read-only before opening it (the report then lists no damage found).")
    var noVerify = false

    @Flag(help: "Print one JSON object instead of text lines.")
    var json = false

    func run() async throws {
        let path = storeDirectory
        var damage: [InspectionProblem]?
        var outcome: RecoveryOutcome?
        var failure: CLIFailure?
        do throws(CLIFailure) {
            try StoreAccess.requireDirectory(path)
            if !noVerify {
                do throws(CLIFailure) {
                    damage = try await Inspection.run("logstore-verify") { () throws(LogError) in
                        try StoreInspector.verify(path: path).problems
                    }
                } catch {
                    throw CLIFailure(error.message)  // exit code 1, as a failed open
                }
            }
            outcome = try await StoreAccess.withOpenedStore(at: path, create: false, configuration: recovery.configuration) {
                (_, outcome) throws(CLIFailure) -> RecoveryOutcome in outcome
            }
        } catch {
            failure = error
        }
        let report = RecoverReport(path: path, mode: recovery.mode, damage: damage, outcome: outcome, failure: failure)
        Console.out(json ? report.json.serialized + "\n" : report.text)
        if let failure { throw failure.report() }
        if outcome?.lostData == true { throw ExitCode(Self.lostDataCode) }
    }
}
