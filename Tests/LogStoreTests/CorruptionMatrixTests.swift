import CLogStore
import Foundation
import Testing

@testable import LogStore

// Corruption matrix (issue 5, item 4; docs/TESTING.md "Corruption"). One store is built with
// key-value data (plain records and zstd containers), Raft groups (entries, hard states, a prefix
// truncation, snapshot files), several sealed segments, two writers and a manifest. Then, for
// every structure and both kinds of damage (one flipped bit at a seeded position inside the
// structure; the aligned 512-byte sector around that position zeroed), on a copy of the store:
//
//   (a) StoreInspector.verify (what `logstore verify` prints) names the damaged file, at or before
//       the first changed byte (within its frame, manifest record, or the blob header rules of
//       FORMAT.md §12.2), as corruption, or as a torn tail where open will cut one;
//   (b) a strict open either refuses with `corrupt` naming the damaged file and offset, or, only
//       where FORMAT.md §7.3 / §10.2 allow it, cuts a torn tail of the newest segment and keeps
//       exactly the writes before the damaged frame (damage in an acknowledged newest frame with
//       nothing valid after it cannot be told from a torn write: that loss is the contract), or
//       opens with nothing lost (a damaged file in snapshots/ is found when it is read);
//   (c) after a successful open every read returns exactly the expected state; after a refusal a
//       salvage open either refuses with `corrupt` or every read returns bytes that were written
//       at that version (key-value) or index and term (Raft), or throws `corrupt`; never others.
//
// Seeded and reproducible: every message names structure, damage, seed and position. The default
// run takes a few seeds per cell; LOGSTORE_LONG=1 takes many more. LOGSTORE_CORRUPTION_SEED=<n>
// changes the base seed; LOGSTORE_CORRUPTION_CASE=<structure>:<damage>:<seed> runs one case.

// MARK: - the fixture

/// One key-value write of the fixture: a put (value) or a delete (nil), at its LSN.
struct MatrixKVWrite: Sendable {
    let lsn: LSN
    let namespace: String
    let key: [UInt8]
    let value: [UInt8]?
}

/// What a Raft group shows through the public API.
struct MatrixGroupView: Equatable, Sendable {
    var firstIndex: UInt64 = 1
    var lastIndex: UInt64 = 0
    var hardState = RaftHardState()
    var entries: [RaftEntry] = []
    var snapshot: RaftSnapshot?
}

/// (group, index, term) of an entry.
struct MatrixEntryID: Hashable, Sendable {
    let group: UInt64
    let index: UInt64
    let term: UInt64
}

/// The closed store every case copies, and everything that was acknowledged while building it.
final class CorruptionFixture: Sendable {
    static let groups: [RaftGroupID] = [1, 2, 3]
    static let namespaces = ["users", "blobs", "leases"]

    let dir: TemporaryDirectory
    let configuration: StoreConfiguration
    /// Every key-value write, in LSN order.
    let kvWrites: [MatrixKVWrite]
    /// The last LSN of each operation, in order (an operation is one append: atomic).
    let opEnds: [LSN]
    /// The Raft groups after each operation that changed them, by its last LSN (ascending;
    /// the first element, at 0, is the empty state).
    let raftViews: [(end: LSN, view: [UInt64: MatrixGroupView])]
    /// Every entry ever appended: its payload.
    let allEntries: [MatrixEntryID: [UInt8]]
    /// Every snapshot ever saved, by (group, index).
    let allSnapshots: [MatrixEntryID: RaftSnapshot]

    var path: String { dir.logPath }
    var lastLSN: LSN { opEnds.last ?? 0 }

    init(
        dir: TemporaryDirectory, configuration: StoreConfiguration, kvWrites: [MatrixKVWrite], opEnds: [LSN],
        raftViews: [(end: LSN, view: [UInt64: MatrixGroupView])], allEntries: [MatrixEntryID: [UInt8]],
        allSnapshots: [MatrixEntryID: RaftSnapshot]
    ) {
        self.dir = dir
        self.configuration = configuration
        self.kvWrites = kvWrites
        self.opEnds = opEnds
        self.raftViews = raftViews
        self.allEntries = allEntries
        self.allSnapshots = allSnapshots
    }

    /// The expected key-value state after the writes up to `lsn`: (namespace, key) → value, version.
    func kvState(through lsn: LSN) -> [String: [[UInt8]: (value: [UInt8], lsn: LSN)]] {
        var state: [String: [[UInt8]: (value: [UInt8], lsn: LSN)]] = [:]
        for w in kvWrites where w.lsn <= lsn {
            state[w.namespace, default: [:]][w.key] = w.value.map { ($0, w.lsn) }
        }
        return state
    }

    /// The Raft groups after the writes up to `lsn`.
    func raftView(through lsn: LSN) -> [UInt64: MatrixGroupView] {
        raftViews.last { $0.end <= lsn }!.view
    }

    /// Every key ever written, per namespace.
    var allKeys: [String: Set<[UInt8]>] {
        var out: [String: Set<[UInt8]>] = [:]
        for w in kvWrites { out[w.namespace, default: []].insert(w.key) }
        return out
    }

    /// Builds the store: two writers (a close and a reopen between them), 440 operations over
    /// five or so 64 KiB segments.
    static func build() async throws -> CorruptionFixture {
        let dir = TemporaryDirectory("logstore-corruption")
        var configuration = smallStore(segmentSize: 64 * 1024)
        configuration.log.compressionThreshold = 512
        configuration.raft.maxEntrySize = 16 << 10
        var builder = Builder()
        for phase in 0..<2 {
            let store = try Store.open(at: dir.logPath, configuration: configuration)
            for step in 0..<(phase == 0 ? 240 : 200) { try await builder.operation(store, phase: phase, step: step) }
            try store.close()
        }
        return CorruptionFixture(
            dir: dir, configuration: configuration, kvWrites: builder.kvWrites, opEnds: builder.opEnds,
            raftViews: builder.raftViews, allEntries: builder.allEntries, allSnapshots: builder.allSnapshots)
    }

    /// Writes the operations and records what each one acknowledged.
    struct Builder {
        var rng = SplitMix(state: 0xC0FF_EE00_1234_5678)
        var kvWrites: [MatrixKVWrite] = []
        var opEnds: [LSN] = []
        var raftViews: [(end: LSN, view: [UInt64: MatrixGroupView])] = [(0, [:])]
        var allEntries: [MatrixEntryID: [UInt8]] = [:]
        var allSnapshots: [MatrixEntryID: RaftSnapshot] = [:]
        var liveUsers: [[UInt8]] = []
        var terms: [UInt64: UInt64] = [1: 1, 2: 1, 3: 1]

        mutating func random(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }

        /// Snapshot saves: (phase, step) → group. None is among the last operations (the newest
        /// frame), so a torn newest frame never drops a marker whose predecessor's file is gone.
        static let snapshotSteps: [Int: [Int: UInt64]] = [0: [45: 1, 125: 2], 1: [35: 1, 95: 3]]

        mutating func operation(_ store: Store, phase: Int, step: Int) async throws {
            let users = try Namespace("users"), blobs = try Namespace("blobs"), leases = try Namespace("leases")
            var changedRaft = false
            if let group = Self.snapshotSteps[phase]?[step] {
                try await saveSnapshot(store, RaftGroupID(group), size: group == 1 ? 3000 + 2000 * phase : 1500)
                changedRaft = true
            } else if phase == 1 && step == 55 {
                let g: RaftGroupID = 2
                let first = store.raft.firstIndex(g)
                try await store.raft.truncatePrefix(g, upTo: min(first + 3, store.raft.lastIndex(g) + 1))
                changedRaft = true
            } else {
                switch step % 10 {
                case 0, 3, 6:
                    let key = Array("u\(random(48))".utf8)
                    let value = randomBytes(60 + random(340))  // plain: below the compression threshold
                    let version = try await store.put(value, for: key, in: users)
                    kvWrites.append(MatrixKVWrite(lsn: version.lsn, namespace: "users", key: key, value: value))
                    if !liveUsers.contains(key) { liveUsers.append(key) }
                case 1:
                    // Compressible values above the threshold: one zstd container record.
                    var batch = WriteBatch()
                    var items: [([UInt8], [UInt8])] = []
                    for j in 0..<4 {
                        let key = Array("b\(random(24))-\(j)".utf8)
                        let value = Array("blob \(phase)/\(step)/\(j) ".utf8) + Array(repeating: UInt8(33 + (step + j) % 90), count: 300)
                        batch.put(value, for: key, in: blobs)
                        items.append((key, value))
                    }
                    let versions = try await store.write(batch)
                    for ((key, value), version) in zip(items, versions) {
                        kvWrites.append(MatrixKVWrite(lsn: version.lsn, namespace: "blobs", key: key, value: value))
                    }
                case 4 where !liveUsers.isEmpty:
                    let key = liveUsers.remove(at: random(liveUsers.count))
                    #expect(try await store.delete(key, in: users))
                    kvWrites.append(MatrixKVWrite(lsn: store.log.durableLSN, namespace: "users", key: key, value: nil))
                case 9:
                    let key = Array("lease-\(random(8))".utf8)
                    let value = testValue(writer: 9, seq: step, size: 24)
                    let version = try await store.put(value, for: key, in: leases)
                    kvWrites.append(MatrixKVWrite(lsn: version.lsn, namespace: "leases", key: key, value: value))
                default:
                    try await append(store, group: RaftGroupID(UInt64(1 + random(3))), phase: phase)
                    changedRaft = true
                }
            }
            let end = store.log.durableLSN
            #expect(end > (opEnds.last ?? 0), "every operation writes")
            opEnds.append(end)
            if changedRaft { raftViews.append((end, try Self.view(of: store))) }
        }

        mutating func randomBytes(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }

        /// One append of entries and a hard state: small (plain records), large and random
        /// (plain: zstd does not shrink it), or large and compressible (a zstd container).
        mutating func append(_ store: Store, group: RaftGroupID, phase: Int) async throws {
            if random(6) == 0 { terms[group.rawValue]! += 1 }
            let term = terms[group.rawValue]!
            let last = store.raft.lastIndex(group)
            var entries: [RaftEntry] = []
            let shape = random(4)
            for i in 0..<(shape == 0 ? 1 : 2 + random(2)) {
                let index = last + 1 + UInt64(i)
                let payload: [UInt8] =
                    switch shape {
                    case 0: Array("g\(group)i\(index)t\(term);".utf8) + randomBytes(100 + random(250))
                    case 1: raftPayload(index: index, term: term, size: 400 + random(1000), salt: group.rawValue)
                    default: Array("g\(group)i\(index)t\(term);".utf8) + randomBytes(300 + random(1200))
                    }
                entries.append(RaftEntry(index: index, term: term, payload: payload))
                allEntries[MatrixEntryID(group: group.rawValue, index: index, term: term)] = payload
            }
            let hardState = RaftHardState(term: term, vote: 1, commit: max(last, 1) - 1)
            try await store.raft.append(group, entries, hardState: hardState)
        }

        mutating func saveSnapshot(_ store: Store, _ group: RaftGroupID, size: Int) async throws {
            let index = store.raft.lastIndex(group)
            let term = try store.raft.term(group, index)
            let data = randomBytes(size)
            let snapshot = RaftSnapshot(
                metadata: RaftSnapshotMetadata(index: index, term: term, context: Array("members of group \(group)".utf8)),
                data: data)
            try await store.raft.saveSnapshot(group, snapshot)
            allSnapshots[MatrixEntryID(group: group.rawValue, index: index, term: term)] = snapshot
        }

        static func view(of store: Store) throws -> [UInt64: MatrixGroupView] {
            var out: [UInt64: MatrixGroupView] = [:]
            for g in CorruptionFixture.groups {
                var v = MatrixGroupView()
                v.firstIndex = store.raft.firstIndex(g)
                v.lastIndex = store.raft.lastIndex(g)
                v.hardState = store.raft.hardState(g)
                v.entries = v.lastIndex >= v.firstIndex ? try store.raft.entries(g, v.firstIndex..<v.lastIndex + 1) : []
                v.snapshot = try store.raft.snapshot(g)
                out[g.rawValue] = v
            }
            return out
        }
    }
}

/// Builds the fixture once for all the tests of the suite.
actor CorruptionFixtureCache {
    static let shared = CorruptionFixtureCache()
    private var building: Task<CorruptionFixture, any Error>?

    func fixture() async throws -> CorruptionFixture {
        if let building { return try await building.value }
        let task = Task { try await CorruptionFixture.build() }
        building = task
        return try await task.value
    }
}

// MARK: - where the structures are

/// A frame of a segment file, walked test-side.
struct MatrixFrame {
    let offset: Int
    let diskSize: Int
    let firstLSN: LSN
    let isSeal: Bool
    /// Records of the body: offset in the file, size, type, first LSN, and the key for an
    /// entry record (group, index, term) or the record count of a zstd container.
    let records: [MatrixRecord]
    var range: Range<Int> { offset..<offset + diskSize }
}

/// A record of a frame body.
struct MatrixRecord {
    let offset: Int
    let size: Int
    let type: UInt8
    /// The LSN of the record (of a container: of its first item).
    let lsn: LSN
    /// Items of a container; 1 for a plain record.
    let count: Int
    /// (group, index, term) of a Raft entry record.
    let entry: MatrixEntryID?
}

/// A segment file with data.
struct MatrixSegment {
    let name: String
    let frames: [MatrixFrame]
    var dataFrames: [MatrixFrame] { frames.filter { !$0.isSeal } }
    var dataEnd: Int { frames.filter { !$0.isSeal }.last.map { $0.offset + $0.diskSize } ?? 64 }
    /// The frame holding byte `offset`, or nil for the header (or past the frames).
    func frameIndex(at offset: Int) -> Int? { frames.firstIndex { $0.range.contains(offset) } }
}

/// The layout of the fixture's files: data segments (oldest first), manifest records, snapshot files.
struct MatrixLayout {
    let segments: [MatrixSegment]
    let manifestRecords: [Range<Int>]
    let snapshotFiles: [(name: String, size: Int)]
    var newest: MatrixSegment { segments.last! }

    init(_ root: String) throws {
        var segments: [MatrixSegment] = []
        for path in segmentFiles(root) {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            var frames: [MatrixFrame] = []
            var offset = Int(LS_SEGMENT_HEADER_SIZE)
            while offset + Int(LS_FRAME_HEADER_SIZE) <= bytes.count {
                var header = ls_frame_header()
                var crc: UInt32 = 0
                guard bytes.withUnsafeBufferPointer({ ls_frame_header_decode($0.baseAddress! + offset, &header, &crc) }) == LS_FMT_OK
                else { break }
                let isSeal = header.flags & UInt16(LS_FRAME_F_SEAL) != 0
                var records: [MatrixRecord] = []
                var pos = offset + Int(LS_FRAME_HEADER_SIZE)
                let end = pos + Int(header.stored_len)
                var lsn = header.first_lsn
                func word(_ at: Int, _ size: Int) -> UInt64 { (0..<size).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
                while !isSeal && pos + 12 <= end {
                    let keyLength = Int(word(pos + 6, 2)), valueLength = Int(word(pos + 8, 4)), type = bytes[pos + 4]
                    let count = type == 0xFF ? Int(word(pos + 12, 4)) : 1
                    let entry =
                        type == RecordType.raftEntry.rawValue && keyLength == 24
                        ? MatrixEntryID(group: word(pos + 12, 8), index: word(pos + 20, 8), term: word(pos + 28, 8)) : nil
                    records.append(
                        MatrixRecord(offset: pos, size: 12 + keyLength + valueLength, type: type, lsn: lsn, count: count, entry: entry))
                    lsn += UInt64(count)
                    pos += 12 + keyLength + valueLength
                }
                frames.append(
                    MatrixFrame(
                        offset: offset, diskSize: Int(ls_frame_disk_size(header.stored_len)), firstLSN: header.first_lsn,
                        isSeal: isSeal, records: records))
                if isSeal { break }
                offset += Int(ls_frame_disk_size(header.stored_len))
            }
            if frames.contains(where: { !$0.isSeal }) {
                segments.append(MatrixSegment(name: (path as NSString).lastPathComponent, frames: frames))
            }
        }
        self.segments = segments
        let manifest = [UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "/manifest/manifest.log")))
        var records: [Range<Int>] = []
        var offset = 0
        while offset + 16 <= manifest.count, manifest[offset..<offset + 4].elementsEqual([0x4C, 0x53, 0x4D, 0x46]) {
            let length = (0..<4).reduce(0) { $0 | Int(manifest[offset + 8 + $1]) << (8 * $1) }
            records.append(offset..<offset + 16 + length)
            offset += 16 + length
        }
        manifestRecords = records
        let names = try FileManager.default.contentsOfDirectory(atPath: root + "/snapshots").sorted()
        snapshotFiles = try names.map { name in
            (name, try #require(try FileManager.default.attributesOfItem(atPath: root + "/snapshots/" + name)[.size] as? Int))
        }
    }
}

/// The structures damage is placed in.
enum MatrixStructure: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case segmentHeader  // of a sealed segment
    case newestSegmentHeader
    case frameHeader  // of any data frame but the newest
    case sealFrame
    case kvRecord  // a plain put or delete
    case raftRecord  // a plain entry or hard state
    case snapshotMarker  // a Raft snapshot marker record (type 20)
    case zstdContainer  // a container record (type 0xFF)
    case olderFrameOfNewestSegment  // a whole frame of the newest segment with frames after it
    case newestFrame  // the whole last frame of the newest segment
    case manifestRecord  // any manifest record but the last
    case manifestLastRecord
    case snapshotFileHeader  // the 32-byte header of a file in snapshots/
    case snapshotFileData

    var testDescription: String { rawValue }
}

/// The kinds of damage.
enum MatrixDamage: String, CaseIterable, Sendable {
    case bitFlip
    case zeroedSector
}

/// Where one case aims: a file (relative to the store root) and the byte range of the structure.
struct MatrixTarget {
    let file: String
    let range: Range<Int>
    let what: String
}

extension MatrixLayout {
    /// The structure's candidates; `rng` picks one.
    func target(_ structure: MatrixStructure, _ rng: inout SplitMix) throws -> MatrixTarget {
        func pick<T>(_ items: [T]) throws -> T {
            try #require(!items.isEmpty, "the fixture holds no \(structure)")
            return items[Int(rng.next() % UInt64(items.count))]
        }
        let sealed = Array(segments.dropLast())
        let newestFrame = newest.dataFrames.last!
        // (segment, frame) pairs of every data frame but the newest.
        let olderFrames = segments.flatMap { s in s.dataFrames.map { (s, $0) } }.filter { $0.1.offset != newestFrame.offset || $0.0.name != newest.name }
        func record(_ types: Set<UInt8>) throws -> MatrixTarget {
            let all = olderFrames.flatMap { s, f in f.records.filter { types.contains($0.type) }.map { (s, $0) } }
            let (s, r) = try pick(all)
            return MatrixTarget(file: "segments/" + s.name, range: r.offset..<r.offset + r.size, what: "record of type \(r.type) at \(r.offset)")
        }
        switch structure {
        case .segmentHeader:
            let s = try pick(sealed)
            return MatrixTarget(file: "segments/" + s.name, range: 0..<64, what: "segment header")
        case .newestSegmentHeader:
            return MatrixTarget(file: "segments/" + newest.name, range: 0..<64, what: "segment header")
        case .frameHeader:
            let (s, f) = try pick(olderFrames)
            return MatrixTarget(file: "segments/" + s.name, range: f.offset..<f.offset + 40, what: "frame header at \(f.offset)")
        case .sealFrame:
            let s = try pick(sealed)
            let seal = try #require(s.frames.last { $0.isSeal })
            return MatrixTarget(file: "segments/" + s.name, range: seal.range, what: "seal frame at \(seal.offset)")
        case .kvRecord: return try record([1, 2])
        case .raftRecord: return try record([16, 17])
        case .snapshotMarker: return try record([20])
        case .zstdContainer: return try record([0xFF])
        case .olderFrameOfNewestSegment:
            let f = try pick(Array(newest.dataFrames.dropLast()))
            return MatrixTarget(file: "segments/" + newest.name, range: f.range, what: "frame at \(f.offset)")
        case .newestFrame:
            return MatrixTarget(file: "segments/" + newest.name, range: newestFrame.range, what: "newest frame at \(newestFrame.offset)")
        case .manifestRecord:
            let r = try pick(Array(manifestRecords.dropLast()))
            return MatrixTarget(file: "manifest/manifest.log", range: r, what: "manifest record at \(r.lowerBound)")
        case .manifestLastRecord:
            let r = try #require(manifestRecords.last)
            return MatrixTarget(file: "manifest/manifest.log", range: r, what: "last manifest record at \(r.lowerBound)")
        case .snapshotFileHeader:
            let f = try pick(snapshotFiles)
            return MatrixTarget(file: "snapshots/" + f.name, range: 0..<32, what: "file header")
        case .snapshotFileData:
            let f = try pick(snapshotFiles)
            return MatrixTarget(file: "snapshots/" + f.name, range: 32..<f.size, what: "file data")
        }
    }
}

// MARK: - one case

/// What the contract allows for one damaged copy (FORMAT.md §7.3, §10.2, §12).
enum MatrixOutcome: CustomStringConvertible {
    /// Strict open refuses with `corrupt` naming the file, at an offset in `window`.
    case refuse(window: ClosedRange<UInt64>)
    /// The damage is the end of the newest segment with nothing valid after it: open cuts it
    /// (at `cut`, or removes the segment when its header is gone) and keeps the writes through
    /// `keptThrough`. `silent`: the damage looks exactly like an unwritten end (zeros from a frame
    /// boundary on), which nothing can detect (FORMAT.md §10.2).
    case tornTail(cut: UInt64, keptThrough: LSN, silent: Bool)
    /// The damaged end of the manifest with nothing valid after it: open cuts it (nothing lost)
    /// or refuses when what the cut records were needed (`corrupt`).
    case manifestTail(window: ClosedRange<UInt64>)
    /// A file in snapshots/: open does not read it; reading it throws `corrupt`.
    case damagedFile(group: UInt64?)

    var description: String {
        switch self {
        case .refuse(let w): "refuse at \(w)"
        case .tornTail(let cut, let kept, let silent): "torn tail cut at \(cut), kept through LSN \(kept)\(silent ? " (silent)" : "")"
        case .manifestTail(let w): "manifest tail at \(w)"
        case .damagedFile(let g): "damaged file of group \(g.map(String.init) ?? "-")"
        }
    }
}

/// Tallies of what the cases did, for the matrix printed at the end of each structure.
struct MatrixTally: CustomStringConvertible {
    var cases = 0
    var refused = 0
    var tornCut = 0
    var silentCut = 0
    var openedIntact = 0
    var salvageOpened = 0
    var salvageRefused = 0
    var readsCorrupt = 0

    var description: String {
        "cases \(cases): refused \(refused), torn tail cut \(tornCut) (silent \(silentCut)), opened with nothing lost \(openedIntact); "
            + "salvage opened \(salvageOpened) / refused \(salvageRefused); reads throwing corrupt \(readsCorrupt)"
    }
}

struct MatrixCase {
    let fixture: CorruptionFixture
    let layout: MatrixLayout
    let structure: MatrixStructure
    let kind: MatrixDamage
    let seed: UInt64

    var name: String { "\(structure.rawValue):\(kind.rawValue):\(seed)" }

    /// Applies the damage to `root`'s copy of the target file; returns the target, the changed
    /// offsets (ascending) and a description.
    func damage(_ root: String) throws -> (MatrixTarget, [Int], String) {
        var rng = SplitMix(state: seed)
        let target = try layout.target(structure, &rng)
        let (changed, detail) = try Self.apply(kind, to: target, in: root, rng: &rng, name: name)
        return (target, changed, detail)
    }

    /// Damages a position of `target` that `rng` picks (one that changes a byte) in place
    /// (`pwrite` of the changed bytes: an open store's mapping sees them); returns the changed
    /// offsets (ascending) and a description.
    static func apply(_ kind: MatrixDamage, to target: MatrixTarget, in root: String, rng: inout SplitMix, name: String) throws
        -> ([Int], String)
    {
        let path = root + "/" + target.file
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for _ in 0..<16 {
            var bytes = original
            let at = target.range.lowerBound + Int(rng.next() % UInt64(target.range.count))
            let detail: String
            switch kind {
            case .bitFlip:
                let bit = UInt8(1) << (rng.next() % 8)
                bytes[at] ^= bit
                detail = "bit 0x\(String(bit, radix: 16)) of byte \(at)"
            case .zeroedSector:
                let start = at & ~511
                for i in start..<min(start + 512, bytes.count) { bytes[i] = 0 }
                detail = "sector \(start)..<\(min(start + 512, bytes.count)) zeroed (aimed at \(at))"
            }
            let changed = bytes.indices.filter { bytes[$0] != original[$0] }
            guard let lo = changed.first, let hi = changed.last else { continue }
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            try handle.seek(toOffset: UInt64(lo))
            try handle.write(contentsOf: bytes[lo...hi])
            try handle.close()
            return (changed, "\(target.file) \(target.what) [\(target.range)]: \(detail)")
        }
        throw CLITests.HarnessError(description: "\(name): no position in \(target.what) changes a byte")
    }

    /// What the contract allows for this damage.
    func allowed(_ target: MatrixTarget, changed: [Int], damaged: [UInt8]) -> MatrixOutcome {
        let first = changed.first!
        if target.file.hasPrefix("snapshots/") {
            return .damagedFile(group: RaftSnapshotFile.parse(name: String(target.file.dropFirst("snapshots/".count)))?.group.rawValue)
        }
        if target.file.hasPrefix("manifest/") {
            let records = layout.manifestRecords
            let hit = records.firstIndex { $0.contains(first) } ?? records.count - 1
            let window = UInt64(records[hit].lowerBound)...UInt64(first)
            let intactAfter = records[(hit + 1)...].contains { r in !changed.contains { r.contains($0) } }
            return intactAfter ? .refuse(window: window) : .manifestTail(window: window)
        }
        let segment = layout.segments.first { "segments/" + $0.name == target.file }!
        let index = segment.frameIndex(at: first)
        let start = UInt64(index.map { segment.frames[$0].offset } ?? 0)
        let window = start...UInt64(first)
        guard segment.name == layout.newest.name else { return .refuse(window: window) }
        // Newest segment: a torn tail if no frame after the damaged one (every frame, for the
        // header) is left intact.
        let later = segment.dataFrames.filter { f in index.map { f.offset > segment.frames[$0].offset } ?? true }
        let damagedLater = later.allSatisfy { f in changed.contains { f.range.contains($0) } }
        guard damagedLater else { return .refuse(window: window) }
        let kept = (index.map { segment.frames[$0].firstLSN } ?? segment.dataFrames[0].firstLSN) - 1
        let silent = kind == .zeroedSector && first == Int(start) && damaged[Int(start)..<segment.dataEnd].allSatisfy { $0 == 0 }
        return .tornTail(cut: start, keptThrough: kept, silent: silent)
    }

    func run(_ tally: inout MatrixTally) throws {
        tally.cases += 1
        let copy = copyOfDirectory(fixture.path)
        let (target, changed, detail) = try damage(copy.logPath)
        let damagedPath = copy.logPath + "/" + target.file
        let damagedBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: damagedPath)))
        let allowed = allowed(target, changed: changed, damaged: damagedBytes)
        let first = UInt64(changed.first!)
        let context = "case \(name) (\(detail); expected: \(allowed))"

        // (a) verify: names the file and the offset; read-only.
        let before = try snapshotFiles(copy.logPath)
        let report = try StoreInspector.verify(path: copy.logPath)
        #expect(try snapshotFiles(copy.logPath) == before, "\(context): verify changed the store")
        let named = report.problems.filter { $0.path == damagedPath }
        switch allowed {
        case .refuse(let window):
            #expect(!report.isClean, "\(context): verify found no corruption: \(report.problems)")
            #expect(
                named.contains { $0.isCorruption && $0.offset.map(window.contains) == true },
                "\(context): no corruption named in \(target.file) within \(window): \(report.problems)")
        case .tornTail(let cut, _, let silent):
            if !silent {
                #expect(
                    named.contains { $0.kind == .tornTail && $0.offset == cut },
                    "\(context): verify did not report the torn tail at \(cut): \(report.problems)")
            }
            #expect(report.isClean, "\(context): a torn tail is not corruption: \(report.problems)")
        case .manifestTail(let window):
            #expect(
                named.contains { $0.offset.map(window.contains) == true },
                "\(context): nothing named in the manifest within \(window): \(report.problems)")
        case .damagedFile:
            let headerOffsets: Set<UInt64> = [0, 8, 12, 28]
            #expect(!report.isClean, "\(context): verify found no corruption: \(report.problems)")
            #expect(
                named.contains { p in
                    p.kind == .corruptFile && p.offset.map { first < 32 ? headerOffsets.contains($0) : $0 == 32 } == true
                },
                "\(context): the damaged file is not reported at its offset: \(report.problems)")
        }

        // (b) strict open.
        var opened: Store?
        var refusal: StoreError?
        do { opened = try Store.open(at: copy.logPath, configuration: fixture.configuration) } catch { refusal = error }
        if let refusal {
            tally.refused += 1
            CorruptionMatrixTests.trace("\(context): strict open refused: \(refusal)")
            #expect(refusal.kind == .corrupt, "\(context): open failed with \(refusal)")
            switch allowed {
            case .refuse(let window):
                #expect(refusal.path == damagedPath, "\(context): the error names another file: \(refusal)")
                #expect(refusal.offset.map(window.contains) == true, "\(context): the error's offset is not within \(window): \(refusal)")
                #expect(!report.isClean, "\(context): verify said clean, open refused: \(refusal)")
            case .manifestTail:
                #expect(refusal.path != nil, "\(context): the error names no file: \(refusal)")
                #expect(!report.isClean, "\(context): verify said clean, open refused: \(refusal)")
            case .tornTail, .damagedFile:
                Issue.record("\(context): open refused what the contract lets it open: \(refusal)")
            }
            try salvageReads(context: context, tally: &tally)
            return
        }
        let store = try #require(opened)
        defer { try? store.close() }
        var kept = fixture.lastLSN
        CorruptionMatrixTests.trace(
            "\(context): strict open succeeded through LSN \(store.log.durableLSN), torn tail \(String(describing: store.recoveryReport.log.tornTail))")
        switch allowed {
        case .refuse:
            Issue.record("\(context): BUG: open accepted damage it must refuse (recovery: \(store.recoveryReport.log))")
        case .tornTail(let cut, let keptThrough, let silent):
            kept = keptThrough
            tally.tornCut += 1
            if silent { tally.silentCut += 1 }
            let torn = store.recoveryReport.log.tornTail
            if changed.first! >= 64 && !silent {
                #expect(torn?.offset == cut, "\(context): torn tail reported at \(String(describing: torn))")
            }
        case .manifestTail:
            tally.openedIntact += 1
            #expect(report.isClean, "\(context): open accepted what verify called corruption: \(report.problems)")
        case .damagedFile:
            tally.openedIntact += 1
        }
        #expect(store.log.durableLSN == kept, "\(context): recovered through LSN \(store.log.durableLSN), expected \(kept)")
        #expect(kept == 0 || fixture.opEnds.contains(kept), "\(context): LSN \(kept) splits an operation")

        // (c) reads: exactly the state through `kept`.
        let damagedGroup: UInt64? = if case .damagedFile(let g) = allowed { g } else { nil }
        tally.readsCorrupt += try exactReads(store, through: kept, damagedGroup: damagedGroup, damagedPath: damagedPath, context: context)
        try store.close()
        let after = try StoreInspector.verify(path: copy.logPath)
        #expect(after.isClean == (damagedGroup == nil), "\(context): verify after the open: \(after.problems)")
    }

    /// Reads everything of a strictly opened store; returns how many reads threw `corrupt`
    /// (only the damaged snapshot file may).
    func exactReads(_ store: Store, through kept: LSN, damagedGroup: UInt64?, damagedPath: String, context: String) throws -> Int {
        var corrupt = 0
        let expected = fixture.kvState(through: kept)
        for (namespace, keys) in fixture.allKeys {
            let ns = try Namespace(namespace)
            for key in keys {
                let want = expected[namespace]?[key]
                do {
                    let got = try store.get(key, in: ns)
                    #expect(
                        got?.value == want?.value && got?.version.lsn == want?.lsn,
                        "\(context): get \(namespace)/\(String(decoding: key, as: UTF8.self)) = \(String(describing: got?.version)), expected \(String(describing: want?.lsn))")
                } catch {
                    Issue.record("\(context): get \(namespace)/\(String(decoding: key, as: UTF8.self)) threw \(error)")
                }
            }
            let listed = try store.list(in: ns, limit: 10_000).entries.map { ($0.key, $0.version.lsn) }
            let wantListed = (expected[namespace] ?? [:]).map { ($0.key, $0.value.lsn) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
            #expect(listed.elementsEqual(wantListed, by: { $0 == $1 }), "\(context): list \(namespace) differs")
        }
        let view = fixture.raftView(through: kept)
        for g in CorruptionFixture.groups {
            let want = view[g.rawValue] ?? MatrixGroupView()
            #expect(store.raft.firstIndex(g) == want.firstIndex, "\(context): group \(g) first index")
            #expect(store.raft.lastIndex(g) == want.lastIndex, "\(context): group \(g) last index")
            #expect(store.raft.hardState(g) == want.hardState, "\(context): group \(g) hard state")
            if want.lastIndex >= want.firstIndex {
                do {
                    let entries = try store.raft.entries(g, want.firstIndex..<want.lastIndex + 1)
                    #expect(entries == want.entries, "\(context): group \(g) entries differ")
                } catch {
                    Issue.record("\(context): group \(g) entries threw \(error)")
                }
            }
            do {
                let snapshot = try store.raft.snapshot(g)
                #expect(damagedGroup != g.rawValue, "\(context): the damaged snapshot file of group \(g) was read without error")
                #expect(snapshot == want.snapshot, "\(context): group \(g) snapshot differs")
            } catch {
                if damagedGroup == g.rawValue {
                    corrupt += 1
                    #expect(error.kind == .corrupt, "\(context): \(error)")
                    #expect(error.path == damagedPath, "\(context): the error names another file: \(error)")
                    #expect(error.offset != nil, "\(context): the error names no offset: \(error)")
                } else {
                    Issue.record("\(context): group \(g) snapshot threw \(error)")
                }
            }
        }
        return corrupt
    }

    /// A salvage open of a fresh damaged copy: refuses with `corrupt`, or every read returns
    /// bytes written at that version / index and term, or throws `corrupt`.
    func salvageReads(context: String, tally: inout MatrixTally) throws {
        let copy = copyOfDirectory(fixture.path)
        _ = try damage(copy.logPath)
        var configuration = fixture.configuration
        configuration.log.recoveryMode = .salvage
        let store: Store
        do {
            store = try Store.open(at: copy.logPath, configuration: configuration)
        } catch {
            tally.salvageRefused += 1
            CorruptionMatrixTests.trace("\(context): salvage open refused: \(error)")
            #expect(error.kind == .corrupt, "\(context): salvage open failed with \(error)")
            return
        }
        tally.salvageOpened += 1
        CorruptionMatrixTests.trace("\(context): salvage opened: dropped \(String(describing: store.recoveryReport.log.dropped))")
        defer { try? store.close() }
        let written = Dictionary(fixture.kvWrites.map { ($0.lsn, $0) }, uniquingKeysWith: { a, _ in a })
        for (namespace, keys) in fixture.allKeys {
            let ns = try Namespace(namespace)
            for key in keys {
                do {
                    guard let got = try store.get(key, in: ns) else { continue }
                    let w = written[got.version.lsn]
                    #expect(
                        w?.namespace == namespace && w?.key == key && w?.value == got.value,
                        "\(context): salvage: get \(namespace)/\(String(decoding: key, as: UTF8.self)) returned bytes never written at version \(got.version)")
                } catch {
                    tally.readsCorrupt += 1
                    #expect(error.kind == .corrupt, "\(context): salvage: get threw \(error)")
                }
            }
        }
        for g in CorruptionFixture.groups {
            let first = store.raft.firstIndex(g), last = store.raft.lastIndex(g)
            if last >= first {
                for index in first...last {
                    do {
                        let entry = try store.raft.entry(g, index)
                        #expect(
                            fixture.allEntries[MatrixEntryID(group: g.rawValue, index: index, term: entry.term)] == entry.payload,
                            "\(context): salvage: group \(g) entry \(index) term \(entry.term) returned bytes never appended")
                    } catch {
                        tally.readsCorrupt += 1
                        #expect(error.kind == .corrupt, "\(context): salvage: group \(g) entry \(index) threw \(error)")
                    }
                }
            }
            do {
                if let snapshot = try store.raft.snapshot(g) {
                    let id = MatrixEntryID(group: g.rawValue, index: snapshot.metadata.index, term: snapshot.metadata.term)
                    #expect(fixture.allSnapshots[id] == snapshot, "\(context): salvage: group \(g) snapshot never saved")
                }
            } catch {
                tally.readsCorrupt += 1
                #expect(error.kind == .corrupt, "\(context): salvage: group \(g) snapshot threw \(error)")
            }
        }
    }
}

// MARK: - the tests

@Suite(.serialized)
struct CorruptionMatrixTests {
    static let isLong = ProcessInfo.processInfo.environment["LOGSTORE_LONG"] == "1"
    /// LOGSTORE_CORRUPTION_VERBOSE=1 prints what each case did.
    static let verbose = ProcessInfo.processInfo.environment["LOGSTORE_CORRUPTION_VERBOSE"] == "1"

    static func trace(_ line: @autoclosure () -> String) {
        if verbose { print(line()) }
    }
    static let seedsPerCell = isLong ? 40 : 3
    static let baseSeed: UInt64 = ProcessInfo.processInfo.environment["LOGSTORE_CORRUPTION_SEED"].flatMap { UInt64($0) }
        ?? 0x5EED_C0DE
    /// LOGSTORE_CORRUPTION_CASE=<structure>:<damage>:<seed>: only that case.
    static let onlyCase: (MatrixStructure, MatrixDamage, UInt64)? = {
        guard let text = ProcessInfo.processInfo.environment["LOGSTORE_CORRUPTION_CASE"] else { return nil }
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count == 3, let s = MatrixStructure(rawValue: parts[0]), let k = MatrixDamage(rawValue: parts[1]),
            let seed = UInt64(parts[2])
        else { return nil }
        return (s, k, seed)
    }()

    /// The seed of case `i` of a cell: the base seed mixed with the cell and the index.
    static func seed(_ structure: MatrixStructure, _ kind: MatrixDamage, _ i: Int) -> UInt64 {
        var rng = SplitMix(
            state: baseSeed ^ UInt64(MatrixStructure.allCases.firstIndex(of: structure)!) << 40
                ^ UInt64(MatrixDamage.allCases.firstIndex(of: kind)!) << 32 ^ UInt64(i))
        return rng.next() >> 16  // short enough to type
    }

    @Test(
        "damage in every structure: verify names it, strict open refuses or cuts only a torn tail, reads never return other bytes",
        .timeLimit(.minutes(10)), arguments: MatrixStructure.allCases)
    func matrix(_ structure: MatrixStructure) async throws {
        if let only = Self.onlyCase, only.0 != structure { return }
        let fixture = try await CorruptionFixtureCache.shared.fixture()
        let layout = try MatrixLayout(fixture.path)
        try #require(layout.segments.count >= 4, "the fixture should span several segments: \(layout.segments.map(\.name))")
        for kind in MatrixDamage.allCases {
            if let only = Self.onlyCase, only.1 != kind { continue }
            var tally = MatrixTally()
            let seeds = Self.onlyCase.map { [$0.2] } ?? (0..<Self.seedsPerCell).map { Self.seed(structure, kind, $0) }
            for seed in seeds {
                try MatrixCase(fixture: fixture, layout: layout, structure: structure, kind: kind, seed: seed).run(&tally)
            }
            print("corruption matrix: \(structure.rawValue) × \(kind.rawValue): \(tally)")
        }
    }

    /// A record a read of the final state returns (so damage to it must surface as `corrupt`).
    static func liveTarget(_ structure: MatrixStructure, _ fixture: CorruptionFixture, _ layout: MatrixLayout, _ rng: inout SplitMix)
        throws -> MatrixTarget
    {
        let liveVersions = Set(fixture.kvState(through: fixture.lastLSN).values.flatMap { $0.values.map(\.lsn) })
        let view = fixture.raftView(through: fixture.lastLSN)
        let retained = Set(
            view.flatMap { g, v in v.entries.map { MatrixEntryID(group: g, index: $0.index, term: $0.term) } })
        let candidates = layout.segments.flatMap { s in
            s.dataFrames.flatMap { $0.records }.compactMap { r -> MatrixTarget? in
                let live: Bool =
                    switch structure {
                    case .kvRecord: r.type == RecordType.kvPut.rawValue && liveVersions.contains(r.lsn)
                    case .raftRecord: r.entry.map(retained.contains) ?? false
                    case .zstdContainer: r.type == 0xFF && (r.lsn..<r.lsn + UInt64(r.count)).contains(where: liveVersions.contains)
                    default: false
                    }
                return live ? MatrixTarget(file: "segments/" + s.name, range: r.offset..<r.offset + r.size, what: "live record of type \(r.type) at \(r.offset) (LSN \(r.lsn))") : nil
            }
        }
        if structure == .snapshotFileHeader || structure == .snapshotFileData { return try layout.target(structure, &rng) }
        try #require(!candidates.isEmpty, "no live \(structure)")
        return candidates[Int(rng.next() % UInt64(candidates.count))]
    }

    @Test(
        "damage under an open store: every read returns the acknowledged bytes or throws corrupt naming the file; the damaged one throws",
        arguments: [MatrixStructure.kvRecord, .raftRecord, .zstdContainer, .snapshotFileHeader, .snapshotFileData])
    func damageUnderOpenStore(_ structure: MatrixStructure) async throws {
        if let only = Self.onlyCase, only.0 != structure { return }
        let fixture = try await CorruptionFixtureCache.shared.fixture()
        let layout = try MatrixLayout(fixture.path)
        for kind in MatrixDamage.allCases {
            if let only = Self.onlyCase, only.1 != kind { continue }
            let seeds = Self.onlyCase.map { [$0.2] } ?? (0..<Self.seedsPerCell).map { Self.seed(structure, kind, 1000 + $0) }
            for seed in seeds {
                let copy = copyOfDirectory(fixture.path)
                let store = try Store.open(at: copy.logPath, configuration: fixture.configuration)
                var rng = SplitMix(state: seed)
                let target = try Self.liveTarget(structure, fixture, layout, &rng)
                let name = "under-open \(structure.rawValue):\(kind.rawValue):\(seed)"
                let (changed, detail) = try MatrixCase.apply(kind, to: target, in: copy.logPath, rng: &rng, name: name)
                let context = "case \(name) (\(detail))"
                let damagedPath = copy.logPath + "/" + target.file
                // Offsets of the records (plain, or containers) the damage touched.
                let touched = Set(
                    (layout.segments.first { "segments/" + $0.name == target.file }?.dataFrames ?? []).flatMap(\.records)
                        .filter { r in changed.contains { (r.offset..<r.offset + r.size).contains($0) } }.map { UInt64($0.offset) })
                func checkCorrupt(_ error: StoreError, _ what: String) {
                    #expect(error.kind == .corrupt, "\(context): \(what) threw \(error)")
                    #expect(error.path == damagedPath, "\(context): \(what): the error names another file: \(error)")
                    if target.file.hasPrefix("segments/") {
                        // The offset of a damaged record (or of its container).
                        #expect(error.offset.map(touched.contains) == true, "\(context): \(what): offset: \(error)")
                    } else {
                        #expect(error.offset != nil, "\(context): \(what): no offset: \(error)")
                    }
                }
                var corrupt = 0
                let expected = fixture.kvState(through: fixture.lastLSN)
                for (namespace, keys) in fixture.allKeys {
                    let ns = try Namespace(namespace)
                    for key in keys {
                        do {
                            let got = try store.get(key, in: ns)
                            let want = expected[namespace]?[key]
                            #expect(got?.value == want?.value && got?.version.lsn == want?.lsn, "\(context): get \(namespace) returned other bytes")
                        } catch {
                            corrupt += 1
                            checkCorrupt(error, "get \(namespace)/\(String(decoding: key, as: UTF8.self))")
                        }
                    }
                }
                let view = fixture.raftView(through: fixture.lastLSN)
                for g in CorruptionFixture.groups {
                    let want = view[g.rawValue] ?? MatrixGroupView()
                    for entry in want.entries {
                        do {
                            let got = try store.raft.entry(g, entry.index)
                            #expect(got == entry, "\(context): group \(g) entry \(entry.index) returned other bytes")
                        } catch {
                            corrupt += 1
                            checkCorrupt(error, "group \(g) entry \(entry.index)")
                        }
                    }
                    do {
                        #expect(try store.raft.snapshot(g) == want.snapshot, "\(context): group \(g) snapshot returned other bytes")
                    } catch {
                        corrupt += 1
                        checkCorrupt(error, "group \(g) snapshot")
                    }
                }
                #expect(corrupt > 0, "\(context): no read noticed the damage")
                try store.close()
                // And verify (now that the store is closed) names it.
                let report = try StoreInspector.verify(path: copy.logPath)
                let first = UInt64(changed.first!)
                #expect(
                    report.problems.contains { $0.path == damagedPath && $0.isCorruption && ($0.offset ?? .max) <= max(first, 32) },
                    "\(context): verify: \(report.problems)")
                CorruptionMatrixTests.trace("\(context): \(corrupt) reads threw corrupt")
            }
        }
    }

    @Test("verify checks each Raft group's newest snapshot marker against its file: missing, other length, other contents")
    func snapshotMarkers() async throws {
        let fixture = try await CorruptionFixtureCache.shared.fixture()
        let clean = try StoreInspector.verify(path: fixture.path)
        #expect(clean.problems.isEmpty, "\(clean.problems)")
        let names = try FileManager.default.contentsOfDirectory(atPath: fixture.path + "/snapshots").sorted()
        #expect(clean.files.map(\.name) == names)
        #expect(clean.files.allSatisfy { $0.isIntact })
        #expect(clean.summary.snapshotFiles == UInt64(names.count) && names.count >= 2, "\(names)")
        let (victim, other) = (names[0], names[1])

        // A missing file.
        let missing = copyOfDirectory(fixture.path)
        try FileManager.default.removeItem(atPath: missing.logPath + "/snapshots/" + victim)
        var report = try StoreInspector.verify(path: missing.logPath)
        #expect(
            report.problems.contains { $0.kind == .snapshotMismatch && $0.path == missing.logPath + "/snapshots/" + victim && $0.isCorruption },
            "\(report.problems)")
        #expect(!report.isClean)
        do {
            _ = try Store.open(at: missing.logPath, configuration: fixture.configuration)
            Issue.record("open accepted a missing snapshot file")
        } catch {
            #expect(error.kind == .corrupt && error.path == missing.logPath + "/snapshots/" + victim, "\(error)")
        }

        // Another intact file under the name (a valid blob, but not the one the marker names).
        let swapped = copyOfDirectory(fixture.path)
        let victimPath = swapped.logPath + "/snapshots/" + victim
        try FileManager.default.removeItem(atPath: victimPath)
        try FileManager.default.copyItem(atPath: swapped.logPath + "/snapshots/" + other, toPath: victimPath)
        report = try StoreInspector.verify(path: swapped.logPath)
        #expect(
            report.problems.contains { $0.kind == .snapshotMismatch && $0.path == victimPath && $0.offset == 32 }, "\(report.problems)")
        #expect(!report.problems.contains { $0.kind == .corruptFile }, "the file itself is intact: \(report.problems)")
        let store = try Store.open(at: swapped.logPath, configuration: fixture.configuration)
        defer { try? store.close() }
        let group = try #require(RaftSnapshotFile.parse(name: victim)).group
        #expect(throws: StoreError.self, "the snapshot read must refuse the swapped file") { try store.raft.snapshot(group) }
    }

    @Test("logstore verify exits 1 naming a damaged snapshot file and its offset, and changes nothing")
    func cliNamesSnapshotFile() async throws {
        let fixture = try await CorruptionFixtureCache.shared.fixture()
        let copy = copyOfDirectory(fixture.path)
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: copy.logPath + "/snapshots").sorted().first)
        let path = copy.logPath + "/snapshots/" + name
        try flipBit(path, at: 100)
        let before = try snapshotFiles(copy.logPath)
        let run = try await CLITests.logstore(["verify", copy.logPath])
        #expect(run.status == 1, "\(run)")
        #expect(run.text.contains("\(path) @ 32"), "\(run)")
        #expect(run.text.contains("snapshots/: "), "\(run)")
        let json = try await CLITests.logstore(["verify", "--json", copy.logPath])
        #expect(json.status == 1, "\(json)")
        #expect(json.text.contains("\"corrupt file\""), "\(json)")
        #expect(try snapshotFiles(copy.logPath) == before, "verify changed the store")
    }
}
