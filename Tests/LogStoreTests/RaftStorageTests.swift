import Foundation
import Testing

@testable import LogStore

// etcd raft's `MemoryStorage` behaviours (its storage_test.go: TestStorageTerm, TestStorageEntries,
// TestStorageLastIndex, TestStorageFirstIndex, TestStorageCompact, TestStorageAppend,
// TestStorageApplySnapshot), restated as our own tables against `RaftLog`, plus hard state, bad
// input and many groups at once.
//
// etcd's fixture `index(3).terms(3, 4, 5)` is a storage whose dummy entry (the snapshot boundary)
// is index 3 with term 3, holding entries 4 (term 4) and 5 (term 5). We build it two ways: by
// appending 1...5 and compacting (`truncatePrefix(upTo: 4)`), and by saving a snapshot at (3, 3)
// and appending 4...5. Every table runs in every persistence mode (DiskFirst, MemFirst immediate,
// MemFirst batch) and is checked again after a clean reopen. Rows that change state each get their
// own group of one store, so a table is one store.
//
// Where we differ from etcd on purpose (documented in RaftLog):
//  - etcd `Compact(i)` makes i the dummy entry; ours is `truncatePrefix(upTo: i + 1)` (the new
//    first index). etcd refuses `Compact(offset)` with ErrCompacted; our `truncatePrefix(upTo:
//    firstIndex)` is a no-op (the state is the same either way). Compacting past the last index
//    panics in etcd; ours throws `unavailable`.
//  - `maxBytes` counts payload bytes, not encoded entry sizes.
//  - Appending with a gap panics in etcd; ours throws `outOfOrder` (and so does a term below the
//    entry before, which etcd does not check).
//  - `ApplySnapshot` in etcd always replaces the log; `saveSnapshot` keeps the entries when the
//    log holds the snapshot's index with its term (else it replaces the log, as etcd). A snapshot
//    at index 0 (etcd's "bootstrap with ConfState") is refused with `invalidArgument`.

/// How the etcd fixture's boundary at index 3 (term 3) is made.
enum RaftBase: String, CaseIterable, Sendable {
    /// Append 1...3 (terms 1, 2, 3) and the rest, then `truncatePrefix(upTo: 4)`.
    case compaction
    /// Save a snapshot at (3, 3), then append the rest.
    case snapshot
}

/// A persistence mode and a way to build the fixture.
struct RaftSetup: Sendable, CustomTestStringConvertible {
    let mode: RaftMode
    let base: RaftBase
    var testDescription: String { "\(mode.rawValue)/\(base.rawValue)" }

    static let all: [RaftSetup] = RaftMode.allCases.flatMap { mode in RaftBase.allCases.map { RaftSetup(mode: mode, base: $0) } }
}

@Suite struct RaftStorageTests {
    static let baseSnapshot = RaftSnapshot(metadata: .init(index: 3, term: 3, context: Array("conf".utf8)), data: Array("state@3".utf8))

    /// Builds etcd's `index(3).terms(3, terms...)` in `group`: boundary (3, 3), entries 4... with `terms`.
    static func makeBase(
        _ raft: RaftLog, _ group: RaftGroupID, _ base: RaftBase, terms: [UInt64], payloadSize: ((UInt64) -> Int)? = nil
    ) async throws {
        switch base {
        case .compaction:
            try await raft.append(group, raftEntries(from: 1, terms: [1, 2, 3] + terms, payloadSize: payloadSize))
            try await raft.truncatePrefix(group, upTo: 4)
        case .snapshot:
            try await raft.saveSnapshot(group, baseSnapshot)
            try await raft.append(group, raftEntries(from: 4, terms: terms, payloadSize: payloadSize))
        }
        #expect(raft.firstIndex(group) == 4)
        #expect(raft.lastIndex(group) == 3 + UInt64(terms.count))
    }

    /// The expected view of a group: boundary `(first - 1, previousTerm)`, entries from `first`
    /// with `terms` (payloads as `raftEntries` makes them, or `entries` exactly).
    static func view(
        first: UInt64, previousTerm: UInt64, terms: [UInt64], hardState: RaftHardState = .init(), snapshot: RaftSnapshot? = nil
    ) -> RaftGroupView {
        var v = RaftGroupView()
        v.first = first
        v.previousTerm = previousTerm
        v.entries = raftEntries(from: first, terms: terms)
        v.hardState = hardState
        v.snapshot = snapshot
        return v
    }

    /// The snapshot the base leaves (the snapshot base has one at 3).
    static func baseSnapshot(_ base: RaftBase) -> RaftSnapshot? { base == .snapshot ? baseSnapshot : nil }

    /// Checks each group's view now, then after a reopen (and, MemFirst, that flushing makes all durable).
    static func checkViews(_ t: RaftTestStore, _ expected: [(RaftGroupID, RaftGroupView, String)], _ setup: RaftSetup) async throws {
        for pass in ["live", "after reopen"] {
            for (group, want, label) in expected {
                let got = try RaftGroupView(t.raft, group)
                #expect(got == want, "\(setup.testDescription) \(pass) \(label): got \(got), want \(want)")
            }
            if pass == "live" {
                try await t.raft.flush()
                for (group, want, label) in expected {
                    #expect(t.raft.durableIndex(group) == want.last, "\(setup.testDescription) \(label): durable index after flush")
                    #expect(t.raft.durableHardState(group) == want.hardState, "\(setup.testDescription) \(label): durable hard state after flush")
                }
                try t.reopen()
            }
        }
    }

    // MARK: - term

    /// etcd TestStorageTerm on `index(3).terms(3, 4, 5)`.
    @Test("term: compacted below the boundary, the boundary's term, retained terms, unavailable past the end",
          arguments: RaftSetup.all)
    func term(setup: RaftSetup) async throws {
        let t = try RaftTestStore(setup.mode)
        let g: RaftGroupID = 1
        try await Self.makeBase(t.raft, g, setup.base, terms: [4, 5])
        enum Want { case term(UInt64), error(StoreError.Kind) }
        let rows: [(UInt64, Want)] = [
            (0, .error(.compacted)), (2, .error(.compacted)),
            (3, .term(3)),  // the snapshot/compaction boundary: firstIndex - 1
            (4, .term(4)), (5, .term(5)),
            (6, .error(.unavailable)), (.max, .error(.unavailable)),
        ]
        for pass in ["live", "after reopen"] {
            for (index, want) in rows {
                switch want {
                case .term(let term):
                    #expect(try t.raft.term(g, index) == term, "\(setup.testDescription) \(pass): term(\(index))")
                case .error(let kind):
                    await expectStoreError(kind, "\(setup.testDescription) \(pass): term(\(index))") { try t.raft.term(g, index) }
                }
            }
            if pass == "live" { try t.reopen() }
        }
        // A group never written: term(0) is 0, anything else unavailable.
        #expect(try t.raft.term(99, 0) == 0)
        await expectStoreError(.unavailable) { try t.raft.term(99, 1) }
    }

    // MARK: - entries

    /// etcd TestStorageEntries on `index(3).terms(3, 4, 5, 6)` with payloads of 10, 20 and 30 bytes.
    @Test("entries: compacted, unavailable, maxBytes returns at least one entry and whole entries only",
          arguments: RaftSetup.all)
    func entries(setup: RaftSetup) async throws {
        let t = try RaftTestStore(setup.mode)
        let g: RaftGroupID = 1
        let size = { (index: UInt64) in index > 3 ? Int(index - 3) * 10 : 5 }  // 4: 10 bytes, 5: 20, 6: 30
        try await Self.makeBase(t.raft, g, setup.base, terms: [4, 5, 6], payloadSize: size)
        let all = raftEntries(from: 4, terms: [4, 5, 6], payloadSize: size)
        enum Want { case entries(ClosedRange<UInt64>?), error(StoreError.Kind) }
        let rows: [(Range<UInt64>, Int, Want)] = [
            (2..<6, .max, .error(.compacted)),
            (3..<4, .max, .error(.compacted)),
            (3..<3, .max, .error(.compacted)),  // even empty, a range starting before the first index
            (4..<5, .max, .entries(4...4)),
            (4..<6, .max, .entries(4...5)),
            (4..<7, .max, .entries(4...6)),
            (4..<7, 0, .entries(4...4)),  // even with maxBytes 0 the first entry comes back
            (5..<7, 19, .entries(5...5)),  // a first entry larger than maxBytes still comes back
            (4..<7, 30, .entries(4...5)),  // exactly two
            (4..<7, 30 + 15, .entries(4...5)),  // two and half of the third
            (4..<7, 60 - 1, .entries(4...5)),  // one byte short of all
            (4..<7, 60, .entries(4...6)),  // all
            (6..<7, 0, .entries(6...6)),
            (7..<7, .max, .entries(nil)),  // empty at last + 1
            (4..<8, .max, .error(.unavailable)),
            (7..<8, .max, .error(.unavailable)),
            (4..<UInt64.max, .max, .error(.unavailable)),
        ]
        for pass in ["live", "after reopen"] {
            for (range, maxBytes, want) in rows {
                let label = "\(setup.testDescription) \(pass): entries(\(range), maxBytes: \(maxBytes))"
                switch want {
                case .entries(let indexes):
                    let expected = indexes.map { r in all.filter { r.contains($0.index) } } ?? []
                    #expect(try t.raft.entries(g, range, maxBytes: maxBytes) == expected, "\(label)")
                case .error(let kind):
                    await expectStoreError(kind, label) { try t.raft.entries(g, range, maxBytes: maxBytes) }
                }
            }
            for entry in all { #expect(try t.raft.entry(g, entry.index) == entry, "\(setup.testDescription) \(pass): entry(\(entry.index))") }
            await expectStoreError(.compacted) { try t.raft.entry(g, 3) }
            await expectStoreError(.unavailable) { try t.raft.entry(g, 7) }
            await expectStoreError(.unavailable) { try t.raft.entry(g, .max) }
            if pass == "live" { try t.reopen() }
        }
        // A group never written: nothing before 1, empty at 1, unavailable after.
        await expectStoreError(.compacted) { try t.raft.entries(99, 0..<1) }
        #expect(try t.raft.entries(99, 1..<1) == [])
        await expectStoreError(.unavailable) { try t.raft.entries(99, 1..<2) }
    }

    @Test("DiskFirst reads from disk agree with the cache: no cache, a tiny cache, prefetch on and off")
    func diskFirstReadPaths() async throws {
        let entries = raftEntries(from: 1, terms: Array(repeating: 1, count: 50) + Array(repeating: 2, count: 50)) { 100 + Int($0 % 7) * 50 }
        for (cacheBytes, prefetch) in [(0, 32), (1000, 32), (1000, 0), (64 << 20, 4)] {
            var c = raftStoreConfiguration(.diskFirst)
            c.raft.entryCacheBytes = cacheBytes
            c.raft.prefetchEntries = prefetch
            c.raft.prefetchBytes = 2000
            let t = try RaftTestStore(c)
            for chunk in stride(from: 0, to: entries.count, by: 10) {
                try await t.raft.append(5, Array(entries[chunk..<chunk + 10]))
            }
            try t.reopen()
            for pass in 0..<2 {
                for start in stride(from: 1, through: 100, by: 13) {
                    let got = try t.raft.entries(5, UInt64(start)..<101, maxBytes: 1500)
                    #expect(!got.isEmpty)
                    #expect(got == Array(entries[(start - 1)..<(start - 1 + got.count)]), "cache \(cacheBytes) prefetch \(prefetch) pass \(pass)")
                }
                #expect(try t.raft.entries(5, 1..<101) == entries)
            }
        }
    }

    // MARK: - first and last index

    /// etcd TestStorageLastIndex and TestStorageFirstIndex on `index(3).terms(3, 4, 5)`.
    @Test("last index grows with an append; first index moves with compaction", arguments: RaftSetup.all)
    func firstAndLastIndex(setup: RaftSetup) async throws {
        let t = try RaftTestStore(setup.mode)
        let g: RaftGroupID = 1
        try await Self.makeBase(t.raft, g, setup.base, terms: [4, 5])
        #expect(t.raft.firstIndex(g) == 4)
        #expect(t.raft.lastIndex(g) == 5)
        try await t.raft.append(g, raftEntries(from: 6, terms: [5]))
        #expect(t.raft.lastIndex(g) == 6)
        try await t.raft.truncatePrefix(g, upTo: 5)  // etcd Compact(4)
        #expect(t.raft.firstIndex(g) == 5)
        #expect(t.raft.lastIndex(g) == 6)
        try t.reopen()
        #expect(t.raft.firstIndex(g) == 5)
        #expect(t.raft.lastIndex(g) == 6)
        // A group never written.
        #expect(t.raft.firstIndex(42) == 1)
        #expect(t.raft.lastIndex(42) == 0)
        #expect(t.raft.hardState(42) == RaftHardState())
        #expect(try t.raft.snapshot(42) == nil)
        #expect(t.raft.info(42) == nil)
    }

    // MARK: - compact

    /// etcd TestStorageCompact on `index(3).terms(3, 4, 5)`. etcd `Compact(i)` ↔ ours
    /// `truncatePrefix(upTo: i + 1)`: etcd names the new dummy (last discarded) entry, we name the
    /// new first index.
    @Test("compact (truncatePrefix): compacted, no-op at the first index, moves the boundary, unavailable past the end",
          arguments: RaftSetup.all)
    func compact(setup: RaftSetup) async throws {
        let t = try RaftTestStore(setup.mode)
        struct Row {
            let etcdCompact: UInt64
            let error: StoreError.Kind?
            let first: UInt64
            let previousTerm: UInt64
            let terms: [UInt64]
        }
        let rows: [Row] = [
            Row(etcdCompact: 2, error: .compacted, first: 4, previousTerm: 3, terms: [4, 5]),
            // etcd: ErrCompacted; ours: a no-op. Both leave the state as it was.
            Row(etcdCompact: 3, error: nil, first: 4, previousTerm: 3, terms: [4, 5]),
            Row(etcdCompact: 4, error: nil, first: 5, previousTerm: 4, terms: [5]),
            Row(etcdCompact: 5, error: nil, first: 6, previousTerm: 5, terms: []),
            // etcd panics (compact beyond the last index); ours refuses.
            Row(etcdCompact: 6, error: .unavailable, first: 4, previousTerm: 3, terms: [4, 5]),
        ]
        var expected: [(RaftGroupID, RaftGroupView, String)] = []
        for (i, row) in rows.enumerated() {
            let g = RaftGroupID(UInt64(i + 1))
            try await Self.makeBase(t.raft, g, setup.base, terms: [4, 5])
            let upTo = row.etcdCompact + 1
            if let kind = row.error {
                await expectStoreError(kind, "\(setup.testDescription): truncatePrefix(upTo: \(upTo))") { try await t.raft.truncatePrefix(g, upTo: upTo) }
            } else {
                try await t.raft.truncatePrefix(g, upTo: upTo)
            }
            expected.append((g, Self.view(first: row.first, previousTerm: row.previousTerm, terms: row.terms, snapshot: Self.baseSnapshot(setup.base)),
                             "Compact(\(row.etcdCompact)) = truncatePrefix(upTo: \(upTo))"))
        }
        // After compacting everything, appending continues at the boundary.
        try await t.raft.append(4, raftEntries(from: 6, terms: [5, 6]))
        expected[3].1.entries = raftEntries(from: 6, terms: [5, 6])
        try await Self.checkViews(t, expected, setup)
    }

    // MARK: - append

    /// etcd TestStorageAppend on `index(3).terms(3, 4, 5)`, plus the refusals etcd panics on or
    /// does not check.
    @Test("append: overlaps, conflicts, compacted prefix dropped, gap and term refusals", arguments: RaftSetup.all)
    func append(setup: RaftSetup) async throws {
        let t = try RaftTestStore(setup.mode)
        struct Row {
            let label: String
            let first: UInt64
            let terms: [UInt64]
            var hardState: RaftHardState? = nil
            let error: StoreError.Kind?
            /// Terms of entries 4... afterwards.
            let want: [UInt64]
        }
        let hs = RaftHardState(term: 9, vote: 2, commit: 4)
        let rows: [Row] = [
            Row(label: "entirely compacted: ignored", first: 1, terms: [1, 2], error: nil, want: [4, 5]),
            Row(label: "same entries, first one compacted", first: 3, terms: [3, 4, 5], error: nil, want: [4, 5]),
            Row(label: "conflict from 4", first: 3, terms: [3, 6, 6], error: nil, want: [6, 6]),
            Row(label: "overlap and extend", first: 3, terms: [3, 4, 5, 5], error: nil, want: [4, 5, 5]),
            Row(label: "drop the compacted part, replace the rest", first: 2, terms: [3, 3, 5], error: nil, want: [5]),
            Row(label: "truncate the existing entries and append", first: 4, terms: [5], error: nil, want: [5]),
            Row(label: "direct append", first: 6, terms: [5], error: nil, want: [4, 5, 5]),
            Row(label: "conflict in the middle", first: 5, terms: [7, 7, 8], error: nil, want: [4, 7, 7, 8]),
            Row(label: "replace with the boundary's term", first: 4, terms: [3], error: nil, want: [3]),
            Row(label: "compacted entries with a hard state: the hard state is saved", first: 1, terms: [1, 2], hardState: hs, error: nil, want: [4, 5]),
            Row(label: "no entries, a hard state", first: 1, terms: [], hardState: hs, error: nil, want: [4, 5]),
            Row(label: "entries and a hard state", first: 6, terms: [5, 5], hardState: hs, error: nil, want: [4, 5, 5, 5]),
            // etcd panics ("missing log entry"); ours refuses and writes nothing, hard state included.
            Row(label: "gap after the last index", first: 7, terms: [5], hardState: hs, error: .outOfOrder, want: [4, 5]),
            Row(label: "term below the entry before (5 has term 5)", first: 6, terms: [4], error: .outOfOrder, want: [4, 5]),
            Row(label: "term below the boundary's (3 has term 3)", first: 4, terms: [2], error: .outOfOrder, want: [4, 5]),
            Row(label: "terms going down inside the append", first: 6, terms: [6, 5], error: .outOfOrder, want: [4, 5]),
        ]
        var expected: [(RaftGroupID, RaftGroupView, String)] = []
        for (i, row) in rows.enumerated() {
            let g = RaftGroupID(UInt64(i + 1))
            try await Self.makeBase(t.raft, g, setup.base, terms: [4, 5])
            let entries = raftEntries(from: row.first, terms: row.terms)
            if let kind = row.error {
                await expectStoreError(kind, "\(setup.testDescription): \(row.label)") { try await t.raft.append(g, entries, hardState: row.hardState) }
            } else {
                try await t.raft.append(g, entries, hardState: row.hardState)
            }
            let hardState = row.error == nil ? row.hardState ?? RaftHardState() : RaftHardState()
            expected.append((g, Self.view(first: 4, previousTerm: 3, terms: row.want, hardState: hardState, snapshot: Self.baseSnapshot(setup.base)), row.label))
        }
        try await Self.checkViews(t, expected, setup)
    }

    // MARK: - snapshots

    /// etcd TestStorageApplySnapshot, plus our rule for a snapshot the log already holds.
    @Test("snapshot: newer replaces the log (or keeps it when it holds the snapshot's entry), older is out of date",
          arguments: RaftSetup.all)
    func applySnapshot(setup: RaftSetup) async throws {
        let t = try RaftTestStore(setup.mode)
        func snap(_ index: UInt64, _ term: UInt64) -> RaftSnapshot {
            RaftSnapshot(metadata: .init(index: index, term: term, context: Array("c\(index)".utf8)), data: Array("data at \(index)/\(term)".utf8))
        }
        struct Row {
            let label: String
            let snapshots: [RaftSnapshot]
            /// The error of the last one.
            let error: StoreError.Kind?
            let want: RaftGroupView
        }
        let base = Self.baseSnapshot(setup.base)
        let rows: [Row] = [
            Row(label: "newer than the log: replaces it", snapshots: [snap(8, 6)], error: nil,
                want: Self.view(first: 9, previousTerm: 6, terms: [], snapshot: snap(8, 6))),
            Row(label: "the log holds (5, 5): entries kept", snapshots: [snap(5, 5)], error: nil,
                want: Self.view(first: 4, previousTerm: 3, terms: [4, 5], snapshot: snap(5, 5))),
            Row(label: "the log holds (4, 4): entries kept", snapshots: [snap(4, 4)], error: nil,
                want: Self.view(first: 4, previousTerm: 3, terms: [4, 5], snapshot: snap(4, 4))),
            Row(label: "index 5 with another term: the log is replaced", snapshots: [snap(5, 6)], error: nil,
                want: Self.view(first: 6, previousTerm: 6, terms: [], snapshot: snap(5, 6))),
            Row(label: "index 4 with another term: the log is replaced", snapshots: [snap(4, 5)], error: nil,
                want: Self.view(first: 5, previousTerm: 5, terms: [], snapshot: snap(4, 5))),
            Row(label: "newer, then older: out of date", snapshots: [snap(4, 4), snap(3, 3)], error: .snapshotOutOfDate,
                want: Self.view(first: 4, previousTerm: 3, terms: [4, 5], snapshot: snap(4, 4))),
            Row(label: "the same twice: out of date", snapshots: [snap(4, 4), snap(4, 4)], error: .snapshotOutOfDate,
                want: Self.view(first: 4, previousTerm: 3, terms: [4, 5], snapshot: snap(4, 4))),
            Row(label: "a newer one replaces the older one", snapshots: [snap(4, 4), snap(7, 5)], error: nil,
                want: Self.view(first: 8, previousTerm: 5, terms: [], snapshot: snap(7, 5))),
            Row(label: "older than the compacted prefix: out of date", snapshots: [snap(2, 2)], error: .snapshotOutOfDate,
                want: Self.view(first: 4, previousTerm: 3, terms: [4, 5], snapshot: base)),
            // etcd bootstraps from an index-0 snapshot with only a ConfState; ours refuses it.
            Row(label: "index 0: refused", snapshots: [snap(0, 0)], error: .invalidArgument,
                want: Self.view(first: 4, previousTerm: 3, terms: [4, 5], snapshot: base)),
            Row(label: "context over 64 KiB: refused",
                snapshots: [RaftSnapshot(metadata: .init(index: 9, term: 9, context: Array(repeating: 1, count: (64 << 10) + 1)), data: [])],
                error: .invalidArgument, want: Self.view(first: 4, previousTerm: 3, terms: [4, 5], snapshot: base)),
            // At the boundary (3, 3): kept with a compacted base, not newer than the base's snapshot.
            Row(label: "at the boundary (3, 3)", snapshots: [snap(3, 3)], error: setup.base == .snapshot ? .snapshotOutOfDate : nil,
                want: Self.view(first: 4, previousTerm: 3, terms: [4, 5], snapshot: setup.base == .snapshot ? base : snap(3, 3))),
        ]
        var expected: [(RaftGroupID, RaftGroupView, String)] = []
        for (i, row) in rows.enumerated() {
            let g = RaftGroupID(UInt64(i + 1))
            try await Self.makeBase(t.raft, g, setup.base, terms: [4, 5])
            for (j, s) in row.snapshots.enumerated() {
                if j == row.snapshots.count - 1, let kind = row.error {
                    await expectStoreError(kind, "\(setup.testDescription): \(row.label)") { try await t.raft.saveSnapshot(g, s) }
                } else {
                    try await t.raft.saveSnapshot(g, s)
                }
            }
            expected.append((g, row.want, row.label))
        }
        // After a snapshot that replaced the log, appends continue after it; entries it covers are dropped.
        try await t.raft.append(1, raftEntries(from: 7, terms: [6, 6, 6, 7]))
        expected[0].1.entries = raftEntries(from: 9, terms: [6, 7])
        try await Self.checkViews(t, expected, setup)
        // One snapshot file per group that has a snapshot: replaced ones are deleted.
        let files = try t.store.log.fileNames().filter { $0.hasPrefix("raft-") }
        let withSnapshot = expected.filter { $0.1.snapshot != nil }.count
        #expect(files.count == withSnapshot, "\(setup.testDescription): snapshot files \(files)")
    }

    @Test("keepEntriesAfterSnapshot discards all but the last n entries the snapshot covers", arguments: RaftMode.allCases)
    func keepEntriesAfterSnapshot(mode: RaftMode) async throws {
        for keep in [0, 1, 3, 20] {
            var c = raftStoreConfiguration(mode)
            c.raft.keepEntriesAfterSnapshot = keep
            let t = try RaftTestStore(c)
            try await t.raft.append(1, raftEntries(from: 1, terms: Array(repeating: 1, count: 10)))
            let s = RaftSnapshot(metadata: .init(index: 8, term: 1), data: [8])
            try await t.raft.saveSnapshot(1, s)
            let first = UInt64(max(1, 9 - keep))
            let want = Self.view(first: first, previousTerm: first == 1 ? 0 : 1, terms: Array(repeating: 1, count: Int(11 - first)), snapshot: s)
            // A snapshot that does not match the log replaces it, whatever `keep` says.
            try await t.raft.append(2, raftEntries(from: 1, terms: Array(repeating: 1, count: 10)))
            let other = RaftSnapshot(metadata: .init(index: 8, term: 2), data: [2])
            try await t.raft.saveSnapshot(2, other)
            let wantOther = Self.view(first: 9, previousTerm: 2, terms: [], snapshot: other)
            try await Self.checkViews(t, [(1, want, "keep \(keep)"), (2, wantOther, "keep \(keep), mismatch")], RaftSetup(mode: mode, base: .compaction))
        }
    }

    // MARK: - hard state

    @Test("hard state round trip: alone, with entries, overwritten, across reopens", arguments: RaftMode.allCases)
    func hardStateRoundTrip(mode: RaftMode) async throws {
        let t = try RaftTestStore(mode)
        let a = RaftHardState(term: 1, vote: 3, commit: 0)
        let b = RaftHardState(term: 2, vote: 0, commit: 5)
        let c = RaftHardState(term: .max, vote: .max, commit: .max)
        try await t.raft.saveHardState(1, a)
        #expect(t.raft.hardState(1) == a)
        try await t.raft.append(2, raftEntries(from: 1, terms: [1, 1]), hardState: b)
        #expect(t.raft.hardState(2) == b)
        try await t.raft.saveHardState(3, a)
        try await t.raft.saveHardState(3, c)
        #expect(t.raft.hardState(3) == c)
        try await t.raft.saveHardState(4, RaftHardState())  // zero, explicitly
        try await t.raft.flush()
        #expect(t.raft.durableHardState(1) == a)
        #expect(t.raft.durableHardState(3) == c)
        for pass in 0..<2 {
            #expect(t.raft.hardState(1) == a, "pass \(pass)")
            #expect(t.raft.hardState(2) == b, "pass \(pass)")
            #expect(t.raft.hardState(3) == c, "pass \(pass)")
            #expect(t.raft.hardState(4) == RaftHardState(), "pass \(pass)")
            #expect(t.raft.durableHardState(2) == b, "pass \(pass)")
            #expect(t.raft.lastIndex(1) == 0 && t.raft.lastIndex(2) == 2, "pass \(pass)")
            #expect(Set([1, 2, 3] as [RaftGroupID]).isSubset(of: t.raft.groupIDs), "pass \(pass): \(t.raft.groupIDs)")
            if pass == 0 { try t.reopen() }
        }
        // Hard state survives compaction, suffix truncation and a snapshot of its group.
        try await t.raft.truncatePrefix(2, upTo: 2)
        try await t.raft.truncateSuffix(2, after: 1)
        try await t.raft.saveSnapshot(2, RaftSnapshot(metadata: .init(index: 5, term: 3), data: []))
        try t.reopen()
        #expect(t.raft.hardState(2) == b)
        // Removing the group resets it.
        try await t.raft.removeGroup(2)
        #expect(t.raft.hardState(2) == RaftHardState())
        try t.reopen()
        #expect(t.raft.hardState(2) == RaftHardState())
        #expect(!t.raft.groupIDs.contains(2))
    }

    // MARK: - bad input

    @Test("bad input is refused with its error, changes nothing, and the store stays usable", arguments: RaftMode.allCases)
    func badInput(mode: RaftMode) async throws {
        let t = try RaftTestStore(raftStoreConfiguration(mode, maxEntrySize: 1000))
        let g: RaftGroupID = 1
        let hs = RaftHardState(term: 2, vote: 1, commit: 3)
        try await t.raft.append(g, raftEntries(from: 1, terms: [1, 1, 2, 2, 2]), hardState: hs)
        try await t.raft.truncatePrefix(g, upTo: 3)  // entries 3...5 (term 2), boundary (2, 1)
        let before = try RaftGroupView(t.raft, g)
        let bad = RaftHardState(term: 99, vote: 99, commit: 99)
        func entry(_ index: UInt64, _ term: UInt64, size: Int = 4) -> RaftEntry {
            RaftEntry(index: index, term: term, payload: raftPayload(index: index, term: term, size: size))
        }
        let cases: [(String, StoreError.Kind, () async throws -> Void)] = [
            ("index 0", .invalidArgument, { try await t.raft.append(g, [entry(0, 2), entry(1, 2)], hardState: bad) }),
            ("not consecutive", .outOfOrder, { try await t.raft.append(g, [entry(6, 2), entry(8, 2)], hardState: bad) }),
            ("repeated index", .outOfOrder, { try await t.raft.append(g, [entry(6, 2), entry(6, 2)], hardState: bad) }),
            ("decreasing indexes", .outOfOrder, { try await t.raft.append(g, [entry(6, 2), entry(5, 2)], hardState: bad) }),
            ("decreasing term inside", .outOfOrder, { try await t.raft.append(g, [entry(6, 3), entry(7, 2)], hardState: bad) }),
            ("term below the previous entry", .outOfOrder, { try await t.raft.append(g, [entry(6, 1)], hardState: bad) }),
            ("gap", .outOfOrder, { try await t.raft.append(g, [entry(7, 2)], hardState: bad) }),
            ("gap far away", .outOfOrder, { try await t.raft.append(g, [entry(.max, 2)], hardState: bad) }),
            ("oversize payload", .valueTooLarge, { try await t.raft.append(g, [entry(6, 2), entry(7, 2, size: 1001)], hardState: bad) }),
            ("snapshot at index 0", .invalidArgument, { try await t.raft.saveSnapshot(g, RaftSnapshot(metadata: .init(index: 0, term: 5), data: [1])) }),
            ("snapshot context too large", .invalidArgument, {
                try await t.raft.saveSnapshot(g, RaftSnapshot(metadata: .init(index: 9, term: 5, context: Array(repeating: 0, count: 70_000)), data: []))
            }),
            ("snapshot before the compaction boundary", .snapshotOutOfDate, { try await t.raft.saveSnapshot(g, RaftSnapshot(metadata: .init(index: 1, term: 1), data: [])) }),
            ("truncatePrefix below the first index", .compacted, { try await t.raft.truncatePrefix(g, upTo: 2) }),
            ("truncatePrefix to 0", .compacted, { try await t.raft.truncatePrefix(g, upTo: 0) }),
            ("truncatePrefix past last + 1", .unavailable, { try await t.raft.truncatePrefix(g, upTo: 7) }),
            ("truncatePrefix to .max", .unavailable, { try await t.raft.truncatePrefix(g, upTo: .max) }),
            ("truncateSuffix below first - 1", .compacted, { try await t.raft.truncateSuffix(g, after: 1) }),
            ("waitUntilDurable past the last index", .unavailable, { try await t.raft.waitUntilDurable(g, through: 6) }),
        ]
        for (label, kind, body) in cases {
            await expectStoreError(kind, "\(mode): \(label)") { try await body() }
            #expect(try RaftGroupView(t.raft, g) == before, "\(mode): \(label) changed the group")
        }
        // Bad input on a group that does not exist does not create it.
        for (label, body) in [
            ("gap", { try await t.raft.append(7, [entry(2, 1)]) }),
            ("index 0", { try await t.raft.append(7, [entry(0, 1)]) }),
            ("truncatePrefix", { try await t.raft.truncatePrefix(7, upTo: 5) }),
            ("snapshot", { try await t.raft.saveSnapshot(7, RaftSnapshot(metadata: .init(index: 0, term: 1), data: [])) }),
        ] as [(String, () async throws -> Void)] {
            do {
                try await body()
                Issue.record("\(mode): \(label) on a new group did not throw")
            } catch {}
            #expect(t.raft.groupIDs == [g], "\(mode): \(label) on a new group: groups \(t.raft.groupIDs)")
            #expect(t.raft.info(7) == nil, "\(mode): \(label) on a new group")
        }
        // A write too large for one commit (each entry fits, together they do not fit a frame).
        let big = (6..<400).map { entry(UInt64($0), 2, size: 1000) }
        await expectStoreError(.tooLarge, "\(mode): an append larger than a frame") { try await t.raft.append(g, big, hardState: bad) }
        #expect(try RaftGroupView(t.raft, g) == before, "\(mode): a too-large append changed the group")
        // Still usable: a good append, then the same after reopen.
        try await t.raft.append(g, [entry(6, 3)], hardState: RaftHardState(term: 3, vote: 1, commit: 6))
        try await t.raft.flush()
        var after = before
        after.entries.append(entry(6, 3))
        after.hardState = RaftHardState(term: 3, vote: 1, commit: 6)
        #expect(try RaftGroupView(t.raft, g) == after)
        try t.reopen()
        #expect(try RaftGroupView(t.raft, g) == after)
        #expect(t.raft.groupIDs == [g])
        #expect(t.store.failure == nil)
    }

    // Time limits here catch hangs, not slowness: alone these tests take under a second, but in
    // the full parallel run under the sanitizers they share the two cooperative threads of this
    // VM with the process-kill and matrix suites (41 s and 153 s measured).
    @Test("MemFirst batch: appends gathered past what one frame holds still flush", .timeLimit(.minutes(3)))
    func memFirstBatchLargerThanAFrame() async throws {
        // A threshold above the frame capacity (about 256 KiB here): each append fits a frame,
        // the writes gathered before the threshold do not.
        var c = raftStoreConfiguration(.memFirstBatch, maxEntrySize: 16 << 10)
        c.raft.persistence = .memFirst(.batch(threshold: 1 << 20, interval: .milliseconds(200)))
        let t = try RaftTestStore(c)
        let entries = raftEntries(from: 1, terms: Array(repeating: 1, count: 40)) { _ in 10_000 }
        for e in entries { try await t.raft.append(1, [e]) }
        try await t.raft.waitUntilDurable(1, through: 40)
        #expect(t.raft.durableIndex(1) == 40)
        #expect(t.store.failure == nil)
        try t.reopen()
        #expect(try t.raft.entries(1, 1..<41) == entries)
    }

    // MARK: - many groups

    @Test("concurrent appends to 1000 groups share group commits and all survive a reopen", .timeLimit(.minutes(5)),
          arguments: [RaftMode.diskFirst, .memFirstImmediate])
    func thousandGroups(mode: RaftMode) async throws {
        let t = try RaftTestStore(mode)
        let raft = t.raft
        let tasks = 50
        let groupsPerTask = 20
        let before = t.store.statistics.log.batches
        // Each group: 1...3 (term 1); 4...6 (term 1) with a hard state; then 5...7 (term 2), a conflict.
        await withTaskGroup(of: Void.self) { taskGroup in
            for task in 0..<tasks {
                taskGroup.addTask {
                    let groups = (0..<groupsPerTask).map { RaftGroupID(UInt64(task * groupsPerTask + $0 + 1)) }
                    do {
                        for g in groups { try await raft.append(g, raftEntries(from: 1, terms: [1, 1, 1])) }
                        for g in groups {
                            try await raft.append(g, raftEntries(from: 4, terms: [1, 1, 1]), hardState: RaftHardState(term: 1, vote: g.rawValue, commit: 3))
                        }
                        for g in groups { try await raft.append(g, raftEntries(from: 5, terms: [2, 2, 2])) }
                    } catch {
                        Issue.record("\(mode): task \(task): \(error)")
                    }
                }
            }
        }
        let appends = UInt64(tasks * groupsPerTask * 3)
        try await raft.flush()
        let batches = t.store.statistics.log.batches - before
        #expect(batches < appends, "\(mode): \(batches) group commits for \(appends) appends")
        print("RaftStorage 1000 groups \(mode): \(appends) appends in \(batches) group commits")
        let want = raftEntries(from: 1, terms: [1, 1, 1, 1, 2, 2, 2])
        for pass in ["live", "after reopen"] {
            #expect(t.raft.groupIDs == (1...UInt64(tasks * groupsPerTask)).map { RaftGroupID($0) }, "\(mode) \(pass)")
            for id in t.raft.groupIDs {
                #expect(try t.raft.entries(id, 1..<8) == want, "\(mode) \(pass): group \(id)")
                #expect(t.raft.hardState(id) == RaftHardState(term: 1, vote: id.rawValue, commit: 3), "\(mode) \(pass): group \(id)")
                #expect(t.raft.durableIndex(id) == 7, "\(mode) \(pass): group \(id)")
            }
            if pass == "live" { try t.reopen() }
        }
    }

    /// The completing thread resumes a DiskFirst writer before it has applied the write, holding
    /// the group's lock (RaftLog.applyDurable): nothing may read the group between the two.
    @Test("a write is applied when it returns: its entries, last index and hard state are read at once, by concurrent writers",
          arguments: RaftMode.allCases)
    func appliedWhenReturned(mode: RaftMode) async throws {
        let t = try RaftTestStore(mode)
        let raft = t.raft
        let groups = 8
        let appends = 150
        try await withThrowingTaskGroup(of: Void.self) { taskGroup in
            for g in 1...groups {
                taskGroup.addTask {
                    let group = RaftGroupID(UInt64(g))
                    for i in 1...UInt64(appends) {
                        let first = (i - 1) * 2 + 1
                        let entries = raftEntries(from: first, terms: [i, i])
                        let hardState = RaftHardState(term: i, vote: 1, commit: first)
                        try await raft.append(group, entries, hardState: hardState)
                        #expect(raft.lastIndex(group) == first + 1, "\(mode) group \(g) append \(i)")
                        #expect(raft.hardState(group) == hardState, "\(mode) group \(g) append \(i)")
                        #expect(try raft.term(group, first + 1) == i, "\(mode) group \(g) append \(i)")
                        #expect(try raft.entry(group, first + 1) == entries[1], "\(mode) group \(g) append \(i)")
                        if i % 50 == 0 {  // and a hard state alone
                            let alone = RaftHardState(term: i, vote: 2, commit: first + 1)
                            try await raft.saveHardState(group, alone)
                            #expect(raft.hardState(group) == alone, "\(mode) group \(g) after append \(i)")
                        }
                    }
                }
            }
            try await taskGroup.waitForAll()
        }
    }

    // MARK: - groups

    @Test("the entry cache never returns a removed group's payload for the recreated group's same index and term")
    func cacheSeparatesGroupIncarnations() async throws {
        let t = try RaftTestStore(.diskFirst)
        let old = (1...3).map { RaftEntry(index: $0, term: 1, payload: raftPayload(index: $0, term: 1, salt: 1)) }
        let new = (1...3).map { RaftEntry(index: $0, term: 1, payload: raftPayload(index: $0, term: 1, salt: 2)) }
        #expect(old != new)
        try await t.raft.append(7, old)
        #expect(try t.raft.entries(7, 1..<4) == old)  // written through: cached
        let oldGeneration = try #require(t.raft.existing(7)).generation
        try await t.raft.removeGroup(7)
        try await t.raft.append(7, new)
        let newGeneration = try #require(t.raft.existing(7)).generation
        #expect(newGeneration != oldGeneration)
        // The removed incarnation's payloads left the cache with it; reads get the new ones from it.
        #expect(t.raft.cache.cachedRanges(oldGeneration).isEmpty)
        #expect(t.raft.cache.payloads(oldGeneration, for: old.map { (index: $0.index, term: $0.term) }) == [nil, nil, nil])
        #expect(t.raft.cache.cachedRanges(newGeneration) == [1..<4])
        let hitsBefore = t.raft.cache.statistics.hits
        #expect(try t.raft.entries(7, 1..<4) == new)
        #expect(t.raft.cache.statistics.hits == hitsBefore + 3, "the recreated group's entries should come from the cache")
        try t.reopen()
        #expect(try t.raft.entries(7, 1..<4) == new)
    }

    @Test("removeGroup forgets everything, the group can be reused, and groupIDs lists groups with state", arguments: RaftMode.allCases)
    func removeAndReuse(mode: RaftMode) async throws {
        let t = try RaftTestStore(mode)
        try await t.raft.append(1, raftEntries(from: 1, terms: [1, 1, 1]), hardState: RaftHardState(term: 1, vote: 1, commit: 2))
        try await t.raft.saveSnapshot(1, RaftSnapshot(metadata: .init(index: 2, term: 1), data: [1]))
        try await t.raft.append(2, raftEntries(from: 1, terms: [1]))
        #expect(t.raft.groupIDs == [1, 2])
        try await t.raft.removeGroup(1)
        try await t.raft.removeGroup(1)  // again: nothing to do
        try await t.raft.removeGroup(3)  // never existed
        #expect(t.raft.groupIDs == [2])
        #expect(try RaftGroupView(t.raft, 1) == RaftGroupView())
        #expect(try t.store.log.fileNames().filter { $0.hasPrefix("raft-") }.isEmpty)
        // Reused: starts from scratch, including a snapshot at the same index as the removed one.
        try await t.raft.append(1, raftEntries(from: 1, terms: [5, 5]))
        try await t.raft.saveSnapshot(1, RaftSnapshot(metadata: .init(index: 2, term: 5), data: [2]))
        let want = Self.view(first: 1, previousTerm: 0, terms: [5, 5], snapshot: RaftSnapshot(metadata: .init(index: 2, term: 5), data: [2]))
        #expect(try RaftGroupView(t.raft, 1) == want)
        try t.reopen()
        #expect(try RaftGroupView(t.raft, 1) == want)
        #expect(t.raft.groupIDs == [1, 2])
        try await t.raft.removeGroup(1)
        try await t.raft.removeGroup(2)
        try t.reopen()
        #expect(t.raft.groupIDs == [])
    }
}
