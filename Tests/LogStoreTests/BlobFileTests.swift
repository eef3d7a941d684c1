import CLogStore
import Foundation
import Testing

@testable import LogStore

/// Whole files in `snapshots/` (`ls_blob.h`, `CommitLog+Files.swift`, docs/FORMAT.md §12):
/// atomic replacement through the I/O seam, verification on read, leftovers removed at open.
@Suite struct BlobFileTests {
    static let name = "raft-0000000000000001.snap"
    /// Data bytes of the file the corruption cases damage.
    static let damagedDataSize = 1000
    static let headerSize = Int(LS_BLOB_HEADER_SIZE)

    static func open(_ dir: TemporaryDirectory) throws -> CommitLog {
        try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
    }

    static func snapshotsPath(_ root: String) -> String { root + "/snapshots" }
    static func filePath(_ root: String, _ name: String = name) -> String { snapshotsPath(root) + "/" + name }

    /// Every entry of `snapshots/`, sorted.
    static func entries(_ root: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: snapshotsPath(root))) ?? []).sorted()
    }

    /// `count` reproducible bytes that differ with `seed`.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                buffer[i] = UInt8(truncatingIfNeeded: state >> 33)
            }
            initialized = count
        }
    }

    /// Records an issue unless `body` throws an error of `kind`.
    static func expect(
        _ kind: LogError.Kind, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws(LogError) -> Void
    ) {
        do throws(LogError) {
            try body()
            Issue.record("no error, expected \(kind)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Round trips

    @Test("empty and multi-megabyte files read back exactly, also after a reopen",
          arguments: [0, 1, 5 * 1024 * 1024 + 3])
    func roundTrip(_ size: Int) throws {
        let dir = TemporaryDirectory()
        let data = Self.bytes(size, seed: UInt64(size))
        let log = try Self.open(dir)
        try log.writeFile(named: Self.name, bytes: data)
        let readBack = try log.readFile(named: Self.name) == data  // not inside #expect: it would print megabytes
        #expect(readBack)
        try log.close()
        let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.filePath(dir.logPath))))
        #expect(file.count == Self.headerSize + size)
        #expect(Array(file.prefix(8)) == Array("LSBLOB01".utf8))
        let again = try Self.open(dir)
        let readAgain = try again.readFile(named: Self.name) == data
        #expect(readAgain)
        #expect(try again.fileNames() == [Self.name])
        try again.close()
    }

    @Test("a missing file reads as nil")
    func missingIsNil() throws {
        let dir = TemporaryDirectory()
        let log = try Self.open(dir)
        #expect(try log.readFile(named: Self.name) == nil)
        try log.close()
    }

    @Test("writing again replaces the contents whole, longer or shorter, and leaves no .tmp")
    func overwriteReplaces() throws {
        let dir = TemporaryDirectory()
        let log = try Self.open(dir)
        for (i, size) in [5000, 10, 70_000, 0, 3].enumerated() {
            let data = Self.bytes(size, seed: UInt64(i))
            try log.writeFile(named: Self.name, bytes: data)
            #expect(try log.readFile(named: Self.name) == data)
            #expect(Self.entries(dir.logPath) == [Self.name])
        }
        try log.close()
    }

    @Test("the listing holds complete files only: no .tmp, hidden, invalid names or directories; sorted")
    func listExcludesTmp() throws {
        let dir = TemporaryDirectory()
        let log = try Self.open(dir)
        for name in ["b", "a.checkpoint", "C-1_x"] { try log.writeFile(named: name, bytes: Array(name.utf8)) }
        let snapshots = Self.snapshotsPath(dir.logPath)
        for junk in ["c.tmp", ".hidden", "bad name"] {
            #expect(FileManager.default.createFile(atPath: snapshots + "/" + junk, contents: Data([1, 2, 3])))
        }
        try FileManager.default.createDirectory(atPath: snapshots + "/subdir", withIntermediateDirectories: false)
        #expect(try log.fileNames() == ["C-1_x", "a.checkpoint", "b"])
        try log.close()
    }

    @Test("a reopen removes leftover <name>.tmp files and nothing else")
    func reopenRemovesLeftovers() throws {
        let dir = TemporaryDirectory()
        try Self.open(dir).close()
        let snapshots = Self.snapshotsPath(dir.logPath)
        for junk in ["x.tmp", "y.snap.tmp", ".tmp", "bad name.tmp", "keep"] {
            #expect(FileManager.default.createFile(atPath: snapshots + "/" + junk, contents: Data([9])))
        }
        let log = try Self.open(dir)
        #expect(Self.entries(dir.logPath) == [".tmp", "bad name.tmp", "keep"])
        #expect(try log.fileNames() == ["keep"])
        try log.close()
    }

    @Test("invalid names are refused for every call and create nothing",
          arguments: ["", ".hidden", "..", "a.tmp", "a/b", "../escape", "a b", "é", "tab\t", "nul\0byte",
                      String(repeating: "n", count: 201)])
    func invalidNamesRefused(_ name: String) throws {
        let dir = TemporaryDirectory()
        let log = try Self.open(dir)
        Self.expect(.invalidArgument) { () throws(LogError) in try log.writeFile(named: name, bytes: [1]) }
        Self.expect(.invalidArgument) { () throws(LogError) in _ = try log.readFile(named: name) }
        Self.expect(.invalidArgument) { () throws(LogError) in try log.removeFile(named: name) }
        #expect(Self.entries(dir.logPath).isEmpty)
        try log.close()
    }

    @Test("the longest valid name (200 bytes) works")
    func longestName() throws {
        let dir = TemporaryDirectory()
        let log = try Self.open(dir)
        let name = String(repeating: "n", count: Int(LS_BLOB_NAME_MAX))
        try log.writeFile(named: name, bytes: [7])
        #expect(try log.readFile(named: name) == [7])
        try log.close()
    }

    @Test("remove deletes the file; removing a missing file is no error")
    func remove() throws {
        let dir = TemporaryDirectory()
        let log = try Self.open(dir)
        try log.writeFile(named: Self.name, bytes: [1, 2, 3])
        try log.writeFile(named: "other", bytes: [4])
        try log.removeFile(named: Self.name)
        #expect(try log.readFile(named: Self.name) == nil)
        #expect(try log.fileNames() == ["other"])
        try log.removeFile(named: Self.name)
        try log.close()
        let again = try Self.open(dir)
        #expect(try again.fileNames() == ["other"])
        try again.close()
    }

    @Test("every call after close throws closed")
    func closed() throws {
        let dir = TemporaryDirectory()
        let log = try Self.open(dir)
        try log.close()
        Self.expect(.closed) { () throws(LogError) in try log.writeFile(named: Self.name, bytes: [1]) }
        Self.expect(.closed) { () throws(LogError) in _ = try log.readFile(named: Self.name) }
        Self.expect(.closed) { () throws(LogError) in try log.removeFile(named: Self.name) }
        Self.expect(.closed) { () throws(LogError) in _ = try log.fileNames() }
    }

    @Test("concurrent writers of one name leave one complete version, never a mix")
    func concurrentWritersOfOneName() throws {
        let dir = TemporaryDirectory()
        let log = try Self.open(dir)
        let versions = (0..<8).map { Self.bytes(20_000 + $0 * 1000, seed: UInt64($0)) }
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: versions.count) { i in
            for _ in 0..<10 {
                do { try log.writeFile(named: Self.name, bytes: versions[i]) } catch { failures.add() }
                do {
                    if let read = try log.readFile(named: Self.name), !versions.contains(read) { failures.add() }
                } catch { failures.add() }
            }
        }
        #expect(failures.value == 0)
        #expect(versions.contains(try #require(try log.readFile(named: Self.name))))
        #expect(Self.entries(dir.logPath) == [Self.name])
        try log.close()
    }

    // MARK: Corruption

    /// A way to damage a file of `damagedDataSize` data bytes, and where the error must point.
    enum Damage: String, CaseIterable, Sendable {
        case magicBit, versionBit, lengthBit, dataCRCBit, headerCRCBit, dataBit, lastDataBit
        case truncatedHeader, truncatedData, trailingByte, zeroed, empty

        func apply(_ bytes: inout [UInt8]) {
            let header = BlobFileTests.headerSize
            switch self {
            case .magicBit: bytes[3] ^= 0x10
            case .versionBit: bytes[8] ^= 0x01
            case .lengthBit: bytes[16] ^= 0x01
            case .dataCRCBit: bytes[25] ^= 0x80
            case .headerCRCBit: bytes[30] ^= 0x04
            case .dataBit: bytes[header + 10] ^= 0x01
            case .lastDataBit: bytes[bytes.count - 1] ^= 0x80
            case .truncatedHeader: bytes.removeLast(bytes.count - 10)
            case .truncatedData: bytes.removeLast(bytes.count - (header + 100))
            case .trailingByte: bytes.append(0)
            case .zeroed: bytes = [UInt8](repeating: 0, count: bytes.count)
            case .empty: bytes = []
            }
        }

        /// Offset the error names.
        var offset: UInt64 {
            let header = UInt64(BlobFileTests.headerSize), data = UInt64(BlobFileTests.damagedDataSize)
            switch self {
            case .magicBit, .zeroed, .empty: return 0
            case .versionBit, .lengthBit, .dataCRCBit, .headerCRCBit: return 28  // the header CRC catches them
            case .dataBit, .lastDataBit: return header
            case .truncatedHeader: return 10
            case .truncatedData: return header + 100
            case .trailingByte: return header + data
            }
        }
    }

    @Test("every damage is corrupt, naming the file and the offset", arguments: Damage.allCases)
    func corruption(_ damage: Damage) throws {
        let dir = TemporaryDirectory()
        let log = try Self.open(dir)
        try log.writeFile(named: Self.name, bytes: Self.bytes(Self.damagedDataSize, seed: 3))
        try mutateFile(Self.filePath(dir.logPath)) { damage.apply(&$0) }
        do throws(LogError) {
            _ = try log.readFile(named: Self.name)
            Issue.record("\(damage) was not detected")
        } catch {
            #expect(error.kind == .corrupt, "\(error)")
            #expect(error.path == Self.filePath(dir.logPath))
            #expect(error.offset == damage.offset, "\(error)")
            #expect(error.message.contains("snapshots/\(Self.name)"), "\(error)")
        }
        // Still listed (it is a complete file by name); a new write repairs it.
        #expect(try log.fileNames() == [Self.name])
        try log.writeFile(named: Self.name, bytes: [1])
        #expect(try log.readFile(named: Self.name) == [1])
        try log.close()
    }

    @Test("a header with a valid CRC but another version or header size is corrupt at that field",
          arguments: [(8, UInt32(2)), (12, UInt32(64))])
    func unknownHeaderFields(_ field: Int, _ value: UInt32) throws {
        let dir = TemporaryDirectory()
        let log = try Self.open(dir)
        try log.writeFile(named: Self.name, bytes: [1, 2, 3])
        try mutateFile(Self.filePath(dir.logPath)) { bytes in
            for i in 0..<4 { bytes[field + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
            let crc = bytes.withUnsafeBytes { ls_crc32c_mask(ls_crc32c_value($0.baseAddress!, 28)) }
            for i in 0..<4 { bytes[28 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        }
        #expect(throws: LogError(kind: .corrupt, path: Self.filePath(dir.logPath), offset: UInt64(field),
                                 message: "corrupt file snapshots/\(Self.name) at offset \(field): "
                                     + (field == 8 ? "unknown format version" : "unexpected header size"))) {
            try log.readFile(named: Self.name)
        }
        try log.close()
    }

    // MARK: Crashes and I/O errors, through the fault-injecting seam

    /// A closed store whose `snapshots/<name>` holds `old` (no file when nil).
    static func store(with old: [UInt8]?) throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        let log = try open(dir)
        if let old { try log.writeFile(named: name, bytes: old) }
        try log.close()
        return dir
    }

    /// Waits until the log's threads stopped making I/O calls after open (the preparer readies
    /// the next segment in the background) and returns the call count then. With `expected`,
    /// waits for exactly that count, which the same store reaches every time.
    static func quiescentCallCount(_ faulty: FaultyLog, expected: UInt64? = nil) -> UInt64 {
        let pollMicroseconds: useconds_t = 2000, stablePolls = 25, maxPolls = 5000
        var last = ls_faultio_call_count(faulty.faults), stable = 0
        for _ in 0..<maxPolls {
            usleep(pollMicroseconds)
            let now = ls_faultio_call_count(faulty.faults)
            if let expected, now >= expected { return now }
            stable = now == last ? stable + 1 : 0
            last = now
            if expected == nil && stable >= stablePolls { return now }
        }
        return last
    }

    /// Which version `contents` is (short, so a failure does not print megabytes).
    static func outcome(_ contents: [UInt8]?, old: [UInt8]?, new: [UInt8]) -> String {
        switch contents {
        case old: "old"
        case new: "new"
        case nil: "missing"
        case let other?: "neither: \(other.count) bytes"
        }
    }

    /// I/O calls of one writeFile of `new` into a copy of `original`: their indices start at the
    /// returned base.
    static func countWriteCalls(_ original: TemporaryDirectory, new: [UInt8]) throws -> (base: UInt64, calls: UInt64) {
        let dry = copyOfDirectory(original.logPath)
        let faulty = try FaultyLog(directory: dry.logPath, backend: .pwritev, seed: 1)
        let base = quiescentCallCount(faulty)
        try faulty.log.writeFile(named: name, bytes: new)
        let calls = ls_faultio_call_count(faulty.faults) - base
        try faulty.log.close()
        ls_io_destroy(faulty.io)
        return (base, calls)
    }

    @Test("a crash at every I/O call of a write leaves the old file or the new one; a reopen removes the .tmp",
          arguments: [true, false])
    func crashAtEveryCall(hasOldFile: Bool) throws {
        let old: [UInt8]? = hasOldFile ? Self.bytes(3000, seed: 1) : nil
        let new = Self.bytes(9000, seed: 2)
        let original = try Self.store(with: old)
        let (base, calls) = try Self.countWriteCalls(original, new: new)
        #expect(calls >= 7, "create, two writes, fsync, close, rename, fsync dir")
        var outcomes: Set<String> = [], leftovers = 0
        // k == calls: the power goes right after the write returned, which must then be durable.
        for k in 0...calls {
            for kind in [LS_FAULT_CRASH, LS_FAULT_TORN_CRASH] {
                for seed in UInt64(1)...3 {
                    let copy = copyOfDirectory(original.logPath)
                    let faulty = try FaultyLog(directory: copy.logPath, backend: .pwritev, seed: seed)
                    let reached = Self.quiescentCallCount(faulty, expected: base)
                    try #require(reached == base, "the open made \(reached) I/O calls, the dry run \(base)")
                    if k < calls {
                        ls_faultio_plan(faulty.faults, base + k, kind, 100)
                        #expect(throws: LogError.self, "crash at call \(k)") {
                            try faulty.log.writeFile(named: Self.name, bytes: new)
                        }
                    } else {
                        try faulty.log.writeFile(named: Self.name, bytes: new)
                        ls_faultio_crash_now(faulty.faults)
                    }
                    try faulty.crashAndRelease()
                    if Self.entries(copy.logPath).contains(Self.name + ".tmp") { leftovers += 1 }
                    let log = try Self.open(copy)
                    let contents = try log.readFile(named: Self.name)
                    let outcome = Self.outcome(contents, old: old, new: new)
                    let context: Comment = "crash at call \(k) of \(calls) (\(kind)), seed \(seed)"
                    #expect(outcome == "old" || outcome == "new", context)
                    if k == calls { #expect(outcome == "new", context) }
                    outcomes.insert(outcome)
                    #expect(Self.entries(copy.logPath) == (contents == nil ? [] : [Self.name]), context)
                    try log.close()
                }
            }
        }
        #expect(outcomes == ["old", "new"], "a crash before the rename keeps the old, one after it may keep the new")
        #expect(leftovers > 0, "no crash left a .tmp behind: the reopen's cleanup went untested")
    }

    @Test("EIO or ENOSPC at any I/O call of a write is reported with its errno; the log stays usable",
          arguments: [LS_FAULT_EIO.rawValue, LS_FAULT_ENOSPC.rawValue])
    func ioErrorAtEveryCall(_ kind: UInt32) throws {
        let old = Self.bytes(3000, seed: 1), new = Self.bytes(9000, seed: 2)
        let original = try Self.store(with: old)
        let (base, calls) = try Self.countWriteCalls(original, new: new)
        let errno = kind == LS_FAULT_EIO.rawValue ? EIO : ENOSPC
        // The last two calls are the rename and the directory fsync (docs/FORMAT.md §12).
        let renameCall = calls - 2
        for k in 0..<calls {
            let copy = copyOfDirectory(original.logPath)
            let faulty = try FaultyLog(directory: copy.logPath, backend: .pwritev, seed: k)
            try #require(Self.quiescentCallCount(faulty, expected: base) == base)
            ls_faultio_plan(faulty.faults, base + k, ls_fault_kind(kind), 0)
            do throws(LogError) {
                try faulty.log.writeFile(named: Self.name, bytes: new)
                Issue.record("a write with a failed call \(k) succeeded")
            } catch {
                #expect(error.errno == errno, "call \(k): \(error)")
                let expectedKind: LogError.Kind = k < renameCall && errno == ENOSPC ? .noSpace : .io
                #expect(error.kind == expectedKind, "call \(k): \(error)")
                if k >= renameCall { #expect(error.message.contains("old or the new"), "\(error)") }
            }
            let outcome = Self.outcome(try faulty.log.readFile(named: Self.name), old: old, new: new)
            switch k {
            case ..<renameCall: #expect(outcome == "old", "call \(k): nothing was replaced")
            case renameCall: #expect(outcome == "old" || outcome == "new", "the rename failed: either")
            default: #expect(outcome == "new", "renamed, then the directory fsync failed")
            }
            #expect(Self.entries(copy.logPath) == [Self.name], "call \(k)")
            try faulty.log.writeFile(named: Self.name, bytes: [42])
            #expect(try faulty.log.readFile(named: Self.name) == [42])
            try faulty.log.close()
            ls_io_destroy(faulty.io)
        }
    }

    @Test("short writes are continued: the file is complete")
    func shortWrites() throws {
        let new = Self.bytes(9000, seed: 2)
        let original = try Self.store(with: nil)
        let (base, _) = try Self.countWriteCalls(original, new: new)
        let faulty = try FaultyLog(directory: original.logPath, backend: .pwritev, seed: 5)
        try #require(Self.quiescentCallCount(faulty, expected: base) == base)
        ls_faultio_plan(faulty.faults, base + 1, LS_FAULT_SHORT_WRITE, 5)  // the header
        ls_faultio_plan(faulty.faults, base + 3, LS_FAULT_SHORT_WRITE, 100)  // the data
        try faulty.log.writeFile(named: Self.name, bytes: new)
        #expect(try faulty.log.readFile(named: Self.name) == new)
        try faulty.log.close()
        ls_io_destroy(faulty.io)
    }

    @Test("EIO on the unlink or the directory fsync of a remove is reported", arguments: [UInt64(0), 1])
    func removeErrors(_ call: UInt64) throws {
        let dir = try Self.store(with: [1, 2, 3])
        let faulty = try FaultyLog(directory: dir.logPath, backend: .pwritev, seed: 1)
        let base = Self.quiescentCallCount(faulty)
        ls_faultio_plan(faulty.faults, base + call, LS_FAULT_EIO, 0)
        #expect(throws: LogError.self) { try faulty.log.removeFile(named: Self.name) }
        do throws(LogError) { try faulty.log.removeFile(named: Self.name) } catch {
            Issue.record("the retry failed: \(error)")
        }
        #expect(try faulty.log.readFile(named: Self.name) == nil)
        try faulty.log.close()
        ls_io_destroy(faulty.io)
    }

    @Test("a failed log (fail-stop) refuses file writes and removes, still reads")
    func failedLogRefusesWrites() async throws {
        let dir = try Self.store(with: [1, 2, 3])
        let faulty = try FaultyLog(directory: dir.logPath, backend: .pwritev, seed: 7)
        let nextDurableWrite = ls_faultio_durable_write_count(faulty.faults)
        ls_faultio_plan_durable_write(faulty.faults, nextDurableWrite, LS_FAULT_SYNC_EIO, 0)
        await #expect(throws: LogError.self) { try await faulty.log.append(LogRecord(value: [1])) }
        let log = faulty.log
        Self.expect(.failed) { () throws(LogError) in try log.writeFile(named: Self.name, bytes: [4]) }
        Self.expect(.failed) { () throws(LogError) in try log.removeFile(named: Self.name) }
        #expect(try faulty.log.readFile(named: Self.name) == [1, 2, 3])
        #expect(try faulty.log.fileNames() == [Self.name])
        try? faulty.log.close()
        ls_io_destroy(faulty.io)
    }
}

/// A thread-safe counter for tests that run work on several threads.
private final class Counter: @unchecked Sendable {  // safe: `lock` guards `count`
    private let lock = NSLock()
    private var count = 0

    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
