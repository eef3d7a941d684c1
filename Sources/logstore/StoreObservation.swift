import LogStore

/// What a store holds of the stress workload's state, read through the public API: every key
/// of the `stress-` namespaces (and any other namespaces asked for) and every Raft group.
/// `logstore stress` prints it as its BASE lines at start; `logstore check` compares it with
/// what the ACK stream says must be there.
struct StoreObservation: Sendable {
    /// The prefix of the namespaces the stress workload writes.
    static let namespacePrefix = "stress-"

    /// The highest durable LSN right after open: the end of the recovered log.
    var horizon: UInt64 = 0
    /// Every key present, with its version and value identity.
    var keys: [StressKey: (version: UInt64, value: ContentID)] = [:]
    /// Every Raft group with state.
    var groups: [UInt64: ObservedGroup] = [:]
    /// Disagreements between the store's own views (listing versus get), as sentences.
    var anomalies: [String] = []

    /// An empty observation (a store before its first run).
    init() {}

    /// Reads `store`: the keys of every namespace whose name starts with ``namespacePrefix``
    /// or is in `alsoNamespaces`, reading each value (which verifies its checksum); each Raft
    /// group's indexes, hard state, snapshot (read and verified) and entries.
    ///
    /// - Throws: ``StoreError`` when a read fails (a checksum mismatch is `corrupt`, naming
    ///   segment and offset).
    init(_ store: Store, alsoNamespaces: Set<String> = []) throws(StoreError) {
        horizon = store.statistics.log.durableLSN
        var names = Set(store.namespaceNames.map(\.name).filter { $0.hasPrefix(Self.namespacePrefix) })
        names.formUnion(alsoNamespaces)
        for name in names.sorted() {
            let namespace = try Namespace(name)
            var after: [UInt8]? = nil
            repeat {
                let page = try store.list(in: namespace, after: after, limit: 1000)
                for entry in page.entries {
                    let key = StressKey(namespace: name, key: entry.key)
                    guard let value = try store.get(entry.key, in: namespace) else {
                        anomalies.append("key \(key) is listed (version \(entry.version.lsn)) but get finds nothing")
                        continue
                    }
                    if value.version != entry.version || value.value.count != entry.valueLength {
                        anomalies.append(
                            "key \(key): listing says version \(entry.version.lsn), \(entry.valueLength) bytes; get says version \(value.version.lsn), \(value.value.count) bytes")
                    }
                    keys[key] = (value.version.lsn, ContentID(of: value.value))
                }
                after = page.resumeAfter
            } while after != nil
        }
        let raft = store.raft
        for id in raft.groupIDs.sorted() {
            guard let info = raft.info(id) else { continue }
            var group = ObservedGroup(group: id.rawValue)
            group.firstIndex = info.firstIndex
            group.hardState = info.hardState
            group.previousTerm = try raft.term(id, info.firstIndex - 1)
            if let snapshot = try raft.snapshot(id) {
                group.snapshot = (snapshot.metadata.index, snapshot.metadata.term, ContentID(of: snapshot.data))
            }
            var next = info.firstIndex
            while next <= info.lastIndex {
                let batch = try raft.entries(id, next..<min(info.lastIndex + 1, next + 512), maxBytes: 4 << 20)
                for entry in batch {
                    if entry.index != next {
                        anomalies.append("group \(id): entries(\(next)...) returned entry \(entry.index)")
                    }
                    group.entries.append((entry.term, ContentID(of: entry.payload)))
                    next += 1
                }
            }
            if let snapshotIndex = info.snapshotIndex, snapshotIndex != group.snapshot?.index {
                anomalies.append("group \(id): info says snapshot \(snapshotIndex), the snapshot read is at \(group.snapshot?.index ?? 0)")
            }
            groups[id.rawValue] = group
        }
    }

    /// The observation as BASE lines, ending with `BASE-END`.
    var baseLines: [AckLine] {
        var lines: [AckLine] = [.baseHorizon(horizon)]
        for key in keys.keys.sorted() {
            let (version, value) = keys[key]!
            lines.append(.baseKey(key, version: version, value))
        }
        var entries = 0
        for id in groups.keys.sorted() {
            lines.append(.baseGroup(groups[id]!))
            entries += groups[id]!.entries.count
        }
        lines.append(.baseEnd(keys: keys.count, groups: groups.count, entries: entries))
        return lines
    }
}
