import ArgumentParser
import LogStore

/// The leading arguments of every key-value command: the store directory, the namespace,
/// how keys and values are spelled, and the recovery mode of the open.
struct StoreArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("The store directory.", valueName: "store-dir"))
    var storeDirectory: String

    @Argument(help: "The namespace: 1 to 64 characters of A-Z a-z 0-9 . _ - (not '.' or '..').")
    var namespace: String

    @Flag(help: "Keys and values on the command line, on standard input and in text output are hex digits (two per byte) instead of UTF-8 text.")
    var hex = false

    @OptionGroup var recovery: RecoveryArguments

    /// How keys and values are spelled.
    var encoding: ByteEncoding { ByteEncoding(hex: hex) }

    /// The validated namespace.
    ///
    /// - Throws: ``CLIFailure`` (bad input) naming the rule the name breaks.
    func validatedNamespace() throws(CLIFailure) -> Namespace {
        do throws(StoreError) {
            return try Namespace(namespace)
        } catch {
            throw CLIFailure(error)
        }
    }

    /// `text` as a key, in the chosen encoding.
    ///
    /// - Throws: ``CLIFailure`` (bad input) for malformed hex or an empty key.
    func key(_ text: String, what: String = "key") throws(CLIFailure) -> [UInt8] {
        let bytes = try encoding.decode(text, what: what)
        guard !bytes.isEmpty else { throw CLIFailure(badInput: "\(what) cannot be empty") }
        return bytes
    }
}

/// `--expect-version`: the version a conditional write requires, `absent` or a number
/// (as `put` prints it; a leading `v` is accepted).
struct ExpectedVersion: ExpressibleByArgument, Sendable {
    /// The version.
    let version: Version

    init?(argument: String) {
        if argument == "absent" {
            version = .absent
            return
        }
        let digits = argument.hasPrefix("v") ? argument.dropFirst() : Substring(argument)
        guard let lsn = UInt64(digits) else { return nil }
        version = Version(lsn: lsn)
    }

    static var defaultCompletionKind: CompletionKind { .list(["absent"]) }
}
