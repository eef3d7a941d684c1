extension RaftLog {
    /// Saves a snapshot of the group: its data goes to a file in `snapshots/` written
    /// atomically (tmp → fsync → rename → fsync dir), then a marker record goes to the log;
    /// returns once both are durable (in MemFirst too). If the log holds the snapshot's last
    /// entry with the same term, the entries stay (and, with
    /// ``RaftConfiguration/keepEntriesAfterSnapshot``, those before the last `n` are
    /// discarded); otherwise every entry is discarded and the log continues after the snapshot
    /// (a snapshot received from a leader). The previous snapshot file is then deleted, best
    /// effort: the save is durable and visible by then, so a failed deletion is not reported
    /// (the next open deletes files no marker refers to).
    ///
    /// - Throws: ``StoreError/Kind/snapshotOutOfDate`` if the snapshot is not newer than the
    ///   group's current one or is older than its first index - 1;
    ///   ``StoreError/Kind/invalidArgument`` for index 0 or a context over 64 KiB; otherwise as
    ///   ``append(_:_:hardState:)``, or ``StoreError/Kind/io`` if writing the file failed.
    public func saveSnapshot(_ group: RaftGroupID, _ snapshot: RaftSnapshot) async throws(StoreError) {
        let start = ContinuousClock.now
        do {
            try await withFileGate(group) { () throws(StoreError) in try await saveSnapshotUnmeasured(group, snapshot) }
            metrics.record(.saveSnapshot, nanoseconds: start.nanosecondsElapsed, bytes: snapshot.data.count)
        } catch {
            metrics.recordError(.saveSnapshot, kind: error.kind)
            throw error
        }
    }

    private func saveSnapshotUnmeasured(_ id: RaftGroupID, _ snapshot: RaftSnapshot) async throws(StoreError) {
        if log.configuration.readOnly { throw StoreError.openedReadOnly(log.directory) }
        let metadata = snapshot.metadata
        guard metadata.index >= 1 else {
            throw StoreError(kind: .invalidArgument, message: "group \(id): a snapshot covers at least entry 1, not index 0")
        }
        guard metadata.context.count <= RaftSnapshotFile.maxContextSize else {
            throw StoreError(
                kind: .invalidArgument,
                message: "group \(id): snapshot context of \(metadata.context.count) bytes exceeds \(RaftSnapshotFile.maxContextSize)")
        }
        try checkSnapshotIsNewer(id, metadata, state: state(of: id))
        let contents = RaftSnapshotFile.encode(snapshot, group: id)
        let marker = RaftSnapshotFile.marker(for: contents, index: metadata.index, term: metadata.term)
        let name = marker.fileName(group: id)
        do { try log.writeFile(named: name, bytes: contents) } catch { throw StoreError(error) }
        var previous: RaftSnapshotMarker?
        do {
            try await perform(.saveSnapshot, id, entries: 0, bytes: 0, durable: true) { state throws(StoreError) in
                // Checked again: the group may have changed while the file was written.
                try self.checkSnapshotIsNewer(id, metadata, state: state)
                previous = state.snapshot
                var after = state
                after.applySnapshot(marker)
                var mutations: [RaftMutation] = [.snapshot(marker)]
                if let keep = self.configuration.keepEntriesAfterSnapshot, metadata.index + 1 > UInt64(keep) {
                    let newFirst = metadata.index + 1 - UInt64(keep)
                    if newFirst > after.firstIndex, let term = after.term(at: newFirst - 1) {
                        mutations.append(.truncatePrefix(firstIndex: newFirst, previousTerm: term))
                    }
                }
                return mutations
            }
        } catch {
            // The marker is not in the log (or its outcome is unknown): an unreferenced file is
            // deleted by the next open anyway, so only a clean refusal deletes it now.
            if error.kind == .snapshotOutOfDate { try? deleteSnapshotFile(name) }
            throw error
        }
        // The marker is durable and applied: the save succeeded. Throwing now (the unlink or the
        // directory fsync failed, or the log failed meanwhile) would report a durable, visible
        // snapshot as failed. A file left behind is unreferenced, and the next open deletes it.
        if let previous, previous.index != metadata.index { try? deleteSnapshotFile(previous.fileName(group: id)) }
    }

    private func checkSnapshotIsNewer(_ id: RaftGroupID, _ metadata: RaftSnapshotMetadata, state: RaftGroupState) throws(StoreError) {
        let current = state.snapshot?.index ?? 0
        if metadata.index <= current {
            throw StoreError(
                kind: .snapshotOutOfDate,
                message: "group \(id): snapshot at \(metadata.index) is not newer than the current one at \(current)")
        }
        if metadata.index < state.firstIndex - 1 {
            throw StoreError(
                kind: .snapshotOutOfDate,
                message: "group \(id): snapshot at \(metadata.index) is older than the compacted prefix (first index \(state.firstIndex))")
        }
    }

    /// The group's newest snapshot, read from its file and verified, or nil if it has none.
    ///
    /// - Throws: ``StoreError/Kind/corrupt`` naming the file if it fails its checksum or does
    ///   not match the marker record; ``StoreError/Kind/io`` if reading failed.
    public func snapshot(_ group: RaftGroupID) throws(StoreError) -> RaftSnapshot? {
        let start = ContinuousClock.now
        guard let marker = state(of: group).snapshot else { return nil }
        let name = marker.fileName(group: group)
        let path = log.directory + "/snapshots/" + name
        do throws(StoreError) {
            let contents: [UInt8]?
            do { contents = try log.readFile(named: name) } catch { throw StoreError(error) }
            guard let contents else {
                // Deleted since the state was read means a newer snapshot replaced it: read that.
                if state(of: group).snapshot != marker { return try snapshot(group) }
                throw StoreError(kind: .corrupt, message: "group \(group): the snapshot file is missing", path: path)
            }
            let snapshot = try RaftSnapshotFile.decode(contents, group: group, marker: marker, path: path)
            metrics.record(.loadSnapshot, nanoseconds: start.nanosecondsElapsed, bytes: snapshot.data.count)
            return snapshot
        } catch {
            metrics.recordError(.loadSnapshot, kind: error.kind)
            throw error
        }
    }

    /// What the group holds, for tools: indexes, hard states, snapshot, sizes; nil for a group
    /// without state.
    public func info(_ group: RaftGroupID) -> RaftGroupInfo? {
        guard let g = existing(group) else { return nil }
        return g.lock.withReadLock { () -> RaftGroupInfo? in
            let state = g.state
            // A write that turned out a no-op or was refused may have created an empty group object.
            if state.isEmpty { return nil }
            var bytes = 0
            for position in 0..<state.entries.count { bytes += Int(state.entries[position].payloadLength) }
            return RaftGroupInfo(
                group: group, firstIndex: state.firstIndex, lastIndex: state.lastIndex, hardState: state.hardState,
                durableIndex: flusher == nil ? state.lastIndex : g.durableIndex,
                snapshotIndex: state.snapshot?.index, snapshotTerm: state.snapshot?.term, entryBytes: bytes,
                memoryBytes: state.memoryBytes)
        }
    }

    /// Deletes a snapshot file no marker refers to any more.
    func deleteSnapshotFile(_ name: String) throws(StoreError) {
        do { try log.removeFile(named: name) } catch { throw StoreError(error) }
    }
}

/// A summary of one Raft group (``RaftLog/info(_:)``).
public struct RaftGroupInfo: Sendable, Equatable {
    /// The group.
    public let group: RaftGroupID
    /// Its first retained entry.
    public let firstIndex: UInt64
    /// Its last entry (`firstIndex - 1` when none is retained).
    public let lastIndex: UInt64
    /// Its hard state.
    public let hardState: RaftHardState
    /// The highest index known durable (MemFirst may lag ``lastIndex``).
    public let durableIndex: UInt64
    /// The newest snapshot's index, if any.
    public let snapshotIndex: UInt64?
    /// The newest snapshot's term, if any.
    public let snapshotTerm: UInt64?
    /// Payload bytes of the retained entries.
    public let entryBytes: Int
    /// Payload bytes held in memory (MemFirst).
    public let memoryBytes: Int
}
