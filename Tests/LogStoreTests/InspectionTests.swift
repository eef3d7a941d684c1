import CLogStore
import Foundation
import Testing

@testable import LogStore

/// A closed store built with the Store API for the inspection tests, and what was written.
struct InspectedFixture {
    /// One write, in commit (LSN) order.
    struct Write {
        let lsn: LSN?  // nil for a delete (Store.delete does not return its LSN)
        let kind: InspectedRecord.Kind
        let namespace: String
        let key: [UInt8]
    }

    let dir: TemporaryDirectory
    var path: String { dir.logPath }
    let writes: [Write]
    /// Record sizes of the puts that hold their key's current value.
    let liveBytes: UInt64

    /// Puts (with overwrites) and deletes in two namespaces, across several 64 KiB segments.
    static func build() async throws -> InspectedFixture {
        let dir = TemporaryDirectory("logstore-inspect")
        let store = try Store.open(at: dir.logPath, configuration: smallStore(segmentSize: 64 * 1024))
        let namespaces = [try Namespace("users"), try Namespace("leases")]
        var writes: [Write] = []
        var live: [String: UInt64] = [:]
        for i in 0..<240 {
            let ns = namespaces[i % 2]
            let key = Array("key-\(i % 37)".utf8)
            let id = "\(ns.name)/key-\(i % 37)"
            if i % 11 == 10, live[id] != nil {
                #expect(try await store.delete(key, in: ns))
                writes.append(Write(lsn: nil, kind: .delete, namespace: ns.name, key: key))
                live[id] = nil
            } else {
                let value = testValue(writer: i % 5, seq: i, size: 300 + (i * 7) % 700)
                let version = try await store.put(value, for: key, in: ns)
                writes.append(Write(lsn: version.lsn, kind: .put, namespace: ns.name, key: key))
                live[id] = KVRecord.encodedSize(keyLength: 1 + ns.name.utf8.count + key.count, valueLength: value.count)
            }
        }
        try store.close()
        return InspectedFixture(dir: dir, writes: writes, liveBytes: live.values.reduce(0, +))
    }
}

/// Every file under `root` and its bytes (to prove a command changed nothing).
func snapshotFiles(_ root: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let enumerator = FileManager.default.enumerator(atPath: root)
    while let relative = enumerator?.nextObject() as? String {
        var isDirectory: ObjCBool = false
        let full = root + "/" + relative
        guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory) else { continue }
        out[relative] = isDirectory.boolValue ? Data() : try Data(contentsOf: URL(fileURLWithPath: full))
    }
    return out
}

/// Flips one bit of a file.
func flipBit(_ path: String, at offset: Int, bit: UInt8 = 0x10) throws {
    try mutateFile(path) { $0[offset] ^= bit }
}

@Suite("Inspection")
struct InspectionTests {
    @Test("verify of a clean store: no problems, every record counted; files unchanged")
    func verifyClean() async throws {
        let fixture = try await InspectedFixture.build()
        let before = try snapshotFiles(fixture.path)
        let report = try StoreInspector.verify(path: fixture.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(report.isClean)
        #expect(report.summary.records == UInt64(fixture.writes.count))
        #expect(report.summary.segmentsWithData >= 3, "the fixture should span several segments")
        #expect(report.summary.firstLSN == 1)
        #expect(report.summary.lastLSN == UInt64(fixture.writes.count))
        #expect(report.segments.filter { $0.state == .sealed }.count >= 2)
        #expect(!report.summary.writerIDs.isEmpty)
        #expect(try snapshotFiles(fixture.path) == before, "verify changed the store")
    }

    @Test("dump yields every record in LSN order with its namespace, key and kind; files unchanged")
    func dumpAll() async throws {
        let fixture = try await InspectedFixture.build()
        let before = try snapshotFiles(fixture.path)
        var records: [InspectedRecord] = []
        let report = try StoreInspector.scan(path: fixture.path) { records.append($0); return true }
        #expect(report.isClean)
        try #require(records.count == fixture.writes.count)
        for (i, (record, write)) in zip(records, fixture.writes).enumerated() {
            #expect(record.lsn == LSN(i + 1))
            if let lsn = write.lsn { #expect(record.lsn == lsn) }
            #expect(record.kind == write.kind)
            #expect(record.keyValueKey == InspectedRecord.KeyValueKey(namespace: write.namespace, key: write.key))
            #expect(record.storedSize == record.encodedSize)
        }
        // --from and stopping early.
        var tail: [LSN] = []
        try StoreInspector.scan(path: fixture.path, from: 100) { tail.append($0.lsn); return tail.count < 5 }
        #expect(tail == [100, 101, 102, 103, 104])
        #expect(try snapshotFiles(fixture.path) == before, "dump changed the store")
    }

    @Test("inspect: live bytes are the sizes of the live puts; live + dead = frame bytes; files unchanged")
    func describeLiveBytes() async throws {
        let fixture = try await InspectedFixture.build()
        let before = try snapshotFiles(fixture.path)
        let description = try StoreInspector.describe(path: fixture.path)
        #expect(description.liveBytes == fixture.liveBytes)
        #expect(description.liveBytes + description.deadBytes == description.verification.summary.frameBytes)
        for segment in description.segments {
            #expect(segment.liveBytes + segment.deadBytes == segment.segment.frameBytes)
        }
        #expect(description.manifest.writerStarts >= 1)
        #expect(description.manifest.events.contains { $0.name == "SEGMENT_OPEN" })
        #expect(description.writers.count >= 1)
        #expect(try snapshotFiles(fixture.path) == before, "inspect changed the store")
    }

    /// Data segments of the fixture (oldest first) and their frames.
    private func dataSegmentFrames(_ path: String) throws -> [(path: String, frames: [FrameLocation])] {
        try dataSegments(path).map { ($0, try frames(inSegment: $0)) }
    }

    /// Verifies a damaged copy: the problems, after checking that verify changed nothing.
    private func verifyUnchanged(_ path: String) throws -> VerificationReport {
        let before = try snapshotFiles(path)
        let report = try StoreInspector.verify(path: path)
        #expect(try snapshotFiles(path) == before, "verify changed the store")
        return report
    }

    @Test("a flipped bit in a segment header is reported at offset 0 of that file")
    func flippedSegmentHeader() async throws {
        let fixture = try await InspectedFixture.build()
        let copy = copyOfDirectory(fixture.path)
        let segment = try #require(try dataSegmentFrames(copy.logPath).first).path
        try flipBit(segment, at: 36)  // base LSN
        let report = try verifyUnchanged(copy.logPath)
        #expect(!report.isClean)
        let problem = try #require(report.problems.first { $0.path == segment }, "\(report.problems)")
        #expect(problem.isCorruption)
        #expect(try #require(problem.offset) <= 36)
    }

    @Test("a flipped bit in a frame header of an older segment is reported at or before the flip")
    func flippedFrameHeader() async throws {
        let fixture = try await InspectedFixture.build()
        let copy = copyOfDirectory(fixture.path)
        let (segment, frameList) = try #require(try dataSegmentFrames(copy.logPath).first)
        let frame = try #require(frameList.dropFirst().first { !$0.isSeal })
        let flip = frame.offset + 13  // record count
        try flipBit(segment, at: flip)
        let report = try verifyUnchanged(copy.logPath)
        #expect(!report.isClean)
        let problem = try #require(report.problems.first { $0.path == segment && $0.isCorruption }, "\(report.problems)")
        #expect(try #require(problem.offset) <= UInt64(flip))
        #expect(try #require(problem.offset) >= UInt64(frame.offset))
    }

    @Test("flipped record bytes in an older segment are reported, and later segments are still scanned")
    func flippedRecordBodyContinues() async throws {
        let fixture = try await InspectedFixture.build()
        let clean = try StoreInspector.verify(path: fixture.path)
        let copy = copyOfDirectory(fixture.path)
        let segments = try dataSegmentFrames(copy.logPath)
        try #require(segments.count >= 3)
        // One flip in the oldest segment, one in the second newest: both must be reported.
        var flips: [(path: String, offset: Int)] = []
        for (path, frameList) in [segments[0], segments[segments.count - 2]] {
            let frame = try #require(frameList.first { !$0.isSeal })
            let flip = frame.bodyEnd - 5  // inside the last record's value
            try flipBit(path, at: flip)
            flips.append((path, flip))
        }
        let report = try verifyUnchanged(copy.logPath)
        #expect(!report.isClean)
        for (path, flip) in flips {
            let problem = try #require(report.problems.first { $0.path == path && $0.isCorruption }, "\(report.problems)")
            #expect(try #require(problem.offset) <= UInt64(flip))
        }
        // Every segment was scanned: each lost only its damaged frame.
        #expect(report.segments.count == clean.segments.count)
        for (damaged, whole) in zip(report.segments, clean.segments) where whole.frames > 0 {
            let lost = flips.contains { $0.path == damaged.path } ? 1 : 0
            #expect(damaged.frames == whole.frames - UInt64(lost), "\(damaged.path)")
        }
        var lsns: [LSN] = []
        try StoreInspector.scan(path: copy.logPath) { lsns.append($0.lsn); return true }
        #expect(lsns.last == clean.summary.lastLSN, "records after the damage are still read")
    }

    @Test("a record whose own CRC fails inside a frame whose CRC was recomputed is a corrupt record")
    func recordChecksumInsideValidFrame() async throws {
        let fixture = try await InspectedFixture.build()
        let copy = copyOfDirectory(fixture.path)
        let (segment, frameList) = try #require(try dataSegmentFrames(copy.logPath).first)
        let frame = try #require(frameList.first { !$0.isSeal })
        let flip = frame.bodyEnd - 5
        try mutateFile(segment) { bytes in
            bytes[flip] ^= 0x01
            // Re-seal the frame with a matching CRC, so only the record's own CRC catches it.
            let crc = bytes.withUnsafeBufferPointer { p in
                ls_frame_crc(p.baseAddress! + frame.offset, p.baseAddress! + frame.offset + Int(LS_FRAME_HEADER_SIZE),
                             UInt32(frame.bodyEnd - frame.offset - Int(LS_FRAME_HEADER_SIZE)))
            }
            let masked = ls_crc32c_mask(crc)
            for i in 0..<4 { bytes[frame.offset + 4 + i] = UInt8(truncatingIfNeeded: masked >> (8 * i)) }
        }
        let report = try verifyUnchanged(copy.logPath)
        let problem = try #require(report.problems.first { $0.path == segment }, "\(report.problems)")
        #expect(problem.kind == .corruptRecord)
        #expect(try #require(problem.offset) <= UInt64(flip))
        #expect(try #require(problem.offset) > UInt64(frame.offset))
        #expect(!report.isClean)
    }

    @Test("a flipped bit in the newest frame is reported (a torn tail: not corruption)")
    func flippedNewestFrame() async throws {
        let fixture = try await InspectedFixture.build()
        let copy = copyOfDirectory(fixture.path)
        let (segment, frameList) = try #require(try dataSegmentFrames(copy.logPath).last)
        let frame = try #require(frameList.last { !$0.isSeal })
        let flip = frame.bodyEnd - 3
        try flipBit(segment, at: flip)
        let report = try verifyUnchanged(copy.logPath)
        let problem = try #require(report.problems.first { $0.path == segment }, "\(report.problems)")
        #expect(try #require(problem.offset) <= UInt64(flip))
        if problem.kind == .tornTail {
            #expect(!problem.isCorruption)
            #expect(report.isClean)
            #expect(report.summary.tornTail)
        }
    }

    @Test("a flipped bit in the manifest is reported naming the manifest at or before the flip")
    func flippedManifest() async throws {
        let fixture = try await InspectedFixture.build()
        let copy = copyOfDirectory(fixture.path)
        let manifest = copy.logPath + "/manifest/manifest.log"
        let size = try #require(try FileManager.default.attributesOfItem(atPath: manifest)[.size] as? Int)
        let flip = size / 2
        try flipBit(manifest, at: flip)
        let report = try verifyUnchanged(copy.logPath)
        let problem = try #require(report.problems.first { $0.path.hasSuffix("manifest/manifest.log") }, "\(report.problems)")
        #expect(problem.kind == .manifest)
        #expect(problem.isCorruption)
        #expect(try #require(problem.offset) <= UInt64(flip))
        #expect(!report.isClean)
    }

    @Test("zstd containers are expanded: every record verified and dumped, shares add up to the frames")
    func compressedContainers() async throws {
        let dir = TemporaryDirectory("logstore-inspect")
        var configuration = smallStore(segmentSize: 64 * 1024)
        configuration.log.compressionThreshold = 256
        let store = try Store.open(at: dir.logPath, configuration: configuration)
        let ns = try Namespace("blobs")
        for round in 0..<20 {
            var batch = WriteBatch()
            for i in 0..<6 { batch.put(Array(repeating: UInt8(i), count: 400), for: Array("k\(round % 4)-\(i)".utf8), in: ns) }
            _ = try await store.write(batch)
        }
        try store.close()
        let before = try snapshotFiles(dir.logPath)
        var records: [InspectedRecord] = []
        let report = try StoreInspector.scan(path: dir.logPath) { records.append($0); return true }
        #expect(report.isClean, "\(report.problems)")
        #expect(records.count == 120)
        #expect(records.map(\.lsn) == Array(1...120))
        #expect(records.allSatisfy { $0.location.containerItem != nil }, "the batches should have been compressed")
        #expect(records.allSatisfy { $0.storedSize < $0.encodedSize })
        let description = try StoreInspector.describe(path: dir.logPath)
        #expect(description.liveKeys == 24)
        #expect(description.liveBytes + description.deadBytes == description.verification.summary.frameBytes)
        #expect(try snapshotFiles(dir.logPath) == before)
    }

    @Test("a store held open by another writer is refused as busy, naming the writer")
    func busyStore() async throws {
        let dir = TemporaryDirectory("logstore-inspect")
        let store = try Store.open(at: dir.logPath, configuration: smallStore())
        defer { try? store.close() }
        _ = try await store.put(Array("v".utf8), for: Array("k".utf8), in: try Namespace("ns"))
        do {
            _ = try StoreInspector.verify(path: dir.logPath)
            Issue.record("verify of an open store must fail")
        } catch {
            #expect(error.kind == .busy)
            let hex = String(store.writerID, radix: 16)
            #expect(error.message.contains(String(repeating: "0", count: 16 - hex.count) + hex), "\(error)")
        }
        #expect(throws: LogError.self) { try StoreInspector.verify(path: dir.path + "/missing") }
    }
}
