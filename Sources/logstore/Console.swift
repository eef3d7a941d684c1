import Foundation

/// Unbuffered writes to the process's standard streams.
///
/// Both go straight to the file descriptor, so a JSON line reaches a pipe as soon as its
/// run ends and stdout and stderr interleave in the order they were written.
/// Thread safety: each call is one `write`; calls may come from any task.
enum Console {
    /// Writes `text` to standard output as is (no newline added).
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Writes `text` to standard error as is (no newline added).
    static func error(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Whether standard error is a terminal (a progress line can then be erased in place).
    static var errorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}
