import CLogStore
import Foundation
import Testing

@testable import LogStore

// A zstd container record states its uncompressed size in its key (a u32, docs/FORMAT.md §4.1).
// A damaged or crafted file could claim up to 4 GiB, which the readers used to allocate before
// decompressing (Fuzz/Crashes/inspect/oom-container-claims-4GiB). Every reader now refuses, as
// corruption naming the file and offset, a claim above what one append can hold in the segment
// (max_body: segment size − 160), before allocating it. Here the claim is the only damage: the
// container's record CRC and its frame's CRC are recomputed, so frame and record both verify.

/// A store of 64 KiB segments: plain puts, one batch stored as a zstd container, a plain put.
struct ContainerFixture {
    static let segmentSize: UInt64 = 64 * 1024
    /// The largest claim a container may make in such a segment (max_body in ls_log.c).
    static let limit = UInt32(segmentSize) - 160

    let dir: TemporaryDirectory
    let configuration: StoreConfiguration
    let namespace: Namespace
    /// Keys of the batch that became the container, and their values.
    let containerKeys: [[UInt8]]
    let containerValue: [UInt8]
    /// Keys of the plain puts written before and after it.
    let plainKeys: [[UInt8]]
    var path: String { dir.logPath }

    /// Builds the store; `body` runs while it is still open (before `close`).
    static func build(segmentSize: UInt64 = segmentSize, whileOpen body: (Store, ContainerFixture) async throws -> Void = { _, _ in })
        async throws -> ContainerFixture
    {
        let dir = TemporaryDirectory("logstore-container-bounds")
        var configuration = smallStore(segmentSize: segmentSize)
        configuration.log.compressionThreshold = 256
        configuration.cacheBytes = 0  // every get is a point read of the segment
        let namespace = try Namespace("bounds")
        let fixture = ContainerFixture(
            dir: dir, configuration: configuration, namespace: namespace,
            containerKeys: (0..<4).map { Array("packed-\($0)".utf8) }, containerValue: Array(repeating: 0x5A, count: 300),
            plainKeys: (0..<4).map { Array("plain-\($0)".utf8) })
        let store = try Store.open(at: dir.logPath, configuration: configuration)
        for key in fixture.plainKeys.prefix(3) { _ = try await store.put(Array("small".utf8), for: key, in: namespace) }
        var batch = WriteBatch()
        for key in fixture.containerKeys { batch.put(fixture.containerValue, for: key, in: namespace) }
        _ = try await store.write(batch)
        _ = try await store.put(Array("after".utf8), for: fixture.plainKeys[3], in: namespace)
        try await body(store, fixture)
        try store.close()
        return fixture
    }
}

/// Where the container record is: its segment, frame and record offsets.
struct ContainerSite {
    let segment: String
    let sequence: UInt64
    let frameOffset: Int
    let recordOffset: Int
    /// The claim the writer put there (the batch's encoded size).
    let claim: UInt32
    let items: UInt32
}

private func u16(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
private func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
private func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) { for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }

/// Finds the one container record of the store by walking its segments' frames and records.
func findContainer(in root: String) throws -> ContainerSite {
    for segment in segmentFiles(root) {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
        for frame in try frames(inSegment: segment) where !frame.isSeal {
            var pos = frame.offset + Int(LS_FRAME_HEADER_SIZE)
            while pos + Int(LS_RECORD_HEADER_SIZE) <= frame.bodyEnd {
                let size = Int(LS_RECORD_HEADER_SIZE) + u16(bytes, pos + 6) + Int(u32(bytes, pos + 8))
                if bytes[pos + 4] == UInt8(LS_RECORD_TYPE_ZSTD_BATCH) {
                    let sequence = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[24 + $1]) << (8 * $1) }
                    return ContainerSite(
                        segment: segment, sequence: sequence, frameOffset: frame.offset, recordOffset: pos,
                        claim: u32(bytes, pos + 16), items: u32(bytes, pos + 12))
                }
                pos += size
            }
        }
    }
    throw LogError(kind: .invalidArgument, message: "no zstd container in \(root)")
}

/// Rewrites the container's stated uncompressed size to `claim`, then its record CRC and its
/// frame CRC (docs/FORMAT.md §3, §4), in place (no rename: an open store sees the change).
/// Checks that the record and the frame verify afterwards: the claim is the only damage.
func restateClaim(_ site: ContainerSite, as claim: UInt32) throws {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: site.segment)))
    let rec = site.recordOffset
    put32(&bytes, rec + 16, claim)
    let recordEnd = rec + Int(LS_RECORD_HEADER_SIZE) + u16(bytes, rec + 6) + Int(u32(bytes, rec + 8))
    put32(&bytes, rec, ls_crc32c_mask(CRC32C.checksum(Array(bytes[(rec + 4)..<recordEnd]))))
    let frame = site.frameOffset
    let frameEnd = frame + Int(LS_FRAME_HEADER_SIZE) + Int(u32(bytes, frame + 8))
    put32(&bytes, frame + 4, ls_crc32c_mask(CRC32C.checksum(Array(bytes[(frame + 8)..<frameEnd]))))

    var record = ls_record()
    var used = 0
    let recordStatus = bytes.withUnsafeBufferPointer { ls_record_decode($0.baseAddress! + rec, recordEnd - rec, &record, &used) }
    #expect(recordStatus == LS_FMT_OK, "the container record should verify after the CRC fix-up")
    var header = ls_frame_header()
    let frameStatus = bytes.withUnsafeBufferPointer { ls_frame_verify($0.baseAddress! + frame, frameEnd - frame, &header) }
    #expect(frameStatus == LS_FMT_OK, "the frame should verify after the CRC fix-up")

    let handle = try #require(FileHandle(forUpdatingAtPath: site.segment))
    defer { try? handle.close() }
    try handle.seek(toOffset: 0)
    try handle.write(contentsOf: Data(bytes))
    try handle.synchronize()
}

@Suite("Container size bounds")
struct ContainerBoundsTests {
    /// 4 GiB − 1 (the reproducer's kind), one past the bound, and 1 MiB: all above what one
    /// append can hold in a 64 KiB segment.
    static let impossibleClaims: [UInt32] = [UInt32.max, ContainerFixture.limit + 1, 1 << 20]

    @Test("the fixture holds one container whose claim the writer made within the bound")
    func fixtureShape() async throws {
        let fixture = try await ContainerFixture.build()
        let site = try findContainer(in: fixture.path)
        #expect(site.items == 4)
        #expect(site.claim > 4 * 300 && site.claim <= ContainerFixture.limit)
        let store = try Store.open(at: fixture.path, configuration: fixture.configuration)
        defer { try? store.close() }
        for key in fixture.containerKeys { #expect(try store.get(key, in: fixture.namespace)?.value == fixture.containerValue) }
    }

    @Test("open refuses a container claiming more than its segment can hold, in every recovery mode", arguments: impossibleClaims)
    func openRefuses(claim: UInt32) async throws {
        let fixture = try await ContainerFixture.build()
        let site = try findContainer(in: fixture.path)
        try restateClaim(site, as: claim)
        for mode in [LogConfiguration.RecoveryMode.strict, .pointInTime, .salvage] {
            var configuration = fixture.configuration
            configuration.log.recoveryMode = mode
            do throws(StoreError) {
                let store = try Store.open(at: fixture.path, configuration: configuration)
                try? store.close()
                Issue.record("\(mode) open accepted a container claiming \(claim) bytes")
            } catch {
                // The reader names the frame holding the container (docs/FORMAT.md §7.4), and
                // says what the claim was and what the segment allows.
                #expect(error.kind == .corrupt, "\(mode): \(error)")
                #expect(error.path == site.segment, "\(mode): \(error)")
                #expect(error.offset == UInt64(site.frameOffset), "\(mode): \(error)")
                #expect(error.message.contains("claims \(claim) uncompressed bytes"), "\(mode): \(error)")
                #expect(error.message.contains("at most \(ContainerFixture.limit)"), "\(mode): \(error)")
                #expect(error.message.contains("offset \(site.recordOffset)"), "\(mode): \(error)")
            }
        }
        // Refusing changed nothing: the damage is still there for the inspector, and a restated
        // honest claim opens again with every value.
        try restateClaim(site, as: site.claim)
        let store = try Store.open(at: fixture.path, configuration: fixture.configuration)
        defer { try? store.close() }
        for key in fixture.containerKeys { #expect(try store.get(key, in: fixture.namespace)?.value == fixture.containerValue) }
    }

    @Test("verify reports the container as a corrupt record at its file and offset, and changes nothing", arguments: impossibleClaims)
    func inspectorReports(claim: UInt32) async throws {
        let fixture = try await ContainerFixture.build()
        let site = try findContainer(in: fixture.path)
        try restateClaim(site, as: claim)
        let before = try snapshotFiles(fixture.path)
        let report = try StoreInspector.verify(path: fixture.path)
        #expect(!report.isClean)
        let problems = report.problems.filter { $0.kind == .corruptRecord }
        #expect(problems.count == 1, "\(report.problems)")
        let problem = try #require(problems.first)
        #expect(problem.isCorruption)
        #expect(problem.path == site.segment)
        #expect(problem.segmentSequence == site.sequence)
        #expect(problem.offset == UInt64(site.recordOffset))
        #expect(problem.message.contains("claims \(claim) uncompressed bytes"), "\(problem)")
        #expect(problem.message.contains("at most \(ContainerFixture.limit)"), "\(problem)")
        // Nothing else is wrong: the frames verify, so no frame problem, and the records around
        // the container are still reported.
        #expect(report.problems.allSatisfy { $0.kind == .corruptRecord }, "\(report.problems)")
        var keys: [[UInt8]] = []
        try StoreInspector.scan(path: fixture.path) { record in
            if let key = record.keyValueKey { keys.append(key.key) }
            return true
        }
        #expect(Set(keys) == Set(fixture.plainKeys), "only the container's items are missing")
        #expect(try snapshotFiles(fixture.path) == before)
    }

    @Test("a claim within the bound that the zstd data does not back is corrupt too, not an allocation of it")
    func claimWithinBound() async throws {
        let fixture = try await ContainerFixture.build()
        let site = try findContainer(in: fixture.path)
        // Exactly the bound: allowed by the segment, contradicted by the zstd frame header.
        try restateClaim(site, as: ContainerFixture.limit)
        let report = try StoreInspector.verify(path: fixture.path)
        let problem = try #require(report.problems.first { $0.kind == .corruptRecord }, "\(report.problems)")
        #expect(problem.offset == UInt64(site.recordOffset))
        #expect(problem.message.contains("claims \(ContainerFixture.limit) uncompressed bytes, its zstd frame \(site.claim)"), "\(problem)")
        #expect(throws: StoreError.self) { try Store.open(at: fixture.path, configuration: fixture.configuration) }
    }

    @Test("the bound follows the segment size of the segment's header")
    func boundFollowsSegmentSize() async throws {
        let segmentSize: UInt64 = 1 << 20
        let fixture = try await ContainerFixture.build(segmentSize: segmentSize)
        let site = try findContainer(in: fixture.path)
        // Above a 64 KiB segment's bound but within a 1 MiB one's: refused by the zstd frame's
        // stated size, not by the bound.
        try restateClaim(site, as: ContainerFixture.limit + 1)
        var report = try StoreInspector.verify(path: fixture.path)
        var problem = try #require(report.problems.first { $0.kind == .corruptRecord }, "\(report.problems)")
        #expect(problem.message.contains("its zstd frame \(site.claim)"), "\(problem)")
        // One past this segment's bound is refused by it.
        let limit = UInt32(segmentSize) - 160
        try restateClaim(site, as: limit + 1)
        report = try StoreInspector.verify(path: fixture.path)
        problem = try #require(report.problems.first { $0.kind == .corruptRecord }, "\(report.problems)")
        #expect(problem.message.contains("claims \(limit + 1) uncompressed bytes; one append in this segment holds at most \(limit)"), "\(problem)")
    }

    @Test("a point read of an item of such a container throws corrupt naming the segment and the record's offset")
    func pointReadRefuses() async throws {
        var site: ContainerSite?
        let fixture = try await ContainerFixture.build { store, fixture in
            // The store is open and has indexed the container's items; damage the claim under it
            // (in place: the store's mapping sees the new bytes). No cache: each get reads the file.
            let found = try findContainer(in: fixture.path)
            site = found
            try restateClaim(found, as: UInt32.max)
            for key in fixture.containerKeys {
                do throws(StoreError) {
                    _ = try store.get(key, in: fixture.namespace)
                    Issue.record("a get through a container claiming 4 GiB returned a value")
                } catch {
                    #expect(error.kind == .corrupt, "\(error)")
                    #expect(error.path == found.segment, "\(error)")
                    #expect(error.offset == UInt64(found.recordOffset), "\(error)")
                    #expect(error.message.contains("claims \(UInt32.max) uncompressed bytes"), "\(error)")
                }
            }
            // Plain records of the same segment still read.
            #expect(try store.get(fixture.plainKeys[0], in: fixture.namespace)?.value == Array("small".utf8))
        }
        let found = try #require(site)

        // The log opens (it checks frame CRCs, which hold), but reading the container fails:
        // by location (a point read) and in LSN order (the reader).
        let log = try CommitLog.open(directory: fixture.path, configuration: fixture.configuration.log)
        defer { try? log.close() }
        for item in 0..<found.items {
            let location = ls_location(segment_seq: found.sequence, offset: UInt64(found.recordOffset), item: item)
            do throws(LogError) {
                _ = try log.read(at: location) { $0.value_len }
                Issue.record("a point read of item \(item) returned a record")
            } catch {
                #expect(error.kind == .corrupt, "\(error)")
                #expect(error.path == found.segment, "\(error)")
                #expect(error.offset == UInt64(found.recordOffset), "\(error)")
            }
        }
        do throws(LogError) {
            _ = try log.readAll()
            Issue.record("reading the log through the container succeeded")
        } catch {
            #expect(error.kind == .corrupt, "\(error)")
            #expect(error.path == found.segment, "\(error)")
            #expect(error.offset == UInt64(found.frameOffset), "\(error)")
        }
    }
}
