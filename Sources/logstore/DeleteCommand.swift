import ArgumentParser
import LogStore

/// `logstore delete`: deletes one key, durably.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a key (durably).",
        discussion: """
            Writes a tombstone, so the key stays deleted across restarts, and prints \
            'deleted' once it is on disk. Deleting a key that does not exist writes nothing \
            and fails (exit code 1) unless --force.

            With --expect-version N the delete is a compare-and-swap: it deletes only if the \
            key is at version N now, else it deletes nothing and fails naming the expected \
            and the actual version.

            Examples:
              logstore delete ./store users alice
              logstore delete ./store config mode --expect-version 42

            Exit codes: 0 deleted (or, with --force, already absent); 1 the key does not exist, \
            version mismatch, or another failure (no store, store locked, I/O error); 2 bad \
            input (namespace or key the store refuses, malformed hex, --expect-version absent); \
            64 command-line usage error.
            """)

    @OptionGroup var store: StoreArguments

    @Argument(help: "The key (UTF-8 text, or hex with --hex).")
    var key: String

    @Option(name: .customLong("expect-version"), help: ArgumentHelp(
        "Delete only if the key's current version is N (compare-and-swap).", valueName: "N"))
    var expectVersion: ExpectedVersion?

    @Flag(help: "Succeed (exit code 0, printing 'absent') when the key does not exist.")
    var force = false

    func run() async throws {
        do {
            Console.out(try await delete() ? "deleted\n" : "absent\n")
        } catch {
            throw error.report()
        }
    }

    /// Whether a tombstone was written.
    private func delete() async throws(CLIFailure) -> Bool {
        let namespace = try store.validatedNamespace()
        let key = try store.key(self.key)
        let expected = expectVersion?.version
        if expected == .absent {
            throw CLIFailure(badInput: "--expect-version absent cannot delete anything: give the key's current version")
        }
        let deleted = try await StoreAccess.withStore(at: store.storeDirectory, create: false, configuration: store.recovery.configuration) {
            (s) throws(CLIFailure) -> Bool in
            do throws(StoreError) {
                if let expected {
                    _ = try await s.compareAndSwap(key, in: namespace, expected: expected, newValue: nil)
                    return true
                }
                return try await s.delete(key, in: namespace)
            } catch {
                throw CLIFailure(error)
            }
        }
        if !deleted && !force {
            throw CLIFailure("key \(store.encoding.quoted(key)) not found in namespace \(namespace)")
        }
        return deleted
    }
}
