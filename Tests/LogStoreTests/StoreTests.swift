import CLogStore
import Foundation
import Testing

@testable import LogStore

/// A store configuration with small segments, so tests rotate.
func smallStore(segmentSize: UInt64 = 256 * 1024) -> StoreConfiguration {
    var c = StoreConfiguration()
    c.log = smallSegments(.pwritev, segmentSize: segmentSize)
    c.maxValueSize = Int(segmentSize / 2) - 2048
    return c
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite("Key-value store")
struct StoreTests {
    let ns = try! Namespace("users")

    @Test("put, get, overwrite and delete; versions are LSNs and grow")
    func basicOperations() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: smallStore())
        defer { try? store.close() }
        #expect(try store.get(bytes("alice"), in: ns) == nil)
        let v1 = try await store.put(bytes("one"), for: bytes("alice"), in: ns)
        #expect(try store.get(bytes("alice"), in: ns) == VersionedValue(value: bytes("one"), version: v1))
        let v2 = try await store.put(bytes("two"), for: bytes("alice"), in: ns)
        #expect(v2 > v1)
        #expect(try store.get(bytes("alice"), in: ns)?.value == bytes("two"))
        #expect(try await store.delete(bytes("alice"), in: ns))
        #expect(try store.get(bytes("alice"), in: ns) == nil)
        #expect(try await !store.delete(bytes("alice"), in: ns), "deleting an absent key writes nothing")
        let empty = try await store.put([], for: bytes("empty"), in: ns)
        #expect(try store.get(bytes("empty"), in: ns) == VersionedValue(value: [], version: empty))
    }

    @Test("namespaces keep equal keys apart")
    func namespacesAreSeparate() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: smallStore())
        defer { try? store.close() }
        let other = try Namespace("leases")
        try await store.put(bytes("u"), for: bytes("k"), in: ns)
        try await store.put(bytes("l"), for: bytes("k"), in: other)
        #expect(try store.get(bytes("k"), in: ns)?.value == bytes("u"))
        #expect(try store.get(bytes("k"), in: other)?.value == bytes("l"))
        try await store.delete(bytes("k"), in: other)
        #expect(try store.get(bytes("k"), in: ns)?.value == bytes("u"))
        #expect(try store.get(bytes("k"), in: Namespace("never-used")) == nil)
    }

    @Test("compare-and-swap: absent, match, mismatch with both versions, delete by version")
    func compareAndSwap() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: smallStore())
        defer { try? store.close() }
        let key = bytes("lease")
        let v1 = try await store.compareAndSwap(key, in: ns, expected: .absent, newValue: bytes("a"))
        await #expect(throws: StoreError.self) {
            try await store.compareAndSwap(key, in: ns, expected: .absent, newValue: bytes("b"))
        }
        do {
            try await store.compareAndSwap(key, in: ns, expected: Version(lsn: v1.lsn + 100), newValue: bytes("b"))
            Issue.record("a stale version must not succeed")
        } catch {
            #expect(error.kind == .versionMismatch)
            #expect(error.expected == Version(lsn: v1.lsn + 100))
            #expect(error.actual == v1)
        }
        let v2 = try await store.compareAndSwap(key, in: ns, expected: v1, newValue: bytes("b"))
        #expect(try store.get(key, in: ns) == VersionedValue(value: bytes("b"), version: v2))
        try await store.compareAndSwap(key, in: ns, expected: v2, newValue: nil)
        #expect(try store.get(key, in: ns) == nil)
        try await store.compareAndSwap(key, in: ns, expected: .absent, newValue: bytes("c"))
    }

    @Test("a batch writes all or nothing: every condition must hold")
    func atomicBatch() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: smallStore())
        defer { try? store.close() }
        let va = try await store.put(bytes("1"), for: bytes("a"), in: ns)
        var good = WriteBatch()
        good.require(bytes("a"), in: ns, version: va)
        good.require(bytes("new"), in: ns, version: .absent)
        good.put(bytes("2"), for: bytes("a"), in: ns)
        good.put(bytes("x"), for: bytes("new"), in: ns)
        good.delete(bytes("gone"), in: ns)
        let versions = try await store.write(good)
        #expect(versions.count == 3)
        #expect(versions[1].lsn == versions[0].lsn + 1 && versions[2].lsn == versions[0].lsn + 2)
        #expect(try store.get(bytes("a"), in: ns) == VersionedValue(value: bytes("2"), version: versions[0]))
        var bad = WriteBatch()
        bad.require(bytes("a"), in: ns, version: versions[0])
        bad.require(bytes("new"), in: ns, version: .absent)  // fails: "new" exists
        bad.put(bytes("3"), for: bytes("a"), in: ns)
        await #expect(throws: StoreError.self) { try await store.write(bad) }
        #expect(try store.get(bytes("a"), in: ns)?.value == bytes("2"), "a failed batch writes nothing")
    }

    @Test("listing by prefix in key order, with limit and resume point")
    func listing() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: smallStore())
        defer { try? store.close() }
        let keys = (0..<25).map { "job/\(String(format: "%03d", $0))" } + ["jobs", "other/1", "j"]
        for key in keys.shuffled() { try await store.put(bytes(key), for: bytes(key), in: ns) }
        try await store.delete(bytes("job/007"), in: ns)
        var listed: [String] = []
        var after: [UInt8]? = nil
        repeat {
            let page = try store.list(in: ns, prefix: bytes("job/"), after: after, limit: 4)
            #expect(page.entries.count <= 4)
            listed += page.entries.map { String(decoding: $0.key, as: UTF8.self) }
            after = page.resumeAfter
        } while after != nil
        let expected = keys.filter { $0.hasPrefix("job/") && $0 != "job/007" }.sorted()
        #expect(listed == expected)
        let all = try store.list(in: ns)
        #expect(all.entries.map(\.key) == all.entries.map(\.key).sorted { $0.lexicographicallyPrecedes($1) })
        #expect(all.entries.count == keys.count - 1)
        #expect(all.resumeAfter == nil)
    }

    @Test("reopening rebuilds the index; tombstones keep deleted keys deleted")
    func reopen() async throws {
        let dir = TemporaryDirectory()
        var expected: [String: (String, Version)] = [:]
        do {
            let store = try Store.open(at: dir.logPath, configuration: smallStore(segmentSize: 64 * 1024))
            for i in 0..<2000 {
                let key = "k\(i % 300)"
                if i % 7 == 3 {
                    try await store.delete(bytes(key), in: ns)
                    expected[key] = nil
                } else {
                    let value = String(repeating: "v\(i)", count: 8)
                    expected[key] = (value, try await store.put(bytes(value), for: bytes(key), in: ns))
                }
            }
            try store.close()
        }
        let store = try Store.open(at: dir.logPath, configuration: smallStore(segmentSize: 64 * 1024))
        defer { try? store.close() }
        #expect(store.recoveryReport.keys == expected.count)
        #expect(store.recoveryReport.log.segments > 1, "the test should cover several segments")
        for i in 0..<300 {
            let key = "k\(i)"
            let got = try store.get(bytes(key), in: ns)
            if let (value, version) = expected[key] {
                #expect(got == VersionedValue(value: bytes(value), version: version), "\(key)")
            } else {
                #expect(got == nil, "\(key) was deleted and must stay deleted")
            }
        }
    }

    @Test("compressed batches are read back item by item")
    func compressedReads() async throws {
        let dir = TemporaryDirectory()
        var config = smallStore()
        config.log.compressionThreshold = 256
        let store = try Store.open(at: dir.logPath, configuration: config)
        var batch = WriteBatch()
        for i in 0..<50 { batch.put(Array(repeating: UInt8(i), count: 100), for: bytes("c\(i)"), in: ns) }
        let versions = try await store.write(batch)
        for i in 0..<50 {
            #expect(try store.get(bytes("c\(i)"), in: ns) == VersionedValue(value: Array(repeating: UInt8(i), count: 100), version: versions[i]))
        }
        try store.close()
        let reopened = try Store.open(at: dir.logPath, configuration: config)
        defer { try? reopened.close() }
        #expect(try reopened.get(bytes("c42"), in: ns)?.value == Array(repeating: 42, count: 100))
    }

    @Test("concurrent compare-and-swap increments are linearizable: no lost update")
    func concurrentCAS() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: smallStore())
        defer { try? store.close() }
        let key = bytes("counter")
        try await store.put(bytes("0"), for: key, in: ns)
        let successes = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var won = 0
                    for _ in 0..<40 {
                        guard let current = try? store.get(key, in: ns) else { continue }
                        let next = Int(String(decoding: current.value, as: UTF8.self))! + 1
                        do {
                            try await store.compareAndSwap(key, in: ns, expected: current.version, newValue: bytes("\(next)"))
                            won += 1
                        } catch {
                            #expect((error as? StoreError)?.kind == .versionMismatch)
                        }
                    }
                    return won
                }
                group.addTask {
                    // Unrelated writes in flight on other keys must not disturb the counter.
                    for i in 0..<40 { _ = try? await store.put(bytes("\(i)"), for: bytes("noise\(i % 5)"), in: ns) }
                    return 0
                }
            }
            return await group.reduce(0, +)
        }
        #expect(successes > 0)
        #expect(try store.get(key, in: ns)?.value == bytes("\(successes)"))
    }

    @Test("bad input returns its typed error and leaves the store usable")
    func badInput() async throws {
        let dir = TemporaryDirectory()
        var config = smallStore()
        config.maxKeySize = 32
        config.maxValueSize = 1000
        let store = try Store.open(at: dir.logPath, configuration: config)
        defer { try? store.close() }
        for name in ["", "a/b", "..", ".", String(repeating: "n", count: 65), "naïve", "tab\t", "sp ace"] {
            #expect(throws: StoreError.self) { try Namespace(name) }
            do { _ = try Namespace(name) } catch { #expect(error.kind == .invalidNamespace, "\(name)") }
        }
        #expect(try Namespace(String(repeating: "n", count: 64)).name.count == 64)
        func expectKind(_ kind: StoreError.Kind, _ body: () async throws -> Void) async {
            do {
                try await body()
                Issue.record("expected \(kind)")
            } catch {
                #expect((error as? StoreError)?.kind == kind, "\(error)")
            }
        }
        await expectKind(.invalidKey) { try await store.put([1], for: [], in: ns) }
        await expectKind(.keyTooLarge) { try await store.put([1], for: Array(repeating: 1, count: 33), in: ns) }
        await expectKind(.valueTooLarge) { try await store.put(Array(repeating: 1, count: 1001), for: [1], in: ns) }
        await expectKind(.invalidKey) { _ = try store.get([], in: ns) }
        await expectKind(.invalidKey) { try await store.delete([], in: ns) }
        await expectKind(.invalidArgument) { _ = try store.list(in: ns, limit: 0) }
        await expectKind(.invalidArgument) { try await store.write(WriteBatch()) }
        var oversized = WriteBatch()
        oversized.put([1], for: [1], in: ns)
        oversized.put(Array(repeating: 1, count: 1001), for: [2], in: ns)
        await expectKind(.valueTooLarge) { try await store.write(oversized) }
        #expect(try store.get([1], in: ns) == nil, "a refused batch writes nothing")
        var tooBigForFrame = WriteBatch()
        for i in 0..<400 { tooBigForFrame.put(Array(repeating: 1, count: 1000), for: [UInt8(i % 256), UInt8(i / 256)], in: ns) }
        await expectKind(.tooLarge) { try await store.write(tooBigForFrame) }
        let v = try await store.put([9], for: [9], in: ns)
        #expect(try store.get([9], in: ns) == VersionedValue(value: [9], version: v), "still usable")
        var badConfig = StoreConfiguration()
        badConfig.maxKeySize = 0
        #expect(throws: StoreError.self) { try Store.open(at: dir.path + "/other", configuration: badConfig) }
        badConfig = smallStore()
        badConfig.maxValueSize = 10 << 20
        #expect(throws: StoreError.self) { try Store.open(at: dir.path + "/other", configuration: badConfig) }
    }

    @Test("a second open of the same store fails with busy")
    func exclusiveOpen() throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: smallStore())
        defer { try? store.close() }
        do {
            _ = try Store.open(at: dir.logPath, configuration: smallStore())
            Issue.record("a second open must fail")
        } catch {
            #expect(error.kind == .busy)
        }
    }

    @Test("a damaged record is an error naming segment and offset, never wrong bytes")
    func readVerifiesChecksum() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(at: dir.logPath, configuration: smallStore())
        defer { try? store.close() }
        let value = Array(repeating: UInt8(0xAB), count: 64)
        try await store.put(value, for: bytes("victim"), in: ns)
        #expect(try store.get(bytes("victim"), in: ns)?.value == value)
        // Flip one byte of the value in the file; the shared mapping sees it at once.
        let segment = try #require(dataSegments(dir.logPath).last)
        let contents = try #require(FileManager.default.contents(atPath: segment))
        let at = try #require(Array(contents).firstRange(of: value)).lowerBound + 10
        try mutateFile(segment) { $0[at] ^= 0x01 }
        do {
            _ = try store.get(bytes("victim"), in: ns)
            Issue.record("a damaged value must not be returned")
        } catch {
            #expect(error.kind == .corrupt)
            #expect(error.path == segment)
            #expect(error.offset != nil)
        }
    }

    @Test("a failed fdatasync fails the store: outcome unknown, then failed, reads still work")
    func failStop() async throws {
        let dir = TemporaryDirectory()
        var inner: UnsafeMutablePointer<ls_io>?
        #expect(ls_io_posix_create(LS_BACKEND_PWRITEV, LS_URING_LINKED_FDATASYNC, &inner) == 0)
        var f: OpaquePointer?
        #expect(ls_faultio_create(inner, 11, &f) == 0)
        let io = ls_faultio_as_io(f!)
        defer { ls_io_destroy(io) }
        let store = try Store(path: dir.logPath, configuration: smallStore(), io: io)
        defer { try? store.close() }
        let v = try await store.put(bytes("kept"), for: bytes("a"), in: ns)
        ls_faultio_plan_durable_write(f!, ls_faultio_durable_write_count(f!), LS_FAULT_SYNC_EIO, 0)
        do {
            try await store.put(bytes("lost?"), for: bytes("b"), in: ns)
            Issue.record("the failed sync must fail the put")
        } catch {
            #expect(error.kind == .outcomeUnknown)
        }
        do {
            try await store.compareAndSwap(bytes("a"), in: ns, expected: v, newValue: bytes("x"))
            Issue.record("a failed store must refuse writes")
        } catch {
            #expect(error.kind == .failed)
        }
        #expect(store.failure != nil)
        #expect(try store.get(bytes("a"), in: ns)?.value == bytes("kept"))
        #expect(try store.get(bytes("b"), in: ns) == nil, "an unacknowledged write is never visible")
    }
}
