import CLogStore

/// The Raft log storage of a ``Store``: hard state, entries and snapshots of any number of
/// Raft groups, all in the store's one log, so one `fdatasync` serves every group (and every
/// key-value write) that wrote at that instant. Reach it as ``Store/raft``.
///
/// **Semantics** follow etcd raft's `Storage`: ``entries(_:_:maxBytes:)`` returns at least one
/// entry when any is asked for; ``StoreError/Kind/compacted`` when the range starts before
/// ``firstIndex(_:)``; ``StoreError/Kind/unavailable`` when it ends past ``lastIndex(_:)`` + 1;
/// ``term(_:_:)`` answers for `firstIndex - 1` from the snapshot or the truncation that
/// discarded it. Appending entries that overlap the log replaces the conflicting suffix. A
/// group that was never written has first index 1, last index 0 and a zero hard state.
///
/// **Persistence** (``RaftConfiguration/persistence``): DiskFirst writes return once durable,
/// and open loads only each group's index of entries; MemFirst appends return once readable,
/// with durability reported separately by ``durableIndex(_:)`` and
/// ``waitUntilDurable(_:through:)``. docs/RAFT.md has the details.
///
/// Thread safety: every method may be called from any thread or task; reads are synchronous.
/// Writes to one group take effect in the order they are called.
public final class RaftLog: @unchecked Sendable {  // safe: `groupsLock` guards `groups`; each group has its own lock
    /// The configuration the store was opened with.
    public let configuration: RaftConfiguration
    let log: CommitLog
    /// Payloads of recent DiskFirst entries of every group (disabled in MemFirst).
    let cache: RaftEntryCache
    let metrics: RaftMetrics
    /// The largest payload of one entry (``RaftConfiguration/maxEntrySize`` or its default).
    let maxEntrySize: Int
    /// MemFirst only: gathers writes as the flush policy says and tracks what is durable.
    let flusher: RaftFlusher?

    private let groupsLock = ReadWriteLock()
    private var groups: [RaftGroupID: RaftGroup] = [:]  // guarded by groupsLock
    /// Per group id, the gate that serializes snapshot saves and removals: both create or
    /// delete files named by (group, index), which must not interleave. Kept by id, not on the
    /// group object, because removal replaces that object. Guarded by groupsLock.
    private var fileGates: [RaftGroupID: WriteGate] = [:]

    /// Builds the Raft log from what recovery rebuilt, then reconciles the snapshot files:
    /// every group's newest snapshot file must exist; files no group refers to (left by a
    /// crash between writing a file and its marker, or by a removed group) are deleted.
    init(log: CommitLog, configuration: RaftConfiguration, recovered: RaftRecovery) throws(StoreError) {
        self.log = log
        self.configuration = configuration
        maxEntrySize = configuration.effectiveMaxEntrySize(
            frameCapacity: StoreConfiguration.frameCapacity(segmentSize: log.configuration.segmentSize))
        cache = RaftEntryCache(capacityBytes: configuration.isMemFirst ? 0 : configuration.entryCacheBytes)
        metrics = RaftMetrics()
        if case .memFirst(let policy) = configuration.persistence {
            flusher = RaftFlusher(log: log, policy: policy, maxUnflushedBytes: configuration.maxUnflushedBytes)
        } else {
            flusher = nil
        }
        for (id, state) in recovered.states { groups[id] = RaftGroup(id: id, state: state) }
        try reconcileSnapshotFiles()
        flusher?.owner = self
    }

    private func reconcileSnapshotFiles() throws(StoreError) {
        let names: [String]
        do { names = try log.fileNames() } catch { throw StoreError(error) }
        var referenced = Set<String>()
        for (id, group) in groups {
            guard let marker = group.state.snapshot else { continue }
            let name = marker.fileName(group: id)
            guard names.contains(name) else {
                throw StoreError(
                    kind: .corrupt,
                    message: "group \(id) has a snapshot at index \(marker.index) but its file is missing",
                    path: log.directory + "/snapshots/" + name)
            }
            referenced.insert(name)
        }
        // A read-only open leaves them (a live writer may be saving one whose marker is not durable yet).
        guard !log.configuration.readOnly else { return }
        for name in names where RaftSnapshotFile.parse(name: name) != nil && !referenced.contains(name) {
            do { try log.removeFile(named: name) } catch { throw StoreError(error) }
        }
    }

    // MARK: - groups

    /// The groups that hold any state (entries, hard state or a snapshot), in order.
    public var groupIDs: [RaftGroupID] {
        let all = groupsLock.withReadLock { Array(groups.values) }
        // A write that turned out a no-op may have created an empty group object: not a group.
        return all.filter { g in g.lock.withReadLock { !g.state.isEmpty } }.map(\.id).sorted()
    }

    /// The group object of `id`, if it exists.
    func existing(_ id: RaftGroupID) -> RaftGroup? { groupsLock.withReadLock { groups[id] } }

    /// The group object of `id`, created empty if needed.
    func group(_ id: RaftGroupID) -> RaftGroup {
        if let group = existing(id) { return group }
        return groupsLock.withWriteLock {
            if let group = groups[id] { return group }
            let group = RaftGroup(id: id, state: RaftGroupState())
            groups[id] = group
            return group
        }
    }

    /// Runs `body` while holding the group's file gate (see `fileGates`).
    func withFileGate<T>(_ id: RaftGroupID, _ body: () async throws(StoreError) -> T) async throws(StoreError) -> T {
        let gate = groupsLock.withWriteLock { () -> WriteGate in
            if let gate = fileGates[id] { return gate }
            let gate = WriteGate()
            fileGates[id] = gate
            return gate
        }
        await gate.enter()
        defer { gate.leave() }
        return try await body()
    }

    /// Forgets `group` (after its removal record is durable, or at once in MemFirst).
    func forget(_ group: RaftGroup) {
        groupsLock.withWriteLock {
            if groups[group.id] === group { groups[group.id] = nil }
        }
    }

    /// A consistent copy of one group's state, or the empty state.
    func state(of id: RaftGroupID) -> RaftGroupState {
        guard let group = existing(id) else { return RaftGroupState() }
        return group.lock.withReadLock { group.state }
    }

    // MARK: - reads

    /// The index of the group's first retained entry (1 for a new group; after compaction or a
    /// snapshot, one past the last discarded entry).
    public func firstIndex(_ group: RaftGroupID) -> UInt64 {
        guard let g = existing(group) else { return 1 }
        return g.lock.withReadLock { g.state.firstIndex }
    }

    /// The index of the group's last entry (`firstIndex - 1` when it retains none).
    public func lastIndex(_ group: RaftGroupID) -> UInt64 {
        guard let g = existing(group) else { return 0 }
        return g.lock.withReadLock { g.state.lastIndex }
    }

    /// The group's last saved hard state (zero if it never saved one). In MemFirst this may not
    /// be durable yet: see ``durableHardState(_:)``.
    public func hardState(_ group: RaftGroupID) -> RaftHardState {
        guard let g = existing(group) else { return RaftHardState() }
        return g.lock.withReadLock { g.state.hardState }
    }

    /// The term of entry `index`: for `firstIndex - 1` the term of the snapshot or truncation
    /// that discarded it.
    ///
    /// - Throws: ``StoreError/Kind/compacted`` for an index before `firstIndex - 1`;
    ///   ``StoreError/Kind/unavailable`` for one past ``lastIndex(_:)``.
    public func term(_ group: RaftGroupID, _ index: UInt64) throws(StoreError) -> UInt64 {
        let state = existing(group).map { g in g.lock.withReadLock { (g.state.firstIndex, g.state.lastIndex, g.state.term(at: index)) } }
        let (first, last, term) = state ?? (1, 0, index == 0 ? 0 : nil)
        if let term { return term }
        if index < first - 1 { throw Self.compacted(group, index, first: first) }
        throw StoreError(kind: .unavailable, message: "group \(group) has no entry \(index): its last index is \(last)")
    }

    /// Entry `index` of the group.
    ///
    /// - Throws: ``StoreError/Kind/compacted``, ``StoreError/Kind/unavailable`` as
    ///   ``entries(_:_:maxBytes:)``; ``StoreError/Kind/corrupt`` if its bytes fail their checksum.
    public func entry(_ group: RaftGroupID, _ index: UInt64) throws(StoreError) -> RaftEntry {
        guard index < .max else {
            throw StoreError(kind: .unavailable, message: "group \(group) has no entry \(index)")
        }
        return try entries(group, index..<index + 1)[0]
    }

    /// The entries `range` of the group, in order, as many as fit in `maxBytes` of payload but
    /// always at least one when the range is not empty.
    ///
    /// - Throws: ``StoreError/Kind/compacted`` when `range` starts before ``firstIndex(_:)``;
    ///   ``StoreError/Kind/unavailable`` when it ends past ``lastIndex(_:)`` + 1;
    ///   ``StoreError/Kind/corrupt`` (naming segment and offset) if stored bytes fail their
    ///   checksum: never wrong bytes.
    public func entries(_ group: RaftGroupID, _ range: Range<UInt64>, maxBytes: Int = .max) throws(StoreError) -> [RaftEntry] {
        let start = ContinuousClock.now
        do {
            let result = try readEntries(group, range, maxBytes: maxBytes)
            metrics.record(
                .read, nanoseconds: start.nanosecondsElapsed, entries: result.count,
                bytes: result.reduce(0) { $0 + $1.payload.count })
            return result
        } catch {
            metrics.recordError(.read, kind: error.kind)
            throw error
        }
    }

    private func readEntries(_ id: RaftGroupID, _ range: Range<UInt64>, maxBytes: Int) throws(StoreError) -> [RaftEntry] {
        guard let group = existing(id) else {
            if range.isEmpty && range.lowerBound >= 1 { return [] }
            if range.lowerBound < 1 { throw Self.compacted(id, range.lowerBound, first: 1) }
            throw StoreError(kind: .unavailable, message: "group \(id) has no entries (asked for \(range))")
        }
        // Under the lock: check the range and copy the metadata of what to return (and, for a
        // DiskFirst miss, of what to prefetch); the reads from the log happen after.
        var wanted: [(index: UInt64, meta: RaftEntryMeta)] = []
        var following: [(index: UInt64, meta: RaftEntryMeta)] = []
        try group.lock.withReadLock { () throws(StoreError) in
            let state = group.state
            if range.lowerBound < state.firstIndex { throw Self.compacted(id, range.lowerBound, first: state.firstIndex) }
            if range.upperBound > state.lastIndex + 1 {
                throw StoreError(
                    kind: .unavailable,
                    message: "group \(id) has entries up to \(state.lastIndex), not up to \(range.upperBound - 1)")
            }
            var total = 0
            for index in range {
                let meta = state.meta(at: index)
                if !wanted.isEmpty && total + Int(meta.payloadLength) > maxBytes { break }
                total += Int(meta.payloadLength)
                wanted.append((index, meta))
            }
            guard cache.isEnabled, configuration.prefetchEntries > 0, let last = wanted.last?.index else { return }
            var prefetched = 0
            var index = last + 1
            while index <= state.lastIndex && following.count < configuration.prefetchEntries && prefetched < configuration.prefetchBytes {
                let meta = state.meta(at: index)
                following.append((index, meta))
                prefetched += Int(meta.payloadLength)
                index += 1
            }
        }
        // DiskFirst entries carry no payload: look them all up at once (MemFirst ones all do).
        let cached = wanted.first?.meta.payload == nil
            ? cache.payloads(group.generation, for: wanted.lazy.map { (index: $0.index, term: $0.meta.term) }) : []
        var result: [RaftEntry] = []
        result.reserveCapacity(wanted.count)
        var read: [RaftEntry] = []  // what missed, then what was prefetched: for the cache
        var hits = 0
        var misses = 0
        defer { if hits + misses > 0 { metrics.recordCacheLookups(hits: hits, misses: misses) } }
        for (position, (index, meta)) in wanted.enumerated() {
            if let payload = meta.payload ?? (position < cached.count ? cached[position] : nil) {
                if meta.payload == nil { hits += 1 }
                result.append(RaftEntry(index: index, term: meta.term, payload: payload))
                continue
            }
            guard let location = meta.location else {
                throw StoreError(kind: .corrupt, message: "group \(id) entry \(index) has neither payload nor location")
            }
            misses += 1
            let entry = RaftEntry(index: index, term: meta.term, payload: try readPayload(id, index: index, term: meta.term, at: location))
            read.append(entry)
            result.append(entry)
        }
        guard !read.isEmpty else { return result }
        // What missed goes to the cache even if reading the following entries fails.
        defer { cache.fill(group.generation, read) }
        try prefetch(id, following, into: &read)
        return result
    }

    /// Reads entries that follow a miss, for the cache (a Raft leader reads forward).
    private func prefetch(
        _ id: RaftGroupID, _ entries: [(index: UInt64, meta: RaftEntryMeta)], into read: inout [RaftEntry]
    ) throws(StoreError) {
        for (index, meta) in entries {
            // A miss suggests the entries after it are not cached either: read them without
            // looking (a lookup would count as a miss the caller never had).
            guard let location = meta.location else { continue }
            read.append(RaftEntry(index: index, term: meta.term, payload: try readPayload(id, index: index, term: meta.term, at: location)))
        }
    }

    /// Reads and checks the entry record at `location`.
    private func readPayload(_ id: RaftGroupID, index: UInt64, term: UInt64, at location: RecordLocation) throws(StoreError) -> [UInt8] {
        let key = RaftRecord.entryKey(id, index: index, term: term)
        let cLocation = ls_location(segment_seq: location.segment, offset: location.offset, item: location.item)
        let payload: [UInt8]?
        do {
            payload = try log.read(at: cLocation) { record -> [UInt8]? in
                // The index and the log must agree on what is there; never return another entry's bytes.
                guard record.type == RecordType.raftEntry.rawValue, Int(record.key_len) == key.count,
                    key.withUnsafeBytes({ memcmp($0.baseAddress!, record.key, key.count) == 0 })
                else { return nil }
                return Array(UnsafeBufferPointer(start: record.value, count: Int(record.value_len)))
            }
        } catch {
            throw StoreError(error)
        }
        guard let payload else {
            throw StoreError(
                kind: .corrupt,
                message: "the record at segment \(location.segment) offset \(location.offset) is not entry \(index) of group \(id)",
                offset: location.offset)
        }
        return payload
    }

    // MARK: - durability (MemFirst)

    /// The highest index `d` such that the group's entries up to `d`, as visible now, are
    /// durable. A Raft library may report entries up to `d` as persisted; never more. In
    /// DiskFirst this is ``lastIndex(_:)`` (every acknowledged entry is durable).
    public func durableIndex(_ group: RaftGroupID) -> UInt64 {
        guard let g = existing(group) else { return 0 }
        return g.lock.withReadLock { flusher == nil ? g.state.lastIndex : g.durableIndex }
    }

    /// The group's newest durable hard state (in DiskFirst, ``hardState(_:)``).
    public func durableHardState(_ group: RaftGroupID) -> RaftHardState {
        guard let g = existing(group) else { return RaftHardState() }
        return g.lock.withReadLock { flusher == nil ? g.state.hardState : g.durableHardState }
    }

    /// Returns once ``durableIndex(_:)`` of the group is at least `index` (at once in DiskFirst,
    /// or when it already is). Queued MemFirst writes are handed to the log first, whatever the
    /// flush policy, so this never waits for a timer.
    ///
    /// - Throws: ``StoreError/Kind/unavailable`` if `index` is past ``lastIndex(_:)``;
    ///   ``StoreError/Kind/outcomeUnknown`` or ``StoreError/Kind/failed`` if the store failed
    ///   before the entries became durable.
    public func waitUntilDurable(_ group: RaftGroupID, through index: UInt64) async throws(StoreError) {
        guard let flusher, let g = existing(group) else {
            if index > lastIndex(group) {
                throw StoreError(kind: .unavailable, message: "group \(group) has entries up to \(lastIndex(group)), not \(index)")
            }
            return
        }
        flusher.flushNow()  // queued writes must move for the watermark to reach `index`
        let result: Result<Void, StoreError> = await withCompletionContinuation { continuation in
            let immediate = g.lock.withWriteLock { () -> Result<Void, StoreError>? in
                if index > g.state.lastIndex {
                    return .failure(StoreError(kind: .unavailable, message: "group \(group) has entries up to \(g.state.lastIndex), not \(index)"))
                }
                if g.durableIndex >= index { return .success(()) }
                if let failure = flusher.failure { return .failure(failure) }
                g.durableWaiters.append((index, continuation))
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
        try result.get()
    }

    /// MemFirst: hands every queued write to the log and returns once all writes made before
    /// this call are durable. DiskFirst: returns at once.
    ///
    /// - Throws: ``StoreError/Kind/outcomeUnknown`` or ``StoreError/Kind/failed`` if the store failed.
    public func flush() async throws(StoreError) {
        try await flusher?.flushAndWait()
    }

    /// The metrics since open: counts, latencies, bytes, cache, fsyncs and batch sizes.
    public var metricsSnapshot: RaftMetricsSnapshot { metrics.snapshot(log: log.statistics) }

    static func compacted(_ group: RaftGroupID, _ index: UInt64, first: UInt64) -> StoreError {
        StoreError(kind: .compacted, message: "group \(group) entry \(index) is compacted: the first index is \(first)")
    }
}

extension RaftConfiguration {
    var isMemFirst: Bool {
        if case .memFirst = persistence { return true }
        return false
    }
}

extension ContinuousClock.Instant {
    /// Nanoseconds from this instant to now.
    var nanosecondsElapsed: UInt64 {
        let elapsed = ContinuousClock.now - self
        return UInt64(max(0, elapsed.components.seconds)) * 1_000_000_000 + UInt64(max(0, elapsed.components.attoseconds) / 1_000_000_000)
    }
}
