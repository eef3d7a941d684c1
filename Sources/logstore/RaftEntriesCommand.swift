import ArgumentParser
import LogStore

/// `logstore raft entries`: prints a range of one Raft group's entries.
struct RaftEntriesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "entries",
        abstract: "Print a Raft group's entries: index, term, payload length, payload.",
        discussion: """
            Prints the entries --from ... --to (both included; by default every retained \
            entry), one line each, tab-separated: index, term, payload length and the payload: \
            quoted text when it is printable UTF-8, else 0x and hex digits (with --hex, always \
            bare hex digits). At most --limit entries are printed; when more remain, a last \
            line 'more from: <index>' gives the --from of the next page.

            With --json each entry is one JSON object on a line of its own: group, index, \
            term, payload_length, payload_utf8 (null when not valid UTF-8) and payload_base64 \
            (plus payload_hex with --hex); a cut page ends with {"more_from": <index>}.

            Reading follows the Raft storage rules: --from below the group's first index is \
            refused as compacted (those entries were discarded by a snapshot or a \
            truncation), --to past its last index as unavailable; 'raft show' prints both \
            indexes.

            Examples:
              logstore raft entries ./store 7
              logstore raft entries ./store 7 --from 100 --to 199 --json | jq .term
              logstore raft entries ./store 7 --from 100 --limit 20 --hex

            Exit codes: 0 printed (also when the range is empty); 1 the group does not exist, \
            the range is compacted or unavailable, or another failure (no store, store locked, \
            I/O error, corruption); 2 bad input (--limit below 1, --from more than one past \
            --to); 64 command-line usage error.
            """)

    /// Entries asked of the store per read, and the payload bytes one read may gather.
    static let pageEntries: UInt64 = 1024
    static let pageBytes = 1 << 20
    /// Output is flushed once this many bytes are pending (and at the end).
    static let flushBytes = 64 * 1024

    @OptionGroup var target: RaftGroupArguments

    @Option(help: ArgumentHelp("First index to print (default: the group's first index).", valueName: "index"))
    var from: UInt64?

    @Option(help: ArgumentHelp("Last index to print, included (default: the group's last index).", valueName: "index"))
    var to: UInt64?

    @Option(help: ArgumentHelp("Print at most N entries.", valueName: "N"))
    var limit: Int?

    @Flag(help: "Print payloads as hex digits (in JSON, add payload_hex).")
    var hex = false

    @Flag(help: "Print JSON lines instead of tab-separated text.")
    var json = false

    func run() async throws {
        do throws(CLIFailure) {
            try validateInput()
            let group = RaftGroupID(target.group)
            let (from, to, limit, hex, json) = (from, to, limit, hex, json)
            let failure = try await StoreAccess.withStore(at: target.storeDirectory, create: false, configuration: target.recovery.readConfiguration) {
                (store) throws(CLIFailure) -> CLIFailure? in
                let info = try RaftInspection.info(store, group)
                let first = from ?? info.firstIndex
                // Without --to, a --from past the end asks for that one entry, so it is refused
                // as unavailable rather than printing nothing.
                let last = to ?? (first > info.lastIndex &+ 1 ? first : info.lastIndex)
                guard last &+ 1 >= first else {
                    throw CLIFailure(badInput: "--from \(first) is past --to \(last) + 1")
                }
                let printer = Printer(group: group, hex: hex, json: json)
                return printer.print(store.raft, first..<last &+ 1, limit: limit, firstIndex: info.firstIndex, lastIndex: info.lastIndex)
            }
            if let failure { throw failure }
        } catch {
            throw error.report()
        }
    }

    private func validateInput() throws(CLIFailure) {
        if let limit, limit < 1 { throw CLIFailure(badInput: "--limit must be at least 1, not \(limit)") }
        if let from, let to, to &+ 1 < from { throw CLIFailure(badInput: "--from \(from) is past --to \(to) + 1") }
        if to == .max { throw CLIFailure(badInput: "--to must be below \(UInt64.max)") }
    }

    /// Reads the range page by page and prints as it goes.
    private struct Printer {
        let group: RaftGroupID
        let hex: Bool
        let json: Bool

        /// Prints the entries of `range` (at most `limit`); returns the failure that stopped it
        /// (what was read before it is printed).
        func print(_ raft: RaftLog, _ range: Range<UInt64>, limit: Int?, firstIndex: UInt64, lastIndex: UInt64) -> CLIFailure? {
            var pending = ""
            var printed = 0
            var next = range.lowerBound
            var failure: CLIFailure?
            while next < range.upperBound {
                if let limit, printed >= limit {
                    pending += json ? "{\"more_from\":\(next)}\n" : "more from: \(next)\n"
                    break
                }
                // The first read asks for the whole range (and, with maxBytes 0, gets its first
                // entry), so a compacted or unavailable range is refused before anything is
                // printed; the later ones read a page each.
                let isFirst = next == range.lowerBound
                let upper = isFirst ? range.upperBound : min(range.upperBound, next + RaftEntriesCommand.pageEntries)
                let page: [RaftEntry]
                do {
                    page = try raft.entries(group, next..<upper, maxBytes: isFirst ? 0 : RaftEntriesCommand.pageBytes)
                } catch {
                    failure = Self.explain(error, first: firstIndex, last: lastIndex)
                    break
                }
                for entry in page {
                    if let limit, printed >= limit { break }
                    pending += line(entry)
                    printed += 1
                    next = entry.index + 1
                }
                if pending.utf8.count >= RaftEntriesCommand.flushBytes {
                    Console.out(pending)
                    pending = ""
                }
            }
            Console.out(pending)
            return failure
        }

        private func line(_ entry: RaftEntry) -> String {
            guard !json else {
                var object = JSONObject()
                object["group"] = .unsigned(group.rawValue)
                object["index"] = .unsigned(entry.index)
                object["term"] = .unsigned(entry.term)
                object["payload_length"] = .integer(Int64(entry.payload.count))
                object.setBytes("payload", entry.payload, hex: hex)
                return object.serialized + "\n"
            }
            let payload = hex ? ByteEncoding.hex(entry.payload) : Self.printable(entry.payload)
            return "\(entry.index)\t\(entry.term)\t\(entry.payload.count)\t\(payload)\n"
        }

        /// Quoted text when `bytes` are UTF-8 without control characters (tab, newline and
        /// carriage return allowed, escaped), else `0x` and hex digits.
        static func printable(_ bytes: [UInt8]) -> String {
            if let text = ByteEncoding.utf8Text(bytes),
                text.unicodeScalars.allSatisfy({ $0 == "\t" || $0 == "\n" || $0 == "\r" || !($0.properties.generalCategory == .control) })
            {
                return text.debugDescription
            }
            return "0x" + ByteEncoding.hex(bytes)
        }

        /// The store's error, with a hint on the range the group has for compacted and
        /// unavailable entries (whose message does not say "unavailable", so it is prefixed).
        static func explain(_ error: StoreError, first: UInt64, last: UInt64) -> CLIFailure {
            let retained = last >= first ? "the group retains entries \(first)...\(last)" : "the group retains no entries (its first index is \(first))"
            switch error.kind {
            case .compacted:
                return CLIFailure("\(error.description) (\(retained); start at --from \(first) or later)")
            case .unavailable:
                return CLIFailure("unavailable: \(error.description) (\(retained); end at --to \(last) or earlier)")
            default:
                return CLIFailure(error)
            }
        }
    }
}
