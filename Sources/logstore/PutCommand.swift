import ArgumentParser
import LogStore

/// `logstore put`: stores one value, durably, and prints its new version.
struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Store a value under a key (durably) and print its new version.",
        discussion: """
            The value comes from the <value> argument or, with --stdin or when <value> is \
            omitted, from standard input (all of it, byte for byte; with --hex, hex digits). \
            The store directory is created if it does not exist. put returns once the value \
            is on disk (written and fdatasync'ed), then prints the new version: a number that \
            grows with every write, for --expect-version of a later put or delete.

            With --expect-version the put is a compare-and-swap: it writes only if the key is \
            at that version now ('absent': only if the key does not exist), else it writes \
            nothing and fails naming the expected and the actual version.

            Keys and values are UTF-8 text unless --hex. A key that starts with '-' goes \
            after '--'.

            Examples:
              logstore put /var/lib/app/store users alice '{"age": 31}'
              curl -s https://example.com/logo.png | logstore put ./store assets logo.png
              v=$(logstore put ./store config mode fast)
              logstore put ./store config mode slow --expect-version "$v"
              logstore put --hex ./store blobs 00ff 0badcafe

            Exit codes: 0 stored; 1 failed (version mismatch, store locked by another \
            process, I/O error...); 2 bad input (namespace, key or value the store refuses, \
            malformed hex, <value> together with --stdin); 64 command-line usage error.
            """)

    @OptionGroup var store: StoreArguments

    @Argument(help: "The key (UTF-8 text, or hex with --hex).")
    var key: String

    @Argument(help: "The value (UTF-8 text, or hex with --hex). Omit it (or pass --stdin) to read the value from standard input.")
    var value: String?

    @Flag(help: "Read the value from standard input (the default when <value> is omitted).")
    var stdin = false

    @Option(name: .customLong("expect-version"), help: ArgumentHelp(
        "Write only if the key's current version is N, or with 'absent' only if the key does not exist (compare-and-swap).",
        valueName: "N|absent"))
    var expectVersion: ExpectedVersion?

    func run() async throws {
        do {
            let version = try await put()
            Console.out("\(version.lsn)\n")
        } catch {
            throw error.report()
        }
    }

    private func put() async throws(CLIFailure) -> Version {
        let namespace = try store.validatedNamespace()
        let key = try store.key(self.key)
        let bytes: [UInt8]
        switch (value, stdin) {
        case (.some, true):
            throw CLIFailure(badInput: "give the value either as an argument or with --stdin, not both")
        case (let text?, false):
            bytes = try store.encoding.decode(text, what: "value")
        case (nil, _):
            bytes = try store.encoding.decode(input: try StandardInput.readAll(), what: "value")
        }
        let expected = expectVersion?.version
        return try await StoreAccess.withStore(at: store.storeDirectory, create: true, configuration: store.recovery.configuration) { (s) throws(CLIFailure) -> Version in
            do throws(StoreError) {
                if let expected {
                    return try await s.compareAndSwap(key, in: namespace, expected: expected, newValue: bytes)
                }
                return try await s.put(bytes, for: key, in: namespace)
            } catch {
                throw CLIFailure(error)
            }
        }
    }
}
