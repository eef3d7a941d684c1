import CLogStore
import Foundation
import Testing

@testable import LogStore

/// The store layout around the segments (DESIGN §3): LOCK, writer markers and the manifest
/// that says which segments exist (docs/FORMAT.md §1, §8, §9).
@Suite("Store layout and manifest")
struct ManifestTests {
    /// A closed store of `count` single-record appends over several 64 KiB segments.
    static func makeStore(records count: Int, configuration: LogConfiguration = smallSegments()) async throws
        -> TemporaryDirectory
    {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: configuration)
        for s in 0..<count { _ = try await log.append(LogRecord(value: testValue(writer: 0, seq: s))) }
        try log.close()
        return dir
    }

    static func manifestPath(_ root: String) -> String { root + "/manifest/manifest.log" }

    static func values(_ count: Int) -> [[UInt8]] { (0..<count).map { testValue(writer: 0, seq: $0) } }

    /// Appends one manifest record (docs/FORMAT.md §9) with u64 fields, as the C core writes it.
    static func appendManifestRecord(_ root: String, type: UInt16, fields: [UInt64]) throws {
        var record = [UInt8](repeating: 0, count: 16 + 8 * fields.count)
        func put(_ value: UInt64, at offset: Int, bytes: Int) {
            for i in 0..<bytes { record[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        put(0x464D_534C, at: 0, bytes: 4)
        put(UInt64(8 * fields.count), at: 8, bytes: 4)
        put(UInt64(type), at: 12, bytes: 2)
        for (i, f) in fields.enumerated() { put(f, at: 16 + 8 * i, bytes: 8) }
        let crc = record.withUnsafeBytes { ls_crc32c_mask(ls_crc32c_value($0.baseAddress! + 8, record.count - 8)) }
        put(UInt64(crc), at: 4, bytes: 4)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: manifestPath(root)))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(record))
        try handle.close()
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? -1
    }

    @Test("a new store has LOCK, manifest/, segments/, snapshots/ and markers/; the marker goes at a clean close")
    func layout() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        for name in ["LOCK", "manifest/manifest.log", "segments", "snapshots", "markers"] {
            #expect(FileManager.default.fileExists(atPath: dir.logPath + "/" + name), "\(name) missing")
        }
        let marker = dir.logPath + "/markers/writer-" + String(format: "%016llx", log.writerID) + ".marker"
        #expect(FileManager.default.fileExists(atPath: marker))
        let lock = try String(contentsOfFile: dir.logPath + "/LOCK", encoding: .utf8)
        #expect(lock.contains(String(format: "%016llx", log.writerID)) && lock.contains("pid \(getpid())"), "\(lock)")
        _ = try await log.append(LogRecord(value: [1]))
        #expect(log.segments.count == 1)
        #expect(log.segments.first?.writerID == log.writerID)
        #expect(log.segments.first?.path.hasPrefix(dir.logPath + "/segments/seg-") == true)
        try log.close()
        #expect(!FileManager.default.fileExists(atPath: marker), "a clean close leaves its marker")
        let again = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        #expect(again.recovery.uncleanWriterCount == 0)
        #expect(again.writerID != log.writerID, "the writer id is new at every open")
        try again.close()
    }

    @Test("a second open gets busy, naming the holder's writer id and pid")
    func lockNamesHolder() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        do {
            _ = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
            Issue.record("a second log opened a locked store")
        } catch {
            #expect(error.kind == .busy)
            #expect(error.message.contains(String(format: "%016llx", log.writerID)), "\(error)")
            #expect(error.message.contains("pid \(getpid())"), "\(error)")
        }
        try log.close()
    }

    @Test("a writer that did not close cleanly is reported once, by its marker")
    func uncleanShutdownReported() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        _ = try await log.append(LogRecord(value: [7]))
        // A copy taken while the log is open looks like a store whose writer died.
        let crashed = copyOfDirectory(dir.logPath)
        try log.close()
        let reopened = try CommitLog.open(directory: crashed.logPath, configuration: smallSegments())
        #expect(reopened.recovery.uncleanWriterCount == 1)
        #expect(reopened.recovery.uncleanWriters == [log.writerID])
        #expect(reopened.recovery.lastUncleanWriter == log.writerID)
        #expect(try reopened.readAll().count == 1)
        try reopened.close()
        let clean = try CommitLog.open(directory: crashed.logPath, configuration: smallSegments())
        #expect(clean.recovery.uncleanWriterCount == 0, "the marker was reported but not removed")
        #expect(clean.recovery.lastUncleanWriter == nil)
        try clean.close()
    }

    @Test("a torn last manifest record is cut off; the store opens with everything")
    func manifestTornTail() async throws {
        let dir = try await Self.makeStore(records: 50)
        let path = Self.manifestPath(dir.logPath)
        for torn: [UInt8] in [[0x4C, 0x53, 0x4D, 0x46, 1, 2, 3], [UInt8](repeating: 0, count: 24), [0xAB]] {
            let size = Self.fileSize(path)  // each open appends its own events
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(torn))
            try handle.close()
            let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
            #expect(log.recovery.manifest.tornBytes == UInt64(torn.count))
            #expect(log.recovery.manifest.bytes == UInt64(size))
            #expect(try log.readAll().map(\.record.value) == Self.values(50))
            try log.close()
        }
    }

    @Test("a damaged manifest record followed by a valid one refuses to open, naming the file and offset")
    func manifestDamageRefused() async throws {
        let original = try await Self.makeStore(records: 50)
        // Record 0 is the 32-byte HEADER; record 1 starts at 32. Damage its payload, its CRC, its length.
        for byte in [40, 36, 41, 32] {
            let copy = copyOfDirectory(original.logPath)
            try mutateFile(Self.manifestPath(copy.logPath)) { $0[byte] ^= 0x04 }
            do {
                _ = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
                Issue.record("opened with a damaged manifest record (byte \(byte))")
            } catch {
                #expect(error.kind == .corrupt)
                #expect(error.path?.hasSuffix("manifest/manifest.log") == true, "\(error)")
                #expect(error.offset == 32, "\(error)")
            }
        }
    }

    @Test("segment files exist but the manifest does not: refused")
    func manifestMissing() async throws {
        let dir = try await Self.makeStore(records: 10)
        try FileManager.default.removeItem(atPath: Self.manifestPath(dir.logPath))
        do {
            _ = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
            Issue.record("opened without a manifest")
        } catch {
            #expect(error.kind == .corrupt)
            #expect(error.message.contains("manifest missing"), "\(error)")
        }
    }

    @Test("past a tiny bound the manifest is rewritten, keeps every segment and survives reopen")
    func manifestRewrite() async throws {
        var config = smallSegments()
        config.manifestMaxBytes = 256
        let dir = try await Self.makeStore(records: 3000, configuration: config)
        let segments = try dataSegments(dir.logPath)
        #expect(segments.count >= 3)
        // Bounded: a rewrite keeps the state (a few records per live segment), not the history.
        #expect(Self.fileSize(Self.manifestPath(dir.logPath)) < 64 * (segments.count + 4))
        let log = try CommitLog.open(directory: dir.logPath, configuration: config)
        #expect(log.recovery.manifest.rewritten)
        #expect(log.segments.map(\.path) == segments)
        #expect(try log.readAll().map(\.record.value) == Self.values(3000))
        _ = try await log.append(LogRecord(value: [9]))
        try log.close()
        #expect(!FileManager.default.fileExists(atPath: Self.manifestPath(dir.logPath) + ".tmp"))
        let again = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        #expect(try again.readAll().count == 3001)
        try again.close()
    }

    @Test("a crash at every I/O call of an open that rewrites the manifest leaves a store that opens whole")
    func crashDuringRewrite() async throws {
        let original = try await Self.makeStore(records: 1500)
        var tiny = smallSegments(.pwritev)
        tiny.manifestMaxBytes = 64
        // Count the calls of one complete open + close over the fault-injecting seam.
        func faulty(_ seed: UInt64) -> (OpaquePointer, UnsafeMutablePointer<ls_io>) {
            var inner: UnsafeMutablePointer<ls_io>?
            #expect(ls_io_posix_create(LS_BACKEND_PWRITEV, LS_URING_LINKED_FDATASYNC, &inner) == 0)
            var f: OpaquePointer?
            #expect(ls_faultio_create(inner, seed, &f) == 0)
            return (f!, ls_faultio_as_io(f!))
        }
        let dry = copyOfDirectory(original.logPath)
        let (dryFaults, dryIO) = faulty(1)
        let dryLog = try CommitLog(directory: dry.logPath, configuration: tiny, io: dryIO)
        #expect(dryLog.recovery.manifest.rewritten)
        let calls = ls_faultio_call_count(dryFaults)
        try dryLog.close()
        ls_io_destroy(dryIO)
        #expect(calls > 10)
        for k in 0..<calls {
            let copy = copyOfDirectory(original.logPath)
            let (faults, io) = faulty(k)
            ls_faultio_plan(faults, k, k % 2 == 0 ? LS_FAULT_TORN_CRASH : LS_FAULT_CRASH, 7)
            do {
                let log = try CommitLog(directory: copy.logPath, configuration: tiny, io: io)
                try? log.close()
            } catch {
                // The crash made the open fail: expected.
            }
            #expect(ls_faultio_apply_crash(faults) == 0)
            ls_io_destroy(io)
            do {
                let log = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
                #expect(try log.readAll().map(\.record.value) == Self.values(1500), "crash at call \(k)")
                try log.close()
            } catch {
                Issue.record("crash at call \(k) of \(calls): \(error)")
            }
        }
    }

    @Test("a segment the manifest lists but that is missing is refused, naming the expected file")
    func listedSegmentMissing() async throws {
        let original = try await Self.makeStore(records: 3000)
        let segments = try dataSegments(original.logPath)
        #expect(segments.count >= 3)
        // The newest segment with data too: an LSN gap cannot show that one missing.
        for victim in [segments[1], segments[segments.count - 1]] {
            let copy = copyOfDirectory(original.logPath)
            let name = (victim as NSString).lastPathComponent
            try FileManager.default.removeItem(atPath: segmentsDirectory(copy.logPath) + "/" + name)
            do {
                _ = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
                Issue.record("opened with \(name) missing")
            } catch {
                #expect(error.kind == .corrupt)
                #expect(error.message.contains("listed in the manifest is missing"), "\(error)")
                #expect(error.path == segmentsDirectory(copy.logPath) + "/" + name, "\(error)")
            }
        }
    }

    @Test("an unlisted segment with data is refused; an unlisted empty one is removed")
    func unlistedSegments() async throws {
        let original = try await Self.makeStore(records: 3000)
        let source = try dataSegments(original.logPath)[0]
        let foreign = "seg-00000000000000aa-0000000000001000.log"
        do {
            let copy = copyOfDirectory(original.logPath)
            try FileManager.default.copyItem(atPath: source, toPath: segmentsDirectory(copy.logPath) + "/" + foreign)
            do {
                _ = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
                Issue.record("opened with a foreign segment")
            } catch {
                #expect(error.kind == .corrupt)
                #expect(error.message.contains("not listed in the manifest"), "\(error)")
                #expect(error.path == segmentsDirectory(copy.logPath) + "/" + foreign)
            }
        }
        do {
            let copy = copyOfDirectory(original.logPath)
            let path = segmentsDirectory(copy.logPath) + "/" + foreign
            #expect(FileManager.default.createFile(atPath: path, contents: Data(count: 64 * 1024)))
            let log = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
            #expect(log.recovery.removedUnusedSegments >= 1)
            #expect(try log.readAll().count == 3000)
            try log.close()
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("a segment the manifest says is obsolete is deleted at open; the log then starts after it")
    func obsoleteSegmentDeleted() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        for s in 0..<3000 { _ = try await log.append(LogRecord(value: testValue(writer: 0, seq: s))) }
        let oldest = log.segments[0]
        try log.close()
        // As a compaction would: SEGMENT_OBSOLETE(seq) is durable, the crash came before the unlink.
        try Self.appendManifestRecord(dir.logPath, type: 5, fields: [oldest.sequence])
        #expect(FileManager.default.fileExists(atPath: oldest.path))
        let again = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        #expect(again.recovery.removedObsoleteSegments == 1)
        #expect(!FileManager.default.fileExists(atPath: oldest.path))
        let records = try again.readAll()
        #expect(records.first?.lsn == oldest.lastLSN + 1)
        #expect(records.map(\.record.value) == Array(Self.values(3000)[Int(oldest.lastLSN)...]))
        try again.close()
    }
}
