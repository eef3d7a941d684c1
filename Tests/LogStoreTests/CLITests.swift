import Foundation
import Testing

@testable import LogStore

/// The `logstore` binary's key-value commands, run as child processes: output, messages and
/// exit codes (0 success, 1 failure, 2 bad input).
@Suite("CLI")
struct CLITests {
    /// What a finished `logstore` run printed and how it exited.
    struct Run: CustomStringConvertible {
        let status: Int32
        let stdout: [UInt8]
        let stderr: String

        /// Standard output as text.
        var text: String { String(decoding: stdout, as: UTF8.self) }
        /// Standard output's lines, without the last newline.
        var lines: [String] { text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }

        var description: String { "exit \(status), stdout \(text.debugDescription), stderr \(stderr.debugDescription)" }
    }

    /// A failure to find or run the binary (not a failing command).
    struct HarnessError: Error, CustomStringConvertible {
        let description: String
    }

    /// The `logstore` executable next to the test binary (`.build/<config>/logstore`), or
    /// `$LOGSTORE_BINARY`.
    static func binaryPath() throws -> String {
        if let path = ProcessInfo.processInfo.environment["LOGSTORE_BINARY"] { return path }
        // The test binary: /proc/self/exe on Linux; the bundle's executable inside an .xctest on macOS.
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? Bundle.main.executablePath ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
        var tried: [String] = []
        for _ in 0..<4 {  // .build/<config>/x.xctest/Contents/MacOS/x on macOS
            let candidate = directory.appendingPathComponent("logstore").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            tried.append(candidate)
            directory.deleteLastPathComponent()
        }
        throw HarnessError(
            description: "the logstore executable is missing (looked for \(tried.joined(separator: ", "))): "
                + "build it first (swift build) or set LOGSTORE_BINARY")
    }

    /// Runs `logstore <arguments>` with `input` on standard input and waits for it.
    static func logstore(_ arguments: [String], input: [UInt8] = []) async throws -> Run {
        let binary = try binaryPath()
        let scratch = TemporaryDirectory("logstore-cli-io")
        let outPath = scratch.path + "/stdout", errPath = scratch.path + "/stderr", inPath = scratch.path + "/stdin"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        _ = FileManager.default.createFile(atPath: inPath, contents: Data(input))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: HarnessError(description: "cannot run \(binary): \(error)"))
            }
        }
        let stdout = try [UInt8](Data(contentsOf: URL(fileURLWithPath: outPath)))
        let stderr = try String(decoding: Data(contentsOf: URL(fileURLWithPath: errPath)), as: UTF8.self)
        return Run(status: status, stdout: stdout, stderr: stderr)
    }

    /// Runs `logstore put` and returns the version it printed.
    static func put(_ store: String, _ namespace: String, _ key: String, _ value: String, _ extra: [String] = [])
        async throws -> UInt64
    {
        let run = try await logstore(["put", store, namespace, key, value] + extra)
        try #require(run.status == 0, "put failed: \(run)")
        return try #require(UInt64(run.text.trimmingCharacters(in: .whitespacesAndNewlines)), "put printed no version: \(run)")
    }

    @Test("put then get round-trips text, stdin, binary (--hex) and JSON output")
    func putGetRoundTrip() async throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/store"
        let v1 = try await Self.put(store, "users", "alice", "hello, world")
        #expect(v1 >= 1)

        let get = try await Self.logstore(["get", store, "users", "alice"])
        #expect(get.status == 0, "\(get)")
        #expect(get.text == "hello, world")  // raw: no newline added

        let stdin = try await Self.logstore(["put", store, "users", "bob", "--stdin"], input: Array("line 1\nline 2\n".utf8))
        #expect(stdin.status == 0, "\(stdin)")
        #expect(try await Self.logstore(["get", store, "users", "bob"]).text == "line 1\nline 2\n")

        let omitted = try await Self.logstore(["put", store, "users", "carol"], input: [0, 1, 2, 0xFF])
        #expect(omitted.status == 0, "\(omitted)")
        #expect(try await Self.logstore(["get", store, "users", "carol"]).stdout == [0, 1, 2, 0xFF])

        let hexPut = try await Self.logstore(["put", "--hex", store, "blobs", "00ff", "0BADCAFE"])
        #expect(hexPut.status == 0, "\(hexPut)")
        #expect(try await Self.logstore(["get", "--hex", store, "blobs", "00ff"]).text == "0badcafe\n")

        let json = try await Self.logstore(["get", "--json", store, "users", "alice"])
        #expect(json.status == 0, "\(json)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout)) as? [String: Any], "\(json)")
        #expect(object["value_utf8"] as? String == "hello, world")
        #expect(object["value_base64"] as? String == Data("hello, world".utf8).base64EncodedString())
        #expect((object["version"] as? NSNumber)?.uint64Value == v1)
        #expect(object["key_utf8"] as? String == "alice")
    }

    @Test("get of a missing key exits 1 and says so on stderr")
    func getMissingKey() async throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/store"
        _ = try await Self.put(store, "users", "alice", "x")
        let run = try await Self.logstore(["get", store, "users", "nobody"])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.hasPrefix("error: "), "\(run)")
        #expect(run.stderr.contains("not found"), "\(run)")

        let noStore = try await Self.logstore(["get", dir.path + "/missing", "users", "alice"])
        #expect(noStore.status == 1, "\(noStore)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/missing"), "get created a store")
    }

    @Test("list filters by prefix, pages with --limit and resumes with --after")
    func listPages() async throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/store"
        var versions: [String: UInt64] = [:]
        for (key, value) in [("a1", "x"), ("a2", "yy"), ("a3", "zzz"), ("b1", "w")] {
            versions[key] = try await Self.put(store, "things", key, value)
        }
        let first = try await Self.logstore(["list", store, "things", "--prefix", "a", "--limit", "2"])
        #expect(first.status == 0, "\(first)")
        #expect(first.lines == ["a1\t\(versions["a1"]!)\t1", "a2\t\(versions["a2"]!)\t2", "more after: a2"])

        let second = try await Self.logstore(["list", store, "things", "--prefix", "a", "--limit", "2", "--after", "a2"])
        #expect(second.status == 0, "\(second)")
        #expect(second.lines == ["a3\t\(versions["a3"]!)\t3"])

        let all = try await Self.logstore(["list", "--json", store, "things"])
        #expect(all.status == 0, "\(all)")
        #expect(all.lines.count == 4)
        #expect(all.lines.first?.contains("\"key_utf8\":\"a1\"") == true, "\(all)")

        let badLimit = try await Self.logstore(["list", store, "things", "--limit", "0"])
        #expect(badLimit.status == 2, "\(badLimit)")
    }

    @Test("delete removes a key; deleting a missing key exits 1 unless --force")
    func delete() async throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/store"
        _ = try await Self.put(store, "users", "alice", "x")
        let deleted = try await Self.logstore(["delete", store, "users", "alice"])
        #expect(deleted.status == 0, "\(deleted)")
        #expect(deleted.text == "deleted\n")
        #expect(try await Self.logstore(["get", store, "users", "alice"]).status == 1)

        let again = try await Self.logstore(["delete", store, "users", "alice"])
        #expect(again.status == 1, "\(again)")
        #expect(again.stderr.contains("not found"), "\(again)")
        let forced = try await Self.logstore(["delete", "--force", store, "users", "alice"])
        #expect(forced.status == 0, "\(forced)")

        // Conditional delete: the wrong version deletes nothing, the right one deletes.
        let v = try await Self.put(store, "users", "bob", "y")
        let wrong = try await Self.logstore(["delete", store, "users", "bob", "--expect-version", "\(v + 1000)"])
        #expect(wrong.status == 1, "\(wrong)")
        #expect(try await Self.logstore(["get", store, "users", "bob"]).text == "y")
        let right = try await Self.logstore(["delete", store, "users", "bob", "--expect-version", "\(v)"])
        #expect(right.status == 0, "\(right)")
        #expect(try await Self.logstore(["get", store, "users", "bob"]).status == 1)
    }

    @Test("compare-and-swap with a stale version exits non-zero naming both versions and writes nothing")
    func compareAndSwapMismatch() async throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/store"
        let v1 = try await Self.put(store, "config", "mode", "fast")
        let v2 = try await Self.put(store, "config", "mode", "slow", ["--expect-version", "\(v1)"])
        #expect(v2 > v1)

        let stale = try await Self.logstore(["put", store, "config", "mode", "lost", "--expect-version", "\(v1)"])
        #expect(stale.status != 0, "\(stale)")
        #expect(stale.status == 1, "\(stale)")
        #expect(stale.stderr.hasPrefix("error: "), "\(stale)")
        #expect(stale.stderr.contains("v\(v1)"), "the message should name the expected version: \(stale)")
        #expect(stale.stderr.contains("v\(v2)"), "the message should name the actual version: \(stale)")
        #expect(try await Self.logstore(["get", store, "config", "mode"]).text == "slow")

        let notAbsent = try await Self.logstore(["put", store, "config", "mode", "new", "--expect-version", "absent"])
        #expect(notAbsent.status == 1, "\(notAbsent)")
        _ = try await Self.put(store, "config", "other", "new", ["--expect-version", "absent"])
    }

    @Test("bad input exits 2: bad namespace, malformed hex, value given twice")
    func badInput() async throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/store"
        let badNamespace = try await Self.logstore(["put", store, "no/slashes", "k", "v"])
        #expect(badNamespace.status == 2, "\(badNamespace)")
        #expect(badNamespace.stderr.hasPrefix("error: namespace"), "\(badNamespace)")
        #expect(!FileManager.default.fileExists(atPath: store), "bad input created a store")

        _ = try await Self.put(store, "ok", "k", "v")
        let badGet = try await Self.logstore(["get", store, "..", "k"])
        #expect(badGet.status == 2, "\(badGet)")
        let badHex = try await Self.logstore(["put", "--hex", store, "ok", "zz", "00"])
        #expect(badHex.status == 2, "\(badHex)")
        let twice = try await Self.logstore(["put", "--stdin", store, "ok", "k", "v"])
        #expect(twice.status == 2, "\(twice)")
    }

    @Test("a store held open by another process is refused: the message names the holder's writer id")
    func lockedStore() async throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/store"
        let store = try Store.open(at: path)
        _ = try await store.put(Array("v".utf8), for: Array("k".utf8), in: try Namespace("ns"))
        // The holder's writer id as LOCK and the message spell it: 16 lowercase hex digits.
        let hex = String(store.writerID, radix: 16)
        let writerID = String(repeating: "0", count: 16 - hex.count) + hex
        let run = try await Self.logstore(["get", path, "ns", "k"])
        try store.close()
        #expect(run.status == 1, "\(run)")
        #expect(run.stderr.hasPrefix("error: "), "\(run)")
        #expect(run.stderr.contains("locked"), "\(run)")
        #expect(run.stderr.contains(writerID), "the message should name the holder's writer \(writerID): \(run)")
        #expect(run.stderr.contains("pid \(ProcessInfo.processInfo.processIdentifier)"), "\(run)")
        // Once the holder closed it, the same command works.
        let after = try await Self.logstore(["get", path, "ns", "k"])
        #expect(after.status == 0, "\(after)")
        #expect(after.text == "v")
    }

    @Test("get, list and the raft commands change no file of the store")
    func readCommandsWriteNothing() async throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/store"
        let store = try Store.open(at: path)
        _ = try await store.put(Array("v".utf8), for: Array("k".utf8), in: try Namespace("ns"))
        try await store.raft.append(5, [RaftEntry(index: 1, term: 1, payload: [1, 2])], hardState: RaftHardState(term: 1))
        try store.close()
        let before = try fileTree(path)
        for arguments in [
            ["get", path, "ns", "k"], ["list", path, "ns"], ["raft", "groups", path], ["raft", "show", path, "5"],
            ["raft", "entries", path, "5"],
        ] {
            let run = try await Self.logstore(arguments)
            #expect(run.status == 0, "\(arguments): \(run)")
        }
        expectSameTree(before, try fileTree(path))
    }
}
