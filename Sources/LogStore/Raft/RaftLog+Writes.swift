import CLogStore

extension RaftLog {
    // MARK: - public writes

    /// Appends `entries` (consecutive indexes) to the group's log and, when given, saves
    /// `hardState`, as one atomic write: after a crash both survive or neither does. Entries
    /// that overlap the log replace it from the first one's index on (the conflicting suffix);
    /// entries before ``firstIndex(_:)`` are ignored (already compacted), as etcd does.
    ///
    /// DiskFirst: returns once durable. MemFirst: returns once readable (see
    /// ``durableIndex(_:)``), waiting first while more than
    /// ``RaftConfiguration/maxUnflushedBytes`` are not yet durable.
    ///
    /// - Throws: ``StoreError/Kind/outOfOrder`` when the indexes are not consecutive, would
    ///   leave a gap after ``lastIndex(_:)``, or terms go down; ``StoreError/Kind/valueTooLarge``
    ///   for a payload over ``RaftConfiguration/maxEntrySize``; ``StoreError/Kind/tooLarge`` when
    ///   the write does not fit one commit; ``StoreError/Kind/outcomeUnknown``,
    ///   ``StoreError/Kind/failed``, ``StoreError/Kind/noSpace`` or ``StoreError/Kind/closed``
    ///   as for key-value writes. Nothing is written when it throws for bad input.
    public func append(_ group: RaftGroupID, _ entries: [RaftEntry], hardState: RaftHardState? = nil) async throws(StoreError) {
        try checkShape(group, entries)
        let bytes = entries.reduce(0) { $0 + $1.payload.count }
        try await perform(.append, group, entries: entries.count, bytes: bytes) { state throws(StoreError) in
            var mutations: [RaftMutation] = []
            let kept = try Self.entriesToWrite(group, entries, state: state)
            if !kept.isEmpty { mutations.append(.entries(kept)) }
            if let hardState { mutations.append(.hardState(hardState)) }
            return mutations
        }
        if !entries.isEmpty { metrics.recordBatch(entries: entries.count) }
    }

    /// Saves the group's hard state (term, vote, commit); DiskFirst returns once durable.
    ///
    /// - Throws: as ``append(_:_:hardState:)``.
    public func saveHardState(_ group: RaftGroupID, _ hardState: RaftHardState) async throws(StoreError) {
        try await perform(.hardState, group, entries: 0, bytes: 0) { _ in [.hardState(hardState)] }
    }

    /// Discards the group's entries before `index`, which becomes the first index (compaction;
    /// etcd's `Compact(index - 1)`). The term of `index - 1` stays answerable. A record in the
    /// log, not a rewrite of files; the space returns when segments are reclaimed. `index`
    /// equal to ``firstIndex(_:)`` is a no-op.
    ///
    /// - Throws: ``StoreError/Kind/compacted`` if `index` is below ``firstIndex(_:)``;
    ///   ``StoreError/Kind/unavailable`` if it is past ``lastIndex(_:)`` + 1; otherwise as
    ///   ``append(_:_:hardState:)``.
    public func truncatePrefix(_ group: RaftGroupID, upTo index: UInt64) async throws(StoreError) {
        try await perform(.truncatePrefix, group, entries: 0, bytes: 0) { state throws(StoreError) in
            if index == state.firstIndex { return [] }
            if index < state.firstIndex { throw Self.compacted(group, index, first: state.firstIndex) }
            guard index <= state.lastIndex + 1, let previousTerm = state.term(at: index - 1) else {
                throw StoreError(
                    kind: .unavailable,
                    message: "cannot truncate group \(group) up to \(index): its last index is \(state.lastIndex)")
            }
            return [.truncatePrefix(firstIndex: index, previousTerm: previousTerm)]
        }
    }

    /// Discards the group's entries after `index` (a conflicting suffix). `index` at or past
    /// ``lastIndex(_:)`` is a no-op.
    ///
    /// - Throws: ``StoreError/Kind/compacted`` if `index` is below ``firstIndex(_:)`` - 1
    ///   (those entries are gone already); otherwise as ``append(_:_:hardState:)``.
    public func truncateSuffix(_ group: RaftGroupID, after index: UInt64) async throws(StoreError) {
        try await perform(.truncateSuffix, group, entries: 0, bytes: 0) { state throws(StoreError) in
            if index >= state.lastIndex { return [] }
            if index < state.firstIndex - 1 { throw Self.compacted(group, index, first: state.firstIndex) }
            return [.truncateSuffix(lastIndex: index)]
        }
    }

    /// Removes the group: its entries, hard state and snapshot become garbage, and it reads as a
    /// new, empty group afterwards. Returns once the removal is durable (in MemFirst too); the
    /// snapshot file is deleted then, best effort (a failed deletion is not reported: the removal
    /// is durable, and the next open deletes files no marker refers to).
    ///
    /// - Throws: as ``append(_:_:hardState:)``.
    public func removeGroup(_ group: RaftGroupID) async throws(StoreError) {
        try await withFileGate(group) { () throws(StoreError) in
            // Under the file gate no snapshot save of the group runs, so this is the file to delete.
            let snapshot = existing(group).flatMap { g in g.lock.withReadLock { g.state.snapshot } }
            guard existing(group) != nil else { return }
            try await perform(.removeGroup, group, entries: 0, bytes: 0, durable: true) { _ in [.removeGroup] }
            // Durable and applied: the removal succeeded whatever the deletion does (see saveSnapshot).
            if let snapshot { try? deleteSnapshotFile(snapshot.fileName(group: group)) }
        }
    }

    // MARK: - the write path

    /// Plans a write against the group's current state (`plan` returns its mutations; none
    /// means nothing to do), queues it and waits as the persistence mode says (or until
    /// durable, with `durable`).
    func perform(
        _ operation: RaftOperation, _ id: RaftGroupID, entries: Int, bytes: Int, durable: Bool = false,
        plan: (RaftGroupState) throws(StoreError) -> [RaftMutation]
    ) async throws(StoreError) {
        let start = ContinuousClock.now
        do throws(StoreError) {
            if log.configuration.readOnly { throw StoreError.openedReadOnly(log.directory) }
            if let flusher {
                try await performMemFirst(id, bytes: bytes, flusher: flusher, durable: durable, plan: plan)
            } else {
                try await performDiskFirst(id, plan: plan)
            }
            metrics.record(operation, nanoseconds: start.nanosecondsElapsed, entries: entries, bytes: bytes)
        } catch {
            metrics.recordError(operation, kind: error.kind)
            throw error
        }
    }

    /// DiskFirst: one write of a group at a time (its gate), validated against the acknowledged
    /// state, applied to it once durable.
    private func performDiskFirst(_ id: RaftGroupID, plan: (RaftGroupState) throws(StoreError) -> [RaftMutation]) async throws(StoreError) {
        while true {
            let group = group(id)
            await group.gate.enter()
            let outcome = await attemptDiskFirst(group, plan: plan)
            group.gate.leave()
            if try outcome.get() { return }
        }
    }

    /// One DiskFirst attempt, with the group's gate held: false if the group was removed
    /// meanwhile (retry on the new group object).
    private func attemptDiskFirst(
        _ group: RaftGroup, plan: (RaftGroupState) throws(StoreError) -> [RaftMutation]
    ) async -> Result<Bool, StoreError> {
        let planned = group.lock.withReadLock { () -> Result<[RaftMutation], StoreError>? in
            if group.removed { return nil }
            do throws(StoreError) { return .success(try plan(group.state)) } catch { return .failure(error) }
        }
        guard let planned else { return .success(false) }
        do throws(StoreError) {
            let mutations = try planned.get()
            if !mutations.isEmpty { try await write(group, mutations) }
            return .success(true)
        } catch {
            return .failure(error)
        }
    }

    /// MemFirst: applied to the visible state and queued under the group's lock (so queue
    /// order is the order of the state changes); durable later.
    private func performMemFirst(
        _ id: RaftGroupID, bytes: Int, flusher: RaftFlusher, durable: Bool,
        plan: (RaftGroupState) throws(StoreError) -> [RaftMutation]
    ) async throws(StoreError) {
        try await flusher.reserve(bytes)
        while true {
            let group = group(id)
            let outcome = group.lock.withWriteLock { () -> Result<UInt64?, StoreError>? in
                if group.removed { return nil }
                do throws(StoreError) {
                    let mutations = try plan(group.state)
                    if mutations.isEmpty { return .success(nil) }
                    let batch = RaftRecordBatch(encoding: CollectionOfOne((group: id, mutations: mutations)))
                    // Refused before it becomes visible: a write the log cannot take would fail the flusher.
                    if batch.encodedSize > flusher.frameCapacity {
                        throw StoreError(
                            kind: .tooLarge,
                            message: "group \(id): a write of \(batch.encodedSize) encoded bytes exceeds \(flusher.frameCapacity) (what one frame in a segment can hold; raise the segment size)")
                    }
                    let firstChanged = mutations.map(\.firstChangedIndex).min() ?? .max
                    group.state.apply(mutations, locations: nil, keepPayloads: true)
                    if mutations.contains(where: \.isRemoveGroup) {
                        group.removed = true
                    }
                    group.queued(.init(firstChanged: firstChanged, lastIndex: group.state.lastIndex, hardState: group.state.hardState))
                    return .success(flusher.submit(batch, group: group, bytes: bytes))
                } catch {
                    return .failure(error)
                }
            }
            guard let outcome else { continue }  // removed meanwhile: retry on the new group
            let ticket: UInt64?
            do throws(StoreError) { ticket = try outcome.get() } catch {
                flusher.release(bytes)
                throw error
            }
            guard let ticket else {
                flusher.release(bytes)
                return
            }
            if group.lock.withReadLock({ group.removed }) {
                forget(group)
                for waiter in group.lock.withWriteLock({ group.takeAllWaiters() }) {
                    waiter.resume(returning: .failure(StoreError(kind: .invalidArgument, message: "group \(id) was removed")))
                }
            }
            if durable { try await flusher.wait(for: ticket) }
            return
        }
    }

    /// Queues one DiskFirst write of `mutations` of `group` as one atomic append and returns once
    /// durable and applied to the group's state.
    func write(_ group: RaftGroup, _ mutations: [RaftMutation]) async throws(StoreError) {
        let batch = RaftRecordBatch(encoding: CollectionOfOne((group: group.id, mutations: mutations)))
        let result: Result<Void, StoreError> = await withCompletionContinuation { continuation in
            let waiter = DiskFirstWaiter(raft: self, group: group, mutations: mutations, batch: batch, continuation: continuation)
            if let error = log.enqueue(count: batch.count, waiter: waiter, batch.withCRecords) {
                continuation.resume(returning: .failure(StoreError(error)))
            } else {
                // Write-through while the writer writes and syncs (a leader reads back what it
                // just appended). No reader asks for these entries before the write is applied
                // to the group's state; if it fails, lookups name the terms the state still
                // lists, so the cached ones are not served for them.
                cacheWrittenEntries(group, mutations)
            }
        }
        try result.get()
    }

    /// Writes the entries of `mutations` of `group` through to the entry cache, each append as one run.
    private func cacheWrittenEntries(_ group: RaftGroup, _ mutations: [RaftMutation]) {
        guard cache.isEnabled else { return }
        for case .entries(let entries) in mutations { cache.writeThrough(group.generation, entries) }
    }

    /// A DiskFirst write of `group` is durable: applies it, with where each record landed, to the
    /// group's state (completing thread, LSN order), and calls `acknowledge` (which resumes the
    /// writer).
    ///
    /// For appends and hard states, `acknowledge` runs first, with the group's lock already held
    /// for the update: the writer's task takes tens of microseconds to be scheduled, and now
    /// overlaps the update instead of following it. Nothing can observe the write before it is
    /// applied: every read of the group's state (the writer's next write included) takes that
    /// lock. Writes that discard entries or remove the group also change the entry cache and the
    /// group table after the lock; they acknowledge last.
    fileprivate func applyDurable(
        _ group: RaftGroup, _ mutations: [RaftMutation], batch: RaftRecordBatch, result: borrowing ls_append_result,
        acknowledge: () -> Void
    ) {
        let removesGroup = mutations.last?.isRemoveGroup == true
        let acknowledgeFirst = !removesGroup && !mutations.contains(where: \.discardsEntries)
        let (segment, start, inContainer) = (result.segment_seq, result.offset, result.in_container != 0)
        let retained = group.lock.withWriteLock { () -> Range<UInt64> in
            if acknowledgeFirst { acknowledge() }
            // Where each record landed: after the acknowledgement, which it does not need.
            var locations: [RecordLocation] = []
            locations.reserveCapacity(batch.count)
            var offset = start
            for i in 0..<batch.count {
                locations.append(RecordLocation(segment: segment, offset: offset, item: inContainer ? UInt32(i) : RecordLocation.plain))
                if !inContainer { offset += batch.encodedSize(of: i) }
            }
            group.state.apply(mutations, locations: locations[...], keepPayloads: false)
            if removesGroup { group.removed = true }
            return group.state.firstIndex..<group.state.lastIndex &+ 1
        }
        if removesGroup {
            forget(group)
            cache.removeGroup(group.generation)
        } else if mutations.contains(where: \.discardsEntries) {
            // Only memory: a lookup names the term the state lists, so nothing stale is served.
            cache.retain(group.generation, retained)
        }
        if !acknowledgeFirst { acknowledge() }
    }

    // MARK: - validation

    /// Refuses entries that no state could accept: index 0, indexes not consecutive, terms
    /// going down, payloads over the bound.
    private func checkShape(_ group: RaftGroupID, _ entries: [RaftEntry]) throws(StoreError) {
        guard let first = entries.first else { return }
        guard first.index >= 1 else {
            throw StoreError(kind: .invalidArgument, message: "group \(group): entry indexes start at 1, not 0")
        }
        for (i, entry) in entries.enumerated() {
            if entry.payload.count > maxEntrySize {
                throw StoreError(
                    kind: .valueTooLarge,
                    message: "group \(group) entry \(entry.index): payload of \(entry.payload.count) bytes exceeds maxEntrySize \(maxEntrySize)")
            }
            guard i > 0 else { continue }
            let previous = entries[i - 1]
            if entry.index != previous.index &+ 1 {
                throw StoreError(
                    kind: .outOfOrder, message: "group \(group): entry \(entry.index) follows entry \(previous.index) in one append")
            }
            if entry.term < previous.term {
                throw StoreError(
                    kind: .outOfOrder,
                    message: "group \(group): entry \(entry.index) has term \(entry.term), below the \(previous.term) of the entry before it")
            }
        }
    }

    /// The entries of an append that the log takes: those before the first index are dropped
    /// (compacted, as etcd does); the rest must start at most one past the last index, with a
    /// term no lower than the entry before them.
    static func entriesToWrite(_ group: RaftGroupID, _ entries: [RaftEntry], state: RaftGroupState) throws(StoreError) -> [RaftEntry] {
        guard let first = entries.first, let last = entries.last, last.index >= state.firstIndex else { return [] }
        let kept = first.index >= state.firstIndex ? entries : Array(entries[Int(state.firstIndex - first.index)...])
        let start = kept[0].index
        if start > state.lastIndex + 1 {
            throw StoreError(
                kind: .outOfOrder,
                message: "group \(group): entry \(start) would leave a gap after the last index \(state.lastIndex)")
        }
        if let previousTerm = state.term(at: start - 1), kept[0].term < previousTerm {
            throw StoreError(
                kind: .outOfOrder,
                message: "group \(group): entry \(start) has term \(kept[0].term), below the \(previousTerm) of entry \(start - 1)")
        }
        return kept
    }
}

/// Completes one DiskFirst write on the log's completing thread: the group's state first, then the caller.
private final class DiskFirstWaiter: AppendWaiter {
    let raft: RaftLog
    let group: RaftGroup
    let mutations: [RaftMutation]
    let batch: RaftRecordBatch
    let continuation: UnsafeContinuation<Result<Void, StoreError>, Never>

    init(raft: RaftLog, group: RaftGroup, mutations: [RaftMutation], batch: RaftRecordBatch,
         continuation: UnsafeContinuation<Result<Void, StoreError>, Never>) {
        self.raft = raft
        self.group = group
        self.mutations = mutations
        self.batch = batch
        self.continuation = continuation
    }

    override func complete(_ result: borrowing ls_append_result, directory: String) {
        if result.status == 0 {
            raft.applyDurable(group, mutations, batch: batch, result: result) { continuation.resume(returning: .success(())) }
        } else {
            continuation.resume(returning: .failure(StoreError(LogError(completion: result, directory: directory))))
        }
    }
}
