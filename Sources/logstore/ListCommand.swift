import ArgumentParser
import LogStore

/// `logstore list`: one page of a namespace's keys.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List keys of a namespace in byte order, with their versions and value lengths.",
        discussion: """
            Prints one line per key: the key, its version and its value's length in bytes, \
            separated by tabs (keys as UTF-8 text, or hex digits with --hex; use --hex or \
            --json for keys that are not printable text). At most --limit keys are listed; \
            when the page is full (there may be more), a last line 'more after: <key>' gives \
            the key to pass to --after for the next page, which is empty if there were no \
            more. With --json, each key is a JSON object (key_utf8, key_base64, version, \
            value_length) on a line of its own, and a full page ends with \
            {"more_after_utf8": ..., "more_after_base64": ...}.

            The store is opened read-only: nothing is written.

            Examples:
              logstore list ./store users --prefix a --limit 100
              logstore list ./store users --prefix a --limit 100 --after alice

            Exit codes: 0 listed (also when nothing matched); 1 failed (no store, store locked, \
            I/O error); 2 bad input (namespace the store refuses, malformed hex, --limit below 1); \
            64 command-line usage error.
            """)

    /// Keys per page unless --limit says otherwise.
    static let defaultLimit = 1000

    @OptionGroup var store: StoreArguments

    @Option(help: "List only keys that start with these bytes (UTF-8 text, or hex with --hex).")
    var prefix: String?

    @Option(help: "List only keys after this one (exclusive): the 'more after' key of the previous page.")
    var after: String?

    @Option(help: "Most keys to list.")
    var limit: Int = Self.defaultLimit

    @Flag(help: "Print JSON lines instead of tab-separated text.")
    var json = false

    func run() async throws {
        do {
            Console.out(render(try await list()))
        } catch {
            throw error.report()
        }
    }

    private func list() async throws(CLIFailure) -> KeyPage {
        let namespace = try store.validatedNamespace()
        let prefix = try self.prefix.map { (text) throws(CLIFailure) in try store.encoding.decode(text, what: "prefix") } ?? []
        let after = try self.after.map { (text) throws(CLIFailure) in try store.key(text, what: "--after key") }
        guard limit >= 1 else { throw CLIFailure(badInput: "--limit must be at least 1, not \(limit)") }
        return try await StoreAccess.withStore(at: store.storeDirectory, create: false, configuration: store.recovery.readConfiguration) { (s) throws(CLIFailure) -> KeyPage in
            do throws(StoreError) {
                return try s.list(in: namespace, prefix: prefix, after: after, limit: limit)
            } catch {
                throw CLIFailure(error)
            }
        }
    }

    private func render(_ page: KeyPage) -> String {
        var text = ""
        for entry in page.entries {
            if json {
                var object = JSONObject()
                object.setBytes("key", entry.key, hex: store.hex)
                object["version"] = .unsigned(entry.version.lsn)
                object["value_length"] = .integer(Int64(entry.valueLength))
                text += object.serialized + "\n"
            } else {
                text += "\(store.encoding.encode(entry.key))\t\(entry.version.lsn)\t\(entry.valueLength)\n"
            }
        }
        if let resume = page.resumeAfter {
            if json {
                var object = JSONObject()
                object.setBytes("more_after", resume, hex: store.hex)
                text += object.serialized + "\n"
            } else {
                text += "more after: \(store.encoding.encode(resume))\n"
            }
        }
        return text
    }
}
