import Testing
@testable import LogStore

/// Quick end-to-end checks of the Raft log in both persistence modes, across a reopen.
@Suite("Raft log: smoke")
struct RaftSmokeTests {
    static let modes: [RaftPersistence] = [.diskFirst, .memFirst(.immediate), .memFirst(.batch(threshold: 4096, interval: .milliseconds(2)))]

    func configuration(_ persistence: RaftPersistence) -> StoreConfiguration {
        var c = smallStore()
        c.raft.persistence = persistence
        return c
    }

    func entries(_ range: ClosedRange<UInt64>, term: UInt64) -> [RaftEntry] {
        range.map { RaftEntry(index: $0, term: term, payload: Array("e\($0)t\(term)".utf8)) }
    }

    @Test("append, read, conflict, truncate, snapshot, reopen", arguments: modes)
    func roundTrip(persistence: RaftPersistence) async throws {
        let dir = TemporaryDirectory()
        let group: RaftGroupID = 7
        do {
            let store = try Store.open(at: dir.path, configuration: configuration(persistence))
            let raft = store.raft
            try await raft.append(group, entries(1...10, term: 1), hardState: RaftHardState(term: 1, vote: 2, commit: 3))
            #expect(raft.firstIndex(group) == 1)
            #expect(raft.lastIndex(group) == 10)
            #expect(try raft.entries(group, 3..<6) == entries(3...5, term: 1))
            try await raft.append(group, entries(8...12, term: 2))
            #expect(try raft.term(group, 7) == 1)
            #expect(try raft.term(group, 8) == 2)
            #expect(raft.lastIndex(group) == 12)
            try await raft.truncatePrefix(group, upTo: 4)
            #expect(throws: StoreError.self) { try raft.entries(group, 3..<5) }
            #expect(try raft.term(group, 3) == 1)
            try await raft.truncateSuffix(group, after: 11)
            try await raft.saveSnapshot(group, RaftSnapshot(metadata: .init(index: 6, term: 1, context: [9]), data: [1, 2, 3]))
            try await raft.waitUntilDurable(group, through: 11)
            #expect(raft.durableIndex(group) == 11)
            try store.close()
        }
        let store = try Store.open(at: dir.path, configuration: configuration(persistence))
        let raft = store.raft
        #expect(raft.firstIndex(group) == 4)
        #expect(raft.lastIndex(group) == 11)
        #expect(raft.hardState(group) == RaftHardState(term: 1, vote: 2, commit: 3))
        #expect(try raft.entries(group, 4..<12) == entries(4...7, term: 1) + entries(8...11, term: 2))
        let snapshot = try #require(try raft.snapshot(group))
        #expect(snapshot.metadata == .init(index: 6, term: 1, context: [9]))
        #expect(snapshot.data == [1, 2, 3])
        try await raft.removeGroup(group)
        #expect(raft.lastIndex(group) == 0)
        #expect(raft.groupIDs.isEmpty)
        try store.close()
    }
}
