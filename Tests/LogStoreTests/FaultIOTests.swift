import CLogStore
import Foundation
import Testing

/// Tests of the fault-injecting I/O seam (`ls_faultio.h`) over the real one
/// (`ls_io_posix_create`): every sentence of its fault model, checked against the files a
/// simulated power cut leaves behind.
@Suite("FaultIO")
struct FaultIOTests {
    // MARK: Planned errors

    @Test("a planned EIO or ENOSPC on pwrite returns it and writes nothing; the plan fires once",
          arguments: [LS_FAULT_EIO.rawValue, LS_FAULT_ENOSPC.rawValue])
    func plannedErrorOnPwrite(_ kind: UInt32) throws {
        let disk = try Disk(.pwritev, seed: 1)
        let fd = try disk.openExisting("a", contents: Self.digits)
        disk.planNextCall(ls_fault_kind(kind))
        #expect(disk.pwrite(fd, Array("XXXX".utf8), at: 2) == -Self.errno(for: kind))
        #expect(disk.contents("a") == Self.digits)
        #expect(disk.pwrite(fd, Array("XXXX".utf8), at: 2) == 4)
        #expect(disk.contents("a") == Array("01XXXX6789".utf8))
        #expect(disk.close(fd) == 0)
    }

    @Test("a planned EIO or ENOSPC on write_durable returns it and writes nothing",
          arguments: Backend.allCases, [LS_FAULT_EIO.rawValue, LS_FAULT_ENOSPC.rawValue])
    func plannedErrorOnWriteDurable(_ backend: Backend, _ kind: UInt32) throws {
        let disk = try Disk(backend, seed: 2)
        let fd = try disk.openExisting("a", contents: Self.digits)
        ls_faultio_plan_durable_write(disk.fault, 0, ls_fault_kind(kind), 0)
        #expect(disk.writeDurable(fd, [Array("AB".utf8), Array("CD".utf8)], at: 0) == -Int32(Self.errno(for: kind)))
        #expect(disk.contents("a") == Self.digits)
        #expect(ls_faultio_durable_write_count(disk.fault) == 1)
        #expect(disk.writeDurable(fd, [Array("AB".utf8), Array("CD".utf8)], at: 0) == 0)
        #expect(disk.contents("a") == Array("ABCD456789".utf8))
        #expect(disk.close(fd) == 0)
    }

    @Test("SHORT_WRITE writes exactly `arg` bytes and returns that count (clamped to len - 1)",
          arguments: [(UInt64(0), 0), (3, 3), (5, 5), (6, 5), (1000, 5)])
    func shortWrite(_ arg: UInt64, _ written: Int) throws {
        let disk = try Disk(.pwritev, seed: 3)
        let fd = try disk.openExisting("a", contents: Self.digits)
        disk.planNextCall(LS_FAULT_SHORT_WRITE, arg: arg)
        let new = Array("ABCDEF".utf8)
        #expect(disk.pwrite(fd, new, at: 1) == written)
        let expected = [Self.digits[0]] + new[..<written] + Self.digits[(1 + written)...]
        #expect(disk.contents("a") == Array(expected))
        #expect(disk.close(fd) == 0)
    }

    // MARK: Crashes

    @Test("after a crash every call fails with EIO and reaches nothing; close still frees the descriptor",
          arguments: Backend.allCases)
    func callsFailAfterCrash(_ backend: Backend) throws {
        let disk = try Disk(backend, seed: 4)
        let fd = try disk.openExisting("a", contents: Self.digits)
        #expect(ls_faultio_crashed(disk.fault) == 0)
        disk.planNextCall(LS_FAULT_CRASH)
        #expect(disk.pwrite(fd, Array("X".utf8), at: 0) == -Int(EIO))
        #expect(ls_faultio_crashed(disk.fault) == 1)
        let vt = disk.io.pointee.vt.pointee
        var byte: UInt8 = 0
        #expect(vt.pread(disk.io, fd, &byte, 1, 0) == -Int(EIO))
        #expect(disk.pwrite(fd, Array("X".utf8), at: 0) == -Int(EIO))
        #expect(disk.writeDurable(fd, [Array("X".utf8)], at: 0) == -EIO)
        #expect(vt.fsync(disk.io, fd) == -EIO)
        #expect(vt.fdatasync(disk.io, fd) == -EIO)
        #expect(vt.ftruncate(disk.io, fd, 0) == -EIO)
        #expect(vt.fallocate(disk.io, fd, 0, 100) == -EIO)
        #expect(vt.file_size(disk.io, fd) == -Int64(EIO))
        #expect(vt.open(disk.io, disk.path("b"), O_RDWR | O_CREAT, 0o644) == -EIO)
        #expect(vt.rename(disk.io, disk.path("a"), disk.path("c")) == -EIO)
        #expect(vt.unlink(disk.io, disk.path("a")) == -EIO)
        #expect(vt.mkdir(disk.io, disk.path("d"), 0o755) == -EIO)
        #expect(vt.fsync_dir(disk.io, disk.directory) == -EIO)
        #expect(disk.close(fd) == -EIO)
        // Tests run in parallel, so the number may be reused at once: it must not still be ours.
        let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")
        #expect(target != disk.path("a"), "the inner descriptor is closed even after a crash")
        #expect(disk.contents("a") == Self.digits)
        #expect(disk.names() == ["a"])
        #expect(ls_faultio_apply_crash(disk.fault) == 0)
        #expect(disk.contents("a") == Self.digits)
    }

    @Test("a torn pwrite leaves at most its prefix after the crash", arguments: Self.seeds)
    func tornPwrite(_ seed: UInt64) throws {
        let disk = try Disk(.pwritev, seed: seed)
        let fd = try disk.openExisting("a", contents: Self.digits)
        disk.planNextCall(LS_FAULT_TORN_CRASH, arg: 4)
        let new = Array("ABCDEFGH".utf8)
        #expect(disk.pwrite(fd, new, at: 1) == -Int(EIO))
        #expect(ls_faultio_crashed(disk.fault) == 1)
        #expect(disk.contents("a") == Array("0ABCD56789".utf8), "before the power cut: exactly the prefix")
        _ = disk.close(fd)
        #expect(ls_faultio_apply_crash(disk.fault) == 0)
        let after = try #require(disk.contents("a"))
        #expect(Self.fate(of: after, new: new, old: Self.digits, at: 1) != nil)
        #expect(Self.fate(of: after, new: new, old: Self.digits, at: 1).map { $0 <= 4 } == true)
    }

    @Test("a torn write_durable leaves at most its prefix, across the iovecs",
          arguments: Backend.allCases, Self.seeds)
    func tornWriteDurable(_ backend: Backend, _ seed: UInt64) throws {
        let disk = try Disk(backend, seed: seed)
        let fd = try disk.openExisting("a", contents: Self.digits)
        ls_faultio_plan_durable_write(disk.fault, 0, LS_FAULT_TORN_CRASH, 5)
        #expect(disk.writeDurable(fd, [Array("ABC".utf8), Array("DEFG".utf8)], at: 2) == -EIO)
        #expect(disk.contents("a") == Array("01ABCDE789".utf8), "before the power cut: exactly the prefix")
        _ = disk.close(fd)
        #expect(ls_faultio_apply_crash(disk.fault) == 0)
        let after = try #require(disk.contents("a"))
        let kept = Self.fate(of: after, new: Array("ABCDEFG".utf8), old: Self.digits, at: 2)
        #expect(kept.map { $0 <= 5 } == true, "got \(String(decoding: after, as: UTF8.self))")
    }

    @Test("a random crash tears a write or crashes before a call; acknowledged writes survive",
          arguments: Backend.allCases, Self.seeds)
    func randomCrash(_ backend: Backend, _ seed: UInt64) throws {
        let disk = try Disk(backend, seed: seed)
        let fd = try disk.createSynced("log")
        let first = ls_faultio_call_count(disk.fault)
        ls_faultio_plan_random_crash(disk.fault, first, first + 20)
        var acknowledged: [UInt8] = []
        for i in 0..<20 {
            let record = [UInt8](repeating: UInt8(ascii: "a") + UInt8(i), count: 64)
            guard disk.writeDurable(fd, [record], at: acknowledged.count) == 0 else { break }
            acknowledged += record
        }
        #expect(ls_faultio_crashed(disk.fault) == 1)
        _ = disk.close(fd)
        #expect(ls_faultio_apply_crash(disk.fault) == 0)
        let after = try #require(disk.contents("log"))
        #expect(after.count >= acknowledged.count && after.count < acknowledged.count + 64)
        #expect(Array(after.prefix(acknowledged.count)) == acknowledged)
    }

    // MARK: What survives a crash

    @Test("synced data survives byte-exact: write_durable, and pwrite + fdatasync",
          arguments: Backend.allCases, Self.seeds)
    func syncedDataSurvives(_ backend: Backend, _ seed: UInt64) throws {
        let disk = try Disk(backend, seed: seed)
        let fd = try disk.createSynced("a")
        let durable = Self.pattern(300, seed: 1), synced = Self.pattern(200, seed: 2)
        #expect(disk.writeDurable(fd, [Array(durable[..<100]), Array(durable[100...])], at: 0) == 0)
        #expect(disk.pwrite(fd, synced, at: 300) == 200)
        #expect(disk.io.pointee.vt.pointee.fdatasync(disk.io, fd) == 0)
        // Unsynced writes after them: over the synced bytes and past the end.
        #expect(disk.pwrite(fd, Self.pattern(50, seed: 3), at: 250) == 50)
        #expect(disk.pwrite(fd, Self.pattern(100, seed: 4), at: 500) == 100)
        ls_faultio_crash_now(disk.fault)
        _ = disk.close(fd)
        #expect(ls_faultio_apply_crash(disk.fault) == 0)
        let after = try #require(disk.contents("a"))
        let expected = durable + synced
        #expect(after.count >= expected.count && after.count <= expected.count + 100)
        #expect(Array(after[..<250]) == Array(expected[..<250]))
        #expect(Array(after[300..<500]) == synced)
        #expect(Self.fate(of: after, new: Self.pattern(100, seed: 4), old: expected, at: 500) != nil)
        #expect(Self.fate(of: after, new: Self.pattern(50, seed: 3), old: expected, at: 250) != nil)
    }

    @Test("write_durable makes its own range durable, not earlier unsynced pwrites elsewhere",
          arguments: Backend.allCases)
    func writeDurableSyncsOnlyItsRange(_ backend: Backend) throws {
        var earlierLost = 0
        for seed in Self.seeds {
            let disk = try Disk(backend, seed: seed)
            let fd = try disk.openExisting("a", contents: [UInt8](repeating: 0x2E, count: 200))
            #expect(disk.pwrite(fd, [UInt8](repeating: 0x41, count: 100), at: 0) == 100)
            #expect(disk.writeDurable(fd, [[UInt8](repeating: 0x42, count: 100)], at: 100) == 0)
            ls_faultio_crash_now(disk.fault)
            _ = disk.close(fd)
            #expect(ls_faultio_apply_crash(disk.fault) == 0)
            let after = try #require(disk.contents("a"))
            #expect(Array(after[100...]) == [UInt8](repeating: 0x42, count: 100))
            if after[0] == 0x2E { earlierLost += 1 }
        }
        #expect(earlierLost > 0, "an RWF_DSYNC write does not sync the rest of the file")
    }

    @Test("unsynced pwrites come back, per write, old, new, or a torn prefix of new followed by old")
    func unsyncedWritesSurviveTearOrVanish() throws {
        var fates = [0, 0, 0] // whole, torn, lost
        for seed in Self.seeds + (100..<160).map(UInt64.init) {
            let disk = try Disk(.pwritev, seed: seed)
            let old = Self.pattern(400, seed: 9)
            let fd = try disk.openExisting("a", contents: old)
            let writes = (0..<4).map { (offset: $0 * 100, bytes: Self.pattern(100, seed: 20 + UInt64($0))) }
            for w in writes { #expect(disk.pwrite(fd, w.bytes, at: w.offset) == 100) }
            ls_faultio_crash_now(disk.fault)
            _ = disk.close(fd)
            #expect(ls_faultio_apply_crash(disk.fault) == 0)
            let after = try #require(disk.contents("a"))
            #expect(after.count == old.count)
            for w in writes {
                let kept = Self.fate(of: after, new: w.bytes, old: old, at: w.offset)
                #expect(kept != nil, "seed \(seed), write at \(w.offset): neither old, new nor torn")
                if let kept { fates[kept == 100 ? 0 : kept == 0 ? 2 : 1] += 1 }
            }
        }
        #expect(fates.allSatisfy { $0 > 0 }, "whole/torn/lost: \(fates)")
    }

    @Test("an unsynced append that is lost or torn shortens the file back to the old size or a prefix",
          arguments: Self.seeds)
    func unsyncedAppend(_ seed: UInt64) throws {
        let disk = try Disk(.pwritev, seed: seed)
        let fd = try disk.openExisting("a", contents: Self.digits)
        let new = Self.pattern(64, seed: 5)
        #expect(disk.pwrite(fd, new, at: 10) == 64)
        ls_faultio_crash_now(disk.fault)
        _ = disk.close(fd)
        #expect(ls_faultio_apply_crash(disk.fault) == 0)
        let after = try #require(disk.contents("a"))
        try #require(after.count >= 10 && after.count <= 74)
        #expect(after == Self.digits + new.prefix(after.count - 10))
    }

    @Test("SYNC_EIO: write_durable writes but returns EIO, fsync syncs nothing; either may be lost")
    func syncFailureLeavesDataUnsynced() throws {
        var lost = (durable: 0, fsync: 0)
        for seed in Self.seeds {
            let disk = try Disk(.pwritev, seed: seed)
            let fd = try disk.openExisting("a", contents: Self.digits)
            ls_faultio_plan_durable_write(disk.fault, 0, LS_FAULT_SYNC_EIO, 0)
            #expect(disk.writeDurable(fd, [Array("AB".utf8), Array("C".utf8)], at: 0) == -EIO)
            #expect(disk.contents("a") == Array("ABC3456789".utf8), "the bytes reached the file")
            #expect(disk.pwrite(fd, Array("XY".utf8), at: 8) == 2)
            disk.planNextCall(LS_FAULT_SYNC_EIO)
            #expect(disk.io.pointee.vt.pointee.fsync(disk.io, fd) == -EIO)
            ls_faultio_crash_now(disk.fault)
            _ = disk.close(fd)
            #expect(ls_faultio_apply_crash(disk.fault) == 0)
            let after = try #require(disk.contents("a"))
            #expect(Self.fate(of: after, new: Array("ABC".utf8), old: Self.digits, at: 0) != nil)
            #expect(Self.fate(of: after, new: Array("XY".utf8), old: Self.digits, at: 8) != nil)
            if after[0] == UInt8(ascii: "0") { lost.durable += 1 }
            if after[8] == UInt8(ascii: "8") { lost.fsync += 1 }
        }
        #expect(lost.durable > 0 && lost.fsync > 0)
    }

    // MARK: Directory entries

    @Test("a file created without fsync_dir may vanish; after fsync_dir it never does")
    func createdFileNeedsDirectorySync() throws {
        var vanished = (unsynced: 0, synced: 0)
        for seed in Self.seeds {
            for syncDirectory in [false, true] {
                let disk = try Disk(.pwritev, seed: seed)
                let vt = disk.io.pointee.vt.pointee
                let fd = vt.open(disk.io, disk.path("new"), O_RDWR | O_CREAT | O_EXCL, 0o644)
                #expect(fd >= 0)
                #expect(disk.pwrite(fd, Array("hello".utf8), at: 0) == 5)
                #expect(vt.fsync(disk.io, fd) == 0)
                if syncDirectory { #expect(vt.fsync_dir(disk.io, disk.directory) == 0) }
                ls_faultio_crash_now(disk.fault)
                _ = disk.close(fd)
                #expect(ls_faultio_apply_crash(disk.fault) == 0)
                if let after = disk.contents("new") {
                    #expect(after == Array("hello".utf8), "a surviving file keeps its synced data")
                } else if syncDirectory {
                    vanished.synced += 1
                } else {
                    vanished.unsynced += 1
                }
            }
        }
        #expect(vanished.synced == 0)
        #expect(vanished.unsynced > 0 && vanished.unsynced < Self.seeds.count)
    }

    @Test("a rename without fsync_dir may be undone, bringing back the replaced file")
    func renameNeedsDirectorySync() throws {
        var undone = 0
        for seed in Self.seeds {
            for syncDirectory in [false, true] {
                let disk = try Disk(.pwritev, seed: seed)
                try disk.put("manifest", Array("OLD".utf8))
                let fd = try disk.createSynced("manifest.tmp")
                #expect(disk.pwrite(fd, Array("NEWER".utf8), at: 0) == 5)
                #expect(disk.io.pointee.vt.pointee.fsync(disk.io, fd) == 0)
                #expect(disk.close(fd) == 0)
                let vt = disk.io.pointee.vt.pointee
                #expect(vt.rename(disk.io, disk.path("manifest.tmp"), disk.path("manifest")) == 0)
                if syncDirectory { #expect(vt.fsync_dir(disk.io, disk.directory) == 0) }
                ls_faultio_crash_now(disk.fault)
                #expect(ls_faultio_apply_crash(disk.fault) == 0)
                let manifest = disk.contents("manifest"), tmp = disk.contents("manifest.tmp")
                if manifest == Array("NEWER".utf8) && tmp == nil {
                    continue
                } else if manifest == Array("OLD".utf8) && tmp == Array("NEWER".utf8) {
                    #expect(!syncDirectory, "a synced rename is never undone")
                    undone += 1
                } else {
                    Issue.record("impossible state after the crash: \(String(describing: manifest)), \(String(describing: tmp))")
                }
            }
        }
        #expect(undone > 0 && undone < Self.seeds.count)
    }

    // MARK: Reproducibility

    @Test("the same seed gives the same files; different seeds give different ones")
    func sameSeedSameOutcome() throws {
        var outcomes: Set<[String: [UInt8]]> = []
        for seed in Self.seeds {
            let first = try Self.crashScenario(seed: seed)
            let second = try Self.crashScenario(seed: seed)
            #expect(first == second, "seed \(seed)")
            outcomes.insert(first)
        }
        #expect(outcomes.count > 1)
    }

    /// A mixed workload cut short by a crash; returns every file's bytes afterwards.
    static func crashScenario(seed: UInt64) throws -> [String: [UInt8]] {
        let disk = try Disk(.pwritev, seed: seed)
        let old = pattern(1000, seed: 7)
        let fd = try disk.openExisting("data", contents: old)
        for i in 0..<8 { _ = disk.pwrite(fd, pattern(80, seed: 30 + UInt64(i)), at: i * 120) }
        _ = disk.pwrite(fd, pattern(300, seed: 40), at: 1000)
        let vt = disk.io.pointee.vt.pointee
        let created = vt.open(disk.io, disk.path("created"), O_RDWR | O_CREAT, 0o644)
        _ = disk.pwrite(created, pattern(50, seed: 41), at: 0)
        ls_faultio_plan_random_crash(disk.fault, ls_faultio_call_count(disk.fault), ls_faultio_call_count(disk.fault) + 6)
        for i in 0..<6 { _ = disk.pwrite(created, pattern(50, seed: 42 + UInt64(i)), at: 50 * (i + 1)) }
        _ = disk.close(fd)
        _ = disk.close(created)
        #expect(ls_faultio_apply_crash(disk.fault) == 0)
        var files: [String: [UInt8]] = [:]
        for name in disk.names() { files[name] = disk.contents(name) }
        return files
    }

    // MARK: Helpers

    /// Seeds every randomized test runs over.
    static let seeds: [UInt64] = Array(0..<40)
    static let digits = Array("0123456789".utf8)

    /// The two durable-write backends of the real I/O.
    enum Backend: CaseIterable, Sendable, CustomTestStringConvertible {
        case pwritev, uring
        var cValue: ls_backend { self == .pwritev ? LS_BACKEND_PWRITEV : LS_BACKEND_URING }
        var testDescription: String { self == .pwritev ? "pwritev" : "io_uring" }
    }

    static func errno(for kind: UInt32) -> Int {
        kind == LS_FAULT_ENOSPC.rawValue ? Int(ENOSPC) : Int(EIO)
    }

    /// `count` recognisable bytes, different for each seed.
    static func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: UInt64($0) &* 131 &+ seed &* 71 &+ 1) }
    }

    /// How much of a write of `new` at `offset` over `old` survives in `file`: the length of a
    /// prefix of `new` followed by `old` up to the write's end (`new.count` = whole, 0 = lost),
    /// or nil when the bytes are anything else. Bytes past the end of `old` may also be cut off.
    static func fate(of file: [UInt8], new: [UInt8], old: [UInt8], at offset: Int) -> Int? {
        let end = offset + new.count
        let region = Array(file[min(offset, file.count)..<min(end, file.count)])
        var kept = 0
        while kept < region.count && region[kept] == new[kept] { kept += 1 }
        for i in kept..<region.count where offset + i >= old.count || region[i] != old[offset + i] {
            return nil
        }
        let expectedEnd = kept == 0 ? min(old.count, end) : max(min(old.count, end), offset + kept)
        if region.count + offset < expectedEnd { return nil }
        return kept
    }

    /// A fresh temporary directory and a fault-injecting io over a real one, both released
    /// with the value.
    final class Disk {
        let directory: String
        let fault: OpaquePointer
        let io: UnsafeMutablePointer<ls_io>

        init(_ backend: Backend, seed: UInt64) throws {
            directory = FileManager.default.temporaryDirectory.path + "/faultio-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var inner: UnsafeMutablePointer<ls_io>?
            let rc = ls_io_posix_create(backend.cValue, LS_URING_LINKED_FDATASYNC, &inner)
            try #require(rc == 0, "ls_io_posix_create(\(backend)) = \(rc)")
            var f: OpaquePointer?
            try #require(ls_faultio_create(inner, seed, &f) == 0)
            fault = try #require(f)
            io = try #require(ls_faultio_as_io(fault))
        }

        deinit {
            ls_io_destroy(io)
            try? FileManager.default.removeItem(atPath: directory)
        }

        func path(_ name: String) -> String { directory + "/" + name }

        func names() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        }

        func contents(_ name: String) -> [UInt8]? {
            FileManager.default.contents(atPath: path(name)).map { [UInt8]($0) }
        }

        /// Writes a file behind the fault layer's back: it exists, durably, before the test.
        func put(_ name: String, _ bytes: [UInt8]) throws {
            try #require(FileManager.default.createFile(atPath: path(name), contents: Data(bytes)))
        }

        /// Puts `contents` into `name` and opens it through the fault layer.
        func openExisting(_ name: String, contents: [UInt8]) throws -> Int32 {
            try put(name, contents)
            let fd = io.pointee.vt.pointee.open(io, path(name), O_RDWR, 0)
            try #require(fd >= 0)
            return fd
        }

        /// Creates `name` through the fault layer and makes its directory entry durable.
        func createSynced(_ name: String) throws -> Int32 {
            let fd = io.pointee.vt.pointee.open(io, path(name), O_RDWR | O_CREAT | O_TRUNC, 0o644)
            try #require(fd >= 0)
            try #require(io.pointee.vt.pointee.fsync_dir(io, directory) == 0)
            return fd
        }

        /// Plans `kind` for the next call made through the fault layer.
        func planNextCall(_ kind: ls_fault_kind, arg: UInt64 = 0) {
            ls_faultio_plan(fault, ls_faultio_call_count(fault), kind, arg)
        }

        func pwrite(_ fd: Int32, _ bytes: [UInt8], at offset: Int) -> Int {
            bytes.withUnsafeBytes { io.pointee.vt.pointee.pwrite(io, fd, $0.baseAddress, $0.count, off_t(offset)) }
        }

        func writeDurable(_ fd: Int32, _ chunks: [[UInt8]], at offset: Int) -> Int32 {
            let buffers = chunks.map { chunk -> UnsafeMutableRawBufferPointer in
                let b = UnsafeMutableRawBufferPointer.allocate(byteCount: max(chunk.count, 1), alignment: 1)
                b.copyBytes(from: chunk)
                return b
            }
            defer { buffers.forEach { $0.deallocate() } }
            let iov = zip(buffers, chunks).map { iovec(iov_base: $0.baseAddress, iov_len: $1.count) }
            return io.pointee.vt.pointee.write_durable(io, fd, iov, Int32(iov.count), off_t(offset))
        }

        func close(_ fd: Int32) -> Int32 { io.pointee.vt.pointee.close(io, fd) }
    }
}
