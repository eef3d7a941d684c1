import Foundation

/// A fresh directory that holds one benchmark session: the fsync-ceiling file and one
/// log subdirectory per run. Removed afterwards unless the user asked to keep it.
struct BenchDirectory: Sendable {
    /// Prefix of the directory's name; `mkdtemp` fills in the six `X`s.
    static let template = "logstore-bench-XXXXXX"

    /// The path of the directory (relative if `--dir` was).
    let path: String

    /// Makes a new, uniquely named directory in `parent` (created if missing), or in the
    /// system temp dir when `parent` is `nil`.
    ///
    /// - Throws: ``BenchError`` if a directory cannot be made.
    static func create(in parent: String?) throws(BenchError) -> BenchDirectory {
        let base = parent ?? FileManager.default.temporaryDirectory.path
        do {
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        } catch {
            throw BenchError("create directory", path: base, error: error)
        }
        // mkdtemp replaces the X's in place, so it gets a mutable NUL-terminated copy.
        var template = Array(((base.hasSuffix("/") ? base : base + "/") + Self.template).utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        guard made else {
            throw BenchError("mkdtemp", path: base + "/" + Self.template, errno: errno)
        }
        let bytes = template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return BenchDirectory(path: String(decoding: bytes, as: UTF8.self))
    }

    /// Makes a session directory in `parent`, runs `body` in it, then removes it unless
    /// `keep`. The error of `body` wins over an error removing the directory (which is then
    /// printed); with `keep`, where the directory is is printed.
    static func withSession(
        in parent: String?, keep: Bool, _ body: (BenchDirectory) async throws -> Void
    ) async throws {
        let directory = try create(in: parent)
        let outcome: Result<Void, any Error>
        do {
            try await body(directory)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        if keep {
            Console.error("logstore: kept \(directory.path)\n")
        } else {
            do {
                try remove(directory.path)
            } catch {
                if case .success = outcome { throw error }
                Console.error("logstore: \(error)\n")  // the run's own error is thrown below
            }
        }
        try outcome.get()
    }

    /// The path of `name` inside this directory.
    func subpath(_ name: String) -> String { path + "/" + name }

    /// Removes `path` (a run's log directory inside this one, or this directory itself)
    /// and everything in it.
    ///
    /// - Throws: ``BenchError`` if it cannot be removed.
    static func remove(_ path: String) throws(BenchError) {
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw BenchError("remove", path: path, error: error)
        }
    }
}
