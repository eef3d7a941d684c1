import CLogStore
import Foundation
import Testing

@testable import LogStore

/// Raft log storage under salvage recovery (docs/RAFT.md §6.1, FORMAT.md §7.5): a damaged frame
/// that held entries of one group leaves a gap in that group's indexes; salvage cuts the group at
/// the gap and reports it, other groups and key-value data stay whole, and the store keeps
/// working (and opens strictly) afterwards. Strict opens name the file and offset of the damage
/// or of a Raft record that cannot follow.
@Suite("Raft salvage")
struct RaftSalvageTests {
    static let groups: [RaftGroupID] = [1, 2, 3]
    static let rounds = 90
    /// Entries per append (one append is one frame in DiskFirst, written one at a time).
    static let perAppend: UInt64 = 2
    /// The round whose append of ``damagedGroup`` is damaged.
    static let damagedRound = 30
    static let damagedGroup: RaftGroupID = 2
    static let ns = try! Namespace("kv")

    static func configuration(_ mode: LogConfiguration.RecoveryMode = .strict, raft: RaftMode = .diskFirst) -> StoreConfiguration {
        var c = smallStore(segmentSize: 64 * 1024)
        c.raft.persistence = raft.persistence
        c.raft.maxEntrySize = 4096
        c.recoveryMode = mode
        return c
    }

    static func term(round: Int) -> UInt64 { 1 + UInt64(round / 20) }

    /// The entries group `group` appended in `round`.
    static func entries(_ group: RaftGroupID, round: Int) -> [RaftEntry] {
        (0..<perAppend).map { k in
            let index = UInt64(round) * perAppend + 1 + k
            return RaftEntry(index: index, term: term(round: round), payload: raftPayload(index: index, term: term(round: round), size: 300, salt: group.rawValue))
        }
    }

    static func key(_ round: Int) -> [UInt8] { Array("k\(round)".utf8) }

    /// The full log each group wrote: `rounds × perAppend` entries.
    static func allEntries(_ group: RaftGroupID) -> [RaftEntry] { (0..<rounds).flatMap { entries(group, round: $0) } }

    /// A closed store: per round one append of each group (two entries) and one key-value put,
    /// over several 64 KiB segments; then a hard state of every group committing everything.
    static func makeStore() async throws -> TemporaryDirectory {
        let dir = TemporaryDirectory("logstore-raft-salvage")
        let store = try Store.open(at: dir.logPath, configuration: configuration())
        for round in 0..<rounds {
            for group in groups { try await store.raft.append(group, entries(group, round: round)) }
            _ = try await store.put(testValue(writer: 9, seq: round), for: key(round), in: ns)
        }
        for group in groups {
            try await store.raft.saveHardState(group, RaftHardState(term: term(round: rounds - 1), vote: 1, commit: UInt64(rounds) * perAppend))
        }
        try store.close()
        #expect(try dataSegments(dir.logPath).count >= 3, "the test needs several segments")
        return dir
    }

    /// One record of a frame body, as the test reads it (no compression in these stores).
    struct FrameRecord {
        let type: UInt8
        let key: [UInt8]
        func word(_ i: Int) -> UInt64 { key[(8 * i)..<(8 * i + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
    }

    /// The records of `frame` in the segment file at `path`.
    static func records(_ path: String, _ frame: FrameLocation) throws -> [FrameRecord] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var result: [FrameRecord] = []
        var at = frame.offset + Int(LS_FRAME_HEADER_SIZE)
        for _ in 0..<frame.recordCount {
            let keyLength = Int(bytes[at + 6]) | Int(bytes[at + 7]) << 8
            let valueLength = (8..<12).reversed().reduce(0) { $0 << 8 | Int(bytes[at + $1]) }
            result.append(FrameRecord(type: bytes[at + 4], key: Array(bytes[(at + 12)..<(at + 12 + keyLength)])))
            at += 12 + keyLength + valueLength
        }
        return result
    }

    /// Where `group`'s append of `round` is: the segment file, the frame and the LSN of its first record.
    static func locate(_ dir: TemporaryDirectory, group: RaftGroupID, round: Int) throws -> (path: String, frame: FrameLocation, lsn: LSN) {
        let firstIndex = UInt64(round) * perAppend + 1
        var lsn: LSN = 1
        for path in try dataSegments(dir.logPath) {
            for frame in try frames(inSegment: path) where !frame.isSeal {
                let records = try Self.records(path, frame)
                if let first = records.first, first.type == RecordType.raftEntry.rawValue,
                    first.word(0) == group.rawValue, first.word(1) == firstIndex
                {
                    #expect(records.count == Int(perAppend))
                    return (path, frame, lsn)
                }
                lsn += LSN(frame.recordCount)
            }
        }
        Issue.record("append of group \(group) round \(round) not found")
        throw CancellationError()
    }

    /// A copy of `original` with one body byte of `group`'s append of `round` flipped (its frame
    /// CRC fails). Returns the copy, the damaged file (in the copy), the frame and its first LSN.
    static func damaged(_ original: TemporaryDirectory, group: RaftGroupID = damagedGroup, round: Int = damagedRound) throws
        -> (TemporaryDirectory, String, FrameLocation, LSN)
    {
        let (originalPath, frame, lsn) = try locate(original, group: group, round: round)
        let copy = copyOfDirectory(original.logPath)
        let path = segmentsDirectory(copy.logPath) + "/" + (originalPath as NSString).lastPathComponent
        #expect(path != segmentFiles(copy.logPath).last, "the damage should be in an older segment")
        try mutateFile(path) { $0[frame.offset + 44] ^= 0x20 }
        return (copy, path, frame, lsn)
    }

    /// Every entry of `group` from its first to its last index, read back.
    static func readAll(_ store: Store, _ group: RaftGroupID) throws -> [RaftEntry] {
        let raft = store.raft
        let (first, last) = (raft.firstIndex(group), raft.lastIndex(group))
        return last < first ? [] : try raft.entries(group, first..<(last + 1))
    }

    /// The state a salvage open must show: other groups and every key whole, the damaged group
    /// up to the gap (plus `extra` entries appended since).
    static func checkState(_ store: Store, damagedGroupEntries expected: [RaftEntry]) throws {
        for group in groups where group != damagedGroup {
            #expect(store.raft.firstIndex(group) == 1)
            #expect(store.raft.lastIndex(group) == UInt64(rounds) * perAppend)
            #expect(try readAll(store, group) == allEntries(group), "group \(group) must be intact")
            #expect(store.raft.hardState(group).commit == UInt64(rounds) * perAppend)
        }
        #expect(store.raft.lastIndex(damagedGroup) == UInt64(expected.count))
        #expect(try readAll(store, damagedGroup) == expected)
        // The newest hard state replayed is kept as it was, not lowered to the cut.
        #expect(store.raft.hardState(damagedGroup) == RaftHardState(term: term(round: rounds - 1), vote: 1, commit: UInt64(rounds) * perAppend))
        for round in 0..<rounds {
            #expect(try store.get(key(round), in: ns)?.value == testValue(writer: 9, seq: round), "key of round \(round)")
        }
    }

    @Test("salvage cuts the damaged group at the gap, keeps the others whole, reports the cut; the store goes on and reopens the same, strictly too")
    func salvageCutsAtTheGap() async throws {
        let original = try await Self.makeStore()
        let (copy, path, frame, lsn) = try Self.damaged(original)
        let keptLast = UInt64(Self.damagedRound) * Self.perAppend
        let kept = Array(Self.allEntries(Self.damagedGroup).prefix(Int(keptLast)))
        // Entries after the damaged frame: every later append of the group (its hard state stays).
        let droppedEntries = UInt64(Self.rounds - Self.damagedRound - 1) * Self.perAppend
        let (laterPath, laterFrame, laterLSN) = try Self.locate(copy, group: Self.damagedGroup, round: Self.damagedRound + 1)

        var store = try Store.open(at: copy.logPath, configuration: Self.configuration(.salvage))
        let report = store.recoveryReport
        let dropped = try #require(report.log.dropped)
        #expect(dropped.firstDamagePath == path)
        #expect(dropped.firstDamageOffset == UInt64(frame.offset))
        #expect(dropped.firstLSN == lsn)
        #expect(report.raftGroupsCut.count == 1)
        let cut = try #require(report.raftGroupsCut.first)
        #expect(cut.group == Self.damagedGroup)
        #expect(cut.lastIndexKept == keptLast)
        #expect(cut.firstDroppedIndex == keptLast + Self.perAppend + 1)
        #expect(cut.firstDroppedLSN == laterLSN)
        #expect(cut.firstDroppedPath == segmentsDirectory(copy.logPath) + "/" + (laterPath as NSString).lastPathComponent)
        #expect(cut.firstDroppedOffset == UInt64(laterFrame.offset + Int(LS_FRAME_HEADER_SIZE)))
        #expect(cut.droppedRecords == droppedEntries)
        #expect(cut.followsSkippedDamage)
        #expect(!cut.rebased)
        #expect(cut.lastIndex == keptLast)
        #expect(cut.commit == UInt64(Self.rounds) * Self.perAppend)
        #expect(cut.commitPastLastIndex)
        #expect(report.raftGroupsCommitPastLastIndex == [Self.damagedGroup])
        try Self.checkState(store, damagedGroupEntries: kept)

        // The cut group takes appends right after the kept entries (not after the lost ones).
        await #expect(throws: StoreError.self) {
            try await store.raft.append(Self.damagedGroup, [RaftEntry(index: keptLast + 2, term: 9, payload: [1])])
        }
        let appended = [RaftEntry(index: keptLast + 1, term: 9, payload: Array("after the cut".utf8))]
        try await store.raft.append(Self.damagedGroup, appended)
        #expect(store.raft.lastIndex(Self.damagedGroup) == keptLast + 1)
        _ = try await store.put([7], for: Array("after".utf8), in: Self.ns)
        try store.close()

        // Reopened (the skip range is recorded, so nothing new is damaged): the same state, in
        // salvage, strict and point-in-time modes, DiskFirst and MemFirst. The old records after the
        // gap are still dropped, and the append re-based the group.
        for (mode, raft) in [(LogConfiguration.RecoveryMode.salvage, RaftMode.diskFirst), (.strict, .diskFirst), (.strict, .memFirstImmediate), (.pointInTime, .diskFirst)] {
            store = try Store.open(at: copy.logPath, configuration: Self.configuration(mode, raft: raft))
            #expect(store.recoveryReport.log.dropped == nil, "\(mode): nothing new dropped")
            let again = try #require(store.recoveryReport.raftGroupsCut.first)
            #expect(store.recoveryReport.raftGroupsCut.count == 1)
            #expect(again.group == Self.damagedGroup)
            #expect(again.lastIndexKept == keptLast)
            #expect(again.firstDroppedLSN == laterLSN)
            #expect(again.droppedRecords == droppedEntries)
            #expect(again.followsSkippedDamage)
            #expect(again.rebased, "\(mode): the append after the cut re-based the group")
            #expect(again.lastIndex == keptLast + 1)
            try Self.checkState(store, damagedGroupEntries: kept + appended)
            #expect(try store.get(Array("after".utf8), in: Self.ns)?.value == [7])
            try store.close()
        }
    }

    @Test("strict refuses the same damage, naming the segment file and the frame's offset; point-in-time cuts the log there")
    func strictNamesFileAndOffset() async throws {
        let original = try await Self.makeStore()
        let (copy, path, frame, lsn) = try Self.damaged(original)
        do throws(StoreError) {
            _ = try Store.open(at: copy.logPath, configuration: Self.configuration(.strict))
            Issue.record("a strict open accepted a damaged frame")
        } catch {
            #expect(error.kind == .corrupt)
            #expect(error.path == path)
            #expect(error.offset == UInt64(frame.offset))
            #expect(error.description.contains((path as NSString).lastPathComponent))
            #expect(error.description.contains("offset \(frame.offset)"))
        }
        // Point-in-time: everything from the damage on is gone for every group; nothing to cut.
        let store = try Store.open(at: copy.logPath, configuration: Self.configuration(.pointInTime))
        defer { try? store.close() }
        #expect(store.recoveryReport.raftGroupsCut.isEmpty)
        #expect(store.recoveryReport.log.dropped?.firstLSN == lsn)
        for group in Self.groups {
            let last = store.raft.lastIndex(group)
            #expect(last >= UInt64(Self.damagedRound) * Self.perAppend)
            #expect(try Self.readAll(store, group) == Array(Self.allEntries(group).prefix(Int(last))))
        }
        #expect(store.raft.lastIndex(Self.damagedGroup) == UInt64(Self.damagedRound) * Self.perAppend)
    }

    @Test("a Raft record that cannot follow without damage: strict and point-in-time name its file and offset; salvage cuts and says no damage explains it")
    func inconsistentRecordWithoutDamage() async throws {
        let dir = TemporaryDirectory("logstore-raft-salvage")
        var store = try Store.open(at: dir.logPath, configuration: Self.configuration())
        try await store.raft.append(1, raftEntries(from: 1, terms: [1, 1, 1]))
        try await store.raft.append(2, raftEntries(from: 1, terms: [1, 1]))
        // A record no RaftLog would write: entry 6 of group 1, whose last index is 3.
        let bad = RaftRecord.entryKey(1, index: 6, term: 1)
        let badLSN = try await store.log.append(LogRecord(type: RecordType.raftEntry.rawValue, key: bad, value: [1, 2]))
        let segment = try #require(store.log.segments.last)
        let later = try await store.log.append(RaftRecord.truncateSuffixRecord(1, lastIndex: 5))
        try await store.raft.append(2, raftEntries(from: 3, terms: [1]))
        try store.close()

        for mode in [LogConfiguration.RecoveryMode.strict, .pointInTime] {
            do throws(StoreError) {
                _ = try Store.open(at: dir.logPath, configuration: Self.configuration(mode))
                Issue.record("\(mode) accepted a Raft entry that leaves a gap")
            } catch {
                #expect(error.kind == .corrupt)
                #expect(error.path == segment.path)
                let offset = try #require(error.offset)
                #expect(offset > 64 && offset < segment.end)
                #expect(error.message.contains((segment.path as NSString).lastPathComponent))
                #expect(error.message.contains("offset \(offset)"))
                #expect(error.message.contains("LSN \(badLSN)"))
                #expect(error.message.contains("group 1"))
            }
        }

        store = try Store.open(at: dir.logPath, configuration: Self.configuration(.salvage))
        #expect(store.recoveryReport.log.dropped == nil)
        let cut = try #require(store.recoveryReport.raftGroupsCut.first)
        #expect(store.recoveryReport.raftGroupsCut.count == 1)
        #expect(cut.group == 1)
        #expect(cut.lastIndexKept == 3)
        #expect(cut.firstDroppedIndex == 6)
        #expect(cut.firstDroppedLSN == badLSN)
        #expect(cut.firstDroppedPath == segment.path)
        // The suffix truncation after 5 referred to entries the group does not have: dropped too.
        #expect(cut.droppedRecords == 2)
        #expect(later == badLSN + 1)
        #expect(!cut.followsSkippedDamage)
        #expect(!cut.rebased)
        #expect(store.recoveryReport.raftGroupsCommitPastLastIndex.isEmpty)
        #expect(try Self.readAll(store, 1) == raftEntries(from: 1, terms: [1, 1, 1]))
        #expect(try Self.readAll(store, 2) == raftEntries(from: 1, terms: [1, 1, 1]))
        try store.close()
    }

    @Test("after the cut, a suffix truncation at or below the kept entries and a conflicting entry re-base the group as they did when written")
    func laterRecordsRebase() async throws {
        let dir = TemporaryDirectory("logstore-raft-salvage")
        var store = try Store.open(at: dir.logPath, configuration: Self.configuration())
        try await store.raft.append(1, raftEntries(from: 1, terms: [1, 1, 1, 1]))
        _ = try await store.log.append(LogRecord(type: RecordType.raftEntry.rawValue, key: RaftRecord.entryKey(1, index: 9, term: 1), value: [9]))
        // Written live after the bad record: truncate after 2, then entry 3 of term 2.
        _ = try await store.log.append(RaftRecord.truncateSuffixRecord(1, lastIndex: 2))
        try await store.raft.append(1, raftEntries(from: 3, terms: [2]))
        try store.close()
        store = try Store.open(at: dir.logPath, configuration: Self.configuration(.salvage, raft: .memFirstImmediate))
        let cut = try #require(store.recoveryReport.raftGroupsCut.first)
        #expect(cut.lastIndexKept == 4)
        #expect(cut.droppedRecords == 1)
        #expect(cut.rebased)
        #expect(cut.lastIndex == 3)
        #expect(try Self.readAll(store, 1) == raftEntries(from: 1, terms: [1, 1, 2]))
        try store.close()
    }
}
