import ArgumentParser
import Foundation
import LogStore

/// Shared pieces of `verify`, `dump` and `inspect`: running the read-only inspector off the
/// cooperative pool, their exit codes, and how they print ids and bytes.
///
/// Exit codes of the three commands:
/// - 0: the store is consistent (a torn tail of the newest segment is reported as a note: the
///   next open cuts it off, as after any crash during a write);
/// - 1: corruption was found (each problem is printed);
/// - 2: the store could not be inspected (no such directory, not a store, locked by a running
///   process, unreadable file) or bad input (e.g. an invalid --namespace);
/// - 64: the command line could not be parsed.
enum Inspection {
    /// Exit code when corruption was found.
    static let corruptionCode: Int32 = 1
    /// Exit code when the store cannot be inspected, or for bad input.
    static let unusableCode: Int32 = 2

    /// Runs `body` (blocking file I/O) on a thread of its own; a ``LogError`` becomes a
    /// ``CLIFailure`` with exit code 2.
    static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws(LogError) -> T)
        async throws(CLIFailure) -> T
    {
        do {
            return try await DedicatedThread.run(name: name, body)
        } catch {
            throw CLIFailure(badInput: "cannot inspect the store: \(error)")
        }
    }

    /// A writer id as file names spell it: 16 lowercase hex digits.
    static func hex16(_ id: UInt64) -> String {
        let digits = String(id, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }

    /// Text for bytes in a text line: quoted UTF-8 text when valid (control characters
    /// escaped), else `0x` and hex digits; cut to `limit` bytes with `…` when longer.
    static func preview(_ bytes: [UInt8], limit: Int = .max) -> String {
        let cut = bytes.count > limit
        let shown = cut ? Array(bytes.prefix(limit)) : bytes
        let text: String
        if let utf8 = ByteEncoding.utf8Text(shown) {
            text = utf8.debugDescription
        } else if cut, let utf8 = longestValidPrefix(shown) {
            text = utf8.debugDescription  // the cut split a character
        } else {
            text = "0x" + ByteEncoding.hex(shown)
        }
        return cut ? text + "…" : text
    }

    private static func longestValidPrefix(_ bytes: [UInt8]) -> String? {
        for drop in 1...min(3, bytes.count) {
            if let text = ByteEncoding.utf8Text(Array(bytes.dropLast(drop))) { return text }
        }
        return nil
    }

    /// The problem as one text line: `<kind>: <file> @ <offset>: <message>`.
    static func line(_ problem: InspectionProblem) -> String {
        let label = problem.isCorruption ? problem.kind.name : "note: \(problem.kind.name)"
        return "\(label): \(problem.path)" + (problem.offset.map { " @ \($0)" } ?? "") + ": \(problem.message)\n"
    }

    /// The problem as a flat JSON object.
    static func json(_ problem: InspectionProblem) -> JSONObject {
        var object = JSONObject()
        object["type"] = .string("problem")
        object["kind"] = .string(problem.kind.name)
        object["corruption"] = .bool(problem.isCorruption)
        object["file"] = .string(problem.path)
        object["segment"] = problem.segmentSequence.map { .unsigned($0) } ?? .null
        object["offset"] = problem.offset.map { .unsigned($0) } ?? .null
        object["message"] = .string(problem.message)
        return object
    }
}

extension JSONObject {
    /// Sets `<name>` to the bytes as UTF-8 text when valid, else as base64, and
    /// `<name>_encoding` to "utf8" or "base64".
    mutating func setEncodedBytes(_ name: String, _ bytes: [UInt8]) {
        if let text = ByteEncoding.utf8Text(bytes) {
            self[name] = .string(text)
            self[name + "_encoding"] = .string("utf8")
        } else {
            self[name] = .string(ByteEncoding.base64(bytes))
            self[name + "_encoding"] = .string("base64")
        }
    }
}
