import CLogStore
import Foundation
import Testing

@testable import LogStore

/// The fast open path (docs/FORMAT.md §6.1, §7.1, §7.4): batched, in-place reading; a clean
/// newest segment sealed in place; the previous writer's unused segment reused; the preparer
/// started by the first append; the replay into the key index.
@Suite("Open path")
struct OpenPathTests {
    /// One record as read, copied out.
    struct ReadRecord: Equatable {
        let lsn: LSN
        let type: UInt8
        let key: [UInt8]
        let value: [UInt8]
        let segment: UInt64
        let offset: UInt64
        let item: UInt32

        init(_ r: ls_read_record) {
            lsn = r.lsn
            type = r.type
            key = Array(UnsafeBufferPointer(start: r.key, count: Int(r.key_len)))
            value = Array(UnsafeBufferPointer(start: r.value, count: Int(r.value_len)))
            segment = r.location.segment_seq
            offset = r.location.offset
            item = r.location.item
        }
    }

    /// A log of single appends and batches, some compressed into zstd containers, over several segments.
    static func makeMixedLog(segmentSize: UInt64) async throws -> (TemporaryDirectory, LogConfiguration) {
        let dir = TemporaryDirectory()
        var config = smallSegments(segmentSize: segmentSize)
        config.compressionThreshold = 600
        let log = try CommitLog.open(directory: dir.logPath, configuration: config)
        var seq = 0
        for round in 0..<1500 {
            if round % 3 == 0 {
                // Compressible: the batch becomes one container record.
                let records = (0..<(2 + round % 7)).map { i in
                    LogRecord(type: 3, key: Array("k\(round)-\(i)".utf8), value: [UInt8](repeating: UInt8(i), count: 200))
                }
                _ = try await log.append(contentsOf: records)
            } else if round % 3 == 1 {
                let records = (0..<(1 + round % 5)).map { i in
                    LogRecord(key: Array("b\(round)-\(i)".utf8), value: testValue(writer: 1, seq: seq + i))
                }
                seq += records.count
                _ = try await log.append(contentsOf: records)
            } else {
                _ = try await log.append(LogRecord(key: [UInt8(round & 0xff)], value: testValue(writer: 0, seq: round, size: 50 + round % 1000)))
            }
        }
        try log.close()
        return (dir, config)
    }

    /// Every record through `nextBatch` with room for `capacity`, copied after each call.
    static func readInBatches(_ log: CommitLog, capacity: Int) throws -> (records: [ReadRecord], batches: Int) {
        let reader = try log.makeReader(from: 1)
        let buffer = UnsafeMutableBufferPointer<ls_read_record>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var out: [ReadRecord] = []
        var batches = 0
        while true {
            let n = try reader.nextBatch(into: buffer)
            if n == 0 { break }
            #expect(n <= capacity)
            batches += 1
            // Every record of the batch is still readable after the whole batch was filled.
            for i in 0..<n { out.append(ReadRecord(buffer[i])) }
        }
        return (out, batches)
    }

    @Test("batches hand out exactly the records one-by-one reading does, mapped or read into a buffer",
          arguments: [UInt64(64 * 1024), UInt64(256 * 1024)])
    func batchesMatchSingleReads(segmentSize: UInt64) async throws {
        let (dir, config) = try await Self.makeMixedLog(segmentSize: segmentSize)
        let log = try CommitLog.open(directory: dir.logPath, configuration: config)
        defer { try? log.close() }
        var single: [ReadRecord] = []
        let reader = try log.makeReader(from: 1)
        while try reader.nextRaw({ single.append(ReadRecord($0)) }) {}
        #expect(single.count > 1000)
        #expect(single.map(\.lsn) == (1...LSN(single.count)).map { $0 })
        #expect(single.contains { $0.item != RecordLocation.plain }, "no record came from a container")
        #expect(Set(single.map(\.segment)).count > 1, "one segment only")
        if segmentSize > 64 * 1024 {
            #expect(log.segments.contains { $0.end >= 64 * 1024 }, "no segment large enough to be mapped")
        }
        for capacity in [1, 3, 64, 1024] {
            let (batched, batches) = try Self.readInBatches(log, capacity: capacity)
            #expect(batched.count == single.count, "capacity \(capacity)")
            let differ = zip(batched, single).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            #expect(differ == nil, "capacity \(capacity): record \(differ ?? -1) differs")
            #expect(batches >= (single.count + capacity - 1) / capacity)
        }
        // From the middle, as a reader from any LSN does.
        let middle = LSN(single.count / 2)
        let fromMiddle = try log.makeReader(from: middle)
        let buffer = UnsafeMutableBufferPointer<ls_read_record>.allocate(capacity: 100)
        defer { buffer.deallocate() }
        var rest: [ReadRecord] = []
        while case let n = try fromMiddle.nextBatch(into: buffer), n > 0 { rest += buffer[..<n].map(ReadRecord.init) }
        #expect(rest.count == single.count - Int(middle - 1) && rest.elementsEqual(single[Int(middle - 1)...]))
    }

    @Test("a batch stops before a second zstd container, whose expansion would overwrite the first")
    func batchesStopAtContainers() async throws {
        let dir = TemporaryDirectory()
        var config = smallSegments(segmentSize: 1 << 20)
        config.compressionThreshold = 100
        let log = try CommitLog.open(directory: dir.logPath, configuration: config)
        // Incompressible and large, so the segment is mapped and a batch may span frames.
        var rng = SystemRandomNumberGenerator()
        let big = (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        _ = try await log.append(LogRecord(key: [0xFF], value: big))
        for round in 0..<20 {
            _ = try await log.append(contentsOf: (0..<4).map { i in
                LogRecord(key: [UInt8(round), UInt8(i)], value: [UInt8](repeating: UInt8(round), count: 300))
            })
        }
        try log.close()
        let again = try CommitLog.open(directory: dir.logPath, configuration: config)
        defer { try? again.close() }
        #expect(again.segments.contains { $0.end >= 64 * 1024 }, "the segment is too small to be mapped")
        let (records, batches) = try Self.readInBatches(again, capacity: 1024)
        #expect(records.count == 81)
        #expect(records.first?.value == big && records.first?.item == RecordLocation.plain)
        #expect(records.dropFirst().allSatisfy { $0.item != RecordLocation.plain })
        #expect(batches == 20, "one batch per container")
        for (n, r) in records.dropFirst().enumerated() {
            #expect(r.key == [UInt8(n / 4), UInt8(n % 4)] && r.value == [UInt8](repeating: UInt8(n / 4), count: 300), "record \(n + 1)")
        }
    }

    /// The data end (offset after the last frame) of the newest segment with data.
    static func newestDataEnd(_ root: String) throws -> (path: String, end: Int) {
        let newest = try #require(try dataSegments(root).last)
        let last = try #require(try frames(inSegment: newest).last { !$0.isSeal })
        return (newest, last.offset + last.diskSize)
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? -1
    }

    @Test("a clean newest segment with only zeros after it is sealed in place; other bytes there are cut off")
    func cleanNewestSealedInPlace() async throws {
        let segmentSize: UInt64 = 256 * 1024
        let original = try await RecoveryTests.makeLog(records: 50, segmentSize: segmentSize)
        for garbage in [false, true] {
            let copy = copyOfDirectory(original.logPath)
            let (newest, end) = try Self.newestDataEnd(copy.logPath)
            #expect(Self.fileSize(newest) == Int(segmentSize), "the active segment is preallocated")
            if garbage {
                // Not a frame (the frame header there stays zero): the scan calls the end clean.
                try mutateFile(newest) { bytes in for i in (end + 200)..<(end + 260) { bytes[i] = 0x5A } }
            }
            let log = try CommitLog.open(directory: copy.logPath, configuration: smallSegments(segmentSize: segmentSize))
            #expect(log.recovery.tornTail == nil)
            #expect(try log.readAll().count == 50)
            try log.close()
            let sealed = try #require(try frames(inSegment: newest).last)
            #expect(sealed.isSeal && sealed.offset == end)
            #expect(Self.fileSize(newest) == (garbage ? end + 56 : Int(segmentSize)), "garbage: \(garbage)")
            let again = try CommitLog.open(directory: copy.logPath, configuration: smallSegments(segmentSize: segmentSize))
            #expect(try again.readAll().map(\.record.value) == (0..<50).map { testValue(writer: 0, seq: $0) })
            #expect(again.recovery.tornTail == nil)
            try again.close()
        }
    }

    static func inode(_ path: String) -> UInt64? {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.systemFileNumber] as? NSNumber)?.uint64Value
    }

    @Test("the segment a previous writer prepared and never used becomes the next writer's first segment")
    func spareSegmentReused() async throws {
        let dir = TemporaryDirectory()
        let config = smallSegments(segmentSize: 256 * 1024)
        let log = try CommitLog.open(directory: dir.logPath, configuration: config)
        for s in 0..<100 { _ = try await log.append(LogRecord(value: testValue(writer: 0, seq: s))) }
        // The first append asked the preparer for the next segment: wait for it.
        var spare: String?
        for _ in 0..<500 {
            let files = segmentFiles(dir.logPath)
            if files.count >= 2 {
                spare = files.last
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let prepared = try #require(spare, "the preparer made no segment after the first append")
        let spareInode = try #require(Self.inode(prepared))
        try log.close()
        #expect(try frames(inSegment: prepared).isEmpty, "the prepared segment holds data")

        let again = try CommitLog.open(directory: dir.logPath, configuration: config)
        #expect(again.recovery.removedUnusedSegments >= 1)
        #expect(!FileManager.default.fileExists(atPath: prepared))
        let mine = segmentFiles(dir.logPath).filter {
            ($0 as NSString).lastPathComponent.hasPrefix(String(format: "seg-%016llx-", again.writerID))
        }
        #expect(mine.count == 1)
        #expect(mine.first.flatMap(Self.inode) == spareInode, "the first segment is not the spare, renamed")
        #expect(Self.fileSize(try #require(mine.first)) == 256 * 1024)
        #expect(try await again.append(LogRecord(value: [9])) == 101)
        try again.close()

        let third = try CommitLog.open(directory: dir.logPath, configuration: config)
        let values = try third.readAll().map(\.record.value)
        #expect(values == (0..<100).map { testValue(writer: 0, seq: $0) } + [[9]])
        try third.close()
    }

    @Test("open prepares no segment ahead; the first append starts the preparer")
    func preparerStartsOnFirstAppend() async throws {
        let dir = TemporaryDirectory()
        let log = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        try await Task.sleep(for: .milliseconds(50))
        #expect(segmentFiles(dir.logPath).count == 1, "a segment was prepared before any append")
        _ = try await log.append(LogRecord(value: [1]))
        var files = segmentFiles(dir.logPath).count
        for _ in 0..<500 where files < 2 {
            try await Task.sleep(for: .milliseconds(10))
            files = segmentFiles(dir.logPath).count
        }
        #expect(files == 2)
        // Many rotations later everything is still there.
        for s in 0..<3000 { _ = try await log.append(LogRecord(value: testValue(writer: 0, seq: s))) }
        try log.close()
        let again = try CommitLog.open(directory: dir.logPath, configuration: smallSegments())
        #expect(try again.readAll().count == 3001)
        try again.close()
    }

    @Test("a fresh log leaves its preallocated-only first segment early, once a zero-filled one is ready")
    func leavesUnwrittenFirstSegment() async throws {
        let dir = TemporaryDirectory()
        // Large enough that the writer leaves early (at least 4 MiB of room must remain).
        let config = smallSegments(segmentSize: 8 << 20)
        let log = try CommitLog.open(directory: dir.logPath, configuration: config)
        var appended: [[UInt8]] = []
        // Appends go on until the preparer's zero-filled segment is ready and the writer moved
        // to it (a few milliseconds for 8 MiB; the bound only stops a broken build).
        for s in 0..<5000 where log.statistics.rotations == 0 {
            let value = testValue(writer: 0, seq: s)
            _ = try await log.append(LogRecord(value: value))
            appended.append(value)
            if s % 10 == 9 { try await Task.sleep(for: .milliseconds(2)) }
        }
        #expect(log.statistics.rotations == 1, "the writer never left the preallocated-only segment")
        let first = try #require(log.segments.first)
        #expect(first.sealed)
        #expect(first.end < 4 << 20, "the first segment was sealed at \(first.end), not early")
        // Later appends go to the zero-filled segment; no more early rotations.
        for s in 0..<200 {
            let value = testValue(writer: 1, seq: s)
            _ = try await log.append(LogRecord(value: value))
            appended.append(value)
        }
        #expect(log.statistics.rotations == 1)
        try log.close()
        let again = try CommitLog.open(directory: dir.logPath, configuration: config)
        #expect(try again.readAll().map(\.record.value) == appended)
        try again.close()
    }

    @Test("hashing once and upserting or removing with the hash is the same as the plain calls")
    func keyIndexWithHashes() {
        var plain = KeyIndex()
        var hashed = KeyIndex()
        var rng = SystemRandomNumberGenerator()
        for step in 0..<20_000 {
            let namespace = UInt16.random(in: 0..<3, using: &rng)
            let length = [0, 3, 16, 17, 40].randomElement(using: &rng)!
            let key = (0..<length).map { _ in UInt8.random(in: 0..<4, using: &rng) }
            let entry = IndexEntry(version: UInt64(step + 1), location: RecordLocation(segment: 1, offset: UInt64(step)), valueLength: 7)
            key.withUnsafeBytes { bytes in
                let hash = hashed.hash(namespace: namespace, key: bytes)
                hashed.prefetch(hash)
                if Bool.random(using: &rng) {
                    #expect(plain.upsert(namespace: namespace, key: bytes, entry: entry)
                        == hashed.upsert(namespace: namespace, key: bytes, hash: hash, entry: entry))
                } else {
                    #expect(plain.remove(namespace: namespace, key: bytes) == hashed.remove(namespace: namespace, key: bytes, hash: hash))
                }
                #expect(plain.lookup(namespace: namespace, key: bytes) == hashed.lookup(namespace: namespace, key: bytes))
            }
        }
        #expect(plain.count == hashed.count)
        #expect(hashed.validate() == nil)
    }

    @Test("the replay applies puts and deletes of many namespaces in LSN order, past batch and group sizes")
    func replayMatchesModel() async throws {
        let dir = TemporaryDirectory()
        var configuration = StoreConfiguration()
        configuration.log = smallSegments(segmentSize: 1 << 20)
        configuration.maxValueSize = 4096
        let names = try ["a", "bb", "ccc", "a.b-c_d"].map { try Namespace($0) }
        var model: [String: [[UInt8]: [UInt8]]] = [:]
        do {
            let store = try Store.open(at: dir.logPath, configuration: configuration)
            for step in 0..<6000 {
                let namespace = names[(step / 7) % names.count]  // runs of one namespace, then a switch
                let key = Array("key-\(step % 900)".utf8)
                if step % 5 == 4 {
                    if try await store.delete(key, in: namespace) { model[namespace.name, default: [:]][key] = nil }
                } else {
                    let value = testValue(writer: 2, seq: step, size: 10 + step % 90)
                    try await store.put(value, for: key, in: namespace)
                    model[namespace.name, default: [:]][key] = value
                }
            }
            try store.close()
        }
        let store = try Store.open(at: dir.logPath, configuration: configuration)
        #expect(store.recoveryReport.keys == model.values.reduce(0) { $0 + $1.count })
        for namespace in names {
            for i in 0..<900 {
                let key = Array("key-\(i)".utf8)
                #expect(try store.get(key, in: namespace)?.value == model[namespace.name]?[key], "\(namespace.name) \(i)")
            }
        }
        try store.close()
    }
}
