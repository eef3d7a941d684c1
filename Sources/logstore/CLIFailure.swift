import ArgumentParser
import LogStore

/// Why a key-value command failed, and with which exit code.
///
/// Exit codes of `put`, `get`, `delete` and `list`:
/// - 1: the operation failed (key not found, version mismatch, store locked by another
///   process, I/O error, corruption...);
/// - 2: bad input (namespace, key or value the store refuses, malformed hex, conflicting options);
/// - 64: the command line could not be parsed (missing argument, unknown option; printed
///   with the usage by the argument parser).
struct CLIFailure: Error, Sendable, CustomStringConvertible {
    /// Exit code for a failed operation.
    static let failureCode: Int32 = 1
    /// Exit code for bad input.
    static let badInputCode: Int32 = 2

    /// The sentence printed after `error: `.
    let message: String
    /// The process's exit code.
    let exitCode: Int32

    /// A failed operation (exit code 1).
    init(_ message: String) {
        self.message = message
        self.exitCode = Self.failureCode
    }

    /// Bad input (exit code 2).
    init(badInput message: String) {
        self.message = message
        self.exitCode = Self.badInputCode
    }

    /// A store error: its description, exit code 2 for the kinds that mean bad input.
    init(_ error: StoreError) {
        self.message = error.description
        switch error.kind {
        case .invalidNamespace, .invalidKey, .keyTooLarge, .valueTooLarge, .invalidArgument:
            self.exitCode = Self.badInputCode
        default:
            self.exitCode = Self.failureCode
        }
    }

    /// The message.
    var description: String { message }

    /// Prints `error: <message>` to standard error and returns the exit to throw.
    func report() -> ExitCode {
        Console.error("error: \(message)\n")
        return ExitCode(exitCode)
    }
}
