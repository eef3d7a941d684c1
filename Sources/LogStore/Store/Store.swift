import CLogStore

/// A durable key-value store in namespaces, on one group-commit log.
///
/// **Durability.** Every write (``put(_:for:in:)``, ``delete(_:in:)``,
/// ``compareAndSwap(_:in:expected:newValue:)``, ``write(_:)``) returns only after its record
/// and an `fdatasync` covering it completed; concurrent writes, of every namespace, share
/// one write and one sync. After a crash, ``open(at:configuration:)`` recovers a prefix of
/// the commit order; a batch survives whole or not at all; deleted keys stay deleted.
///
/// **Visibility.** A write becomes visible to ``get(_:in:)`` and ``list(in:prefix:after:limit:)``
/// once it is durable, just before its caller resumes, and never before: readers see only
/// acknowledged state.
///
/// **Versions and compare-and-swap.** A value's ``Version`` is the LSN of the record that
/// wrote it. A conditional write (compare-and-swap, or a batch with conditions) is validated
/// under the store's write lock, in the order writes enter the log. If a condition's key
/// has a write in flight (queued, not yet durable), the conditional write waits for that
/// write to finish and then validates against the acknowledged state: it never succeeds
/// against a version that a write in flight is replacing, and never fails because of a write
/// that then fails. So compare-and-swap is linearizable per key with any number of writers.
///
/// **Failure.** A failed write or sync stops the store (fail-stop): that write throws
/// ``StoreError/Kind/outcomeUnknown``, later ones ``StoreError/Kind/failed`` (``failure``
/// says why); reads keep working; reopen the store to write again.
///
/// Thread safety: every method may be called from any thread or task concurrently; reads are
/// synchronous and never suspend.
public final class Store: @unchecked Sendable {  // safe: each mutable part has its own lock, noted at its declaration
    /// The store directory.
    public let path: String
    /// The configuration the store was opened with.
    public let configuration: StoreConfiguration
    /// What recovery found and did at open.
    public let recoveryReport: StoreRecoveryReport

    let log: CommitLog
    let index: StoreIndex
    let namespaces = NamespaceTable()
    /// The Raft log storage of this store: Raft groups share the store's log (and its group
    /// commits) with key-value writes.
    public let raft: RaftLog
    /// Values read by `get`, by record location (``StoreConfiguration/cacheBytes``). Has its own lock.
    let cache: ByteBoundedCache<RecordLocation, [UInt8]>
    /// Serializes validation and queueing of writes, so validation order is log order.
    private let writeLock = ReadWriteLock()
    /// Guards `pending`. Separate from `writeLock` because completions (on the log's writer
    /// thread) take it, and a writer holding `writeLock` can wait for the log (at close).
    private let pendingLock = ReadWriteLock()
    private var pending = PendingWrites<UnsafeContinuation<Attempt, Never>>()  // guarded by pendingLock

    /// Opens (creating if needed) the store at `path` and rebuilds its index from the log.
    ///
    /// - Throws: ``StoreError/Kind/busy`` when another process holds the store (the message
    ///   names its writer id); ``StoreError/Kind/corrupt`` (naming file and offset) for damage
    ///   the configured recovery mode does not repair; ``StoreError/Kind/invalidArgument`` for
    ///   a bad configuration; ``StoreError/Kind/io`` when a system call fails.
    public static func open(at path: String, configuration: StoreConfiguration = .init()) throws(StoreError) -> Store {
        try Store(path: path, configuration: configuration, io: nil)
    }

    /// Opens with an explicit I/O seam (tests pass a fault-injecting one; it is not owned).
    init(path: String, configuration: StoreConfiguration, io: UnsafeMutablePointer<ls_io>?) throws(StoreError) {
        try configuration.validate()
        self.path = path
        self.configuration = configuration
        cache = ByteBoundedCache(capacityBytes: configuration.cacheBytes)
        do {
            log = try CommitLog(directory: path, configuration: configuration.log, io: io)
        } catch {
            throw StoreError(error)
        }
        // Sized for the records to replay (each is at most one key), so the table is not
        // regrown and copied on the way; capped so a long history of overwrites of few keys
        // does not reserve memory for keys that do not exist.
        index = StoreIndex(expectedKeys: Int(min(log.recovery.records, 1 << 22)))
        do {
            let raftRecovery = RaftRecovery(keepPayloads: configuration.raft.isMemFirst)
            recoveryReport = try StoreRecovery.rebuild(log: log, index: index, namespaces: namespaces, raft: raftRecovery)
            raft = try RaftLog(log: log, configuration: configuration.raft, recovered: raftRecovery)
        } catch {
            try? log.close()  // the recovery error is the one to report
            throw error
        }
    }

    // MARK: - reads

    /// The value of `key` in `namespace` and its version, or `nil` if the key does not exist.
    /// Synchronous: callable from any context.
    ///
    /// - Throws: ``StoreError/Kind/corrupt`` (naming segment and offset) if the stored bytes
    ///   fail their checksum: never wrong bytes; ``StoreError/Kind/invalidKey`` or
    ///   ``StoreError/Kind/keyTooLarge`` for a key no store can hold; ``StoreError/Kind/closed``.
    public func get(_ key: [UInt8], in namespace: Namespace) throws(StoreError) -> VersionedValue? {
        try validateKey(key)
        guard let id = namespaces.existingID(namespace), let entry = index.lookup(id, key) else { return nil }
        // Only values inside zstd containers are cached: reading one expands its whole container,
        // while a plain record is a checksum over mapped page-cache bytes, which measured as fast
        // as a cache hit (docs/STORE.md §3). The cache is keyed by location, and a location holds
        // the same record for as long as the store is open (the log only appends; compaction
        // writes live records to new locations), so a cached value is never stale: an overwrite
        // or a delete changes the key's index entry, and the lookup above no longer leads here.
        let cacheable = entry.location.item != RecordLocation.plain
        if cacheable, let cached = cache.value(for: entry.location) {
            return VersionedValue(value: cached, version: Version(lsn: entry.version))
        }
        let location = ls_location(segment_seq: entry.location.segment, offset: entry.location.offset, item: entry.location.item)
        let recordKey = KVRecord.encodeKey(namespace, key)
        let value: [UInt8]?
        do {
            value = try log.read(at: location) { record -> [UInt8]? in
                // The index and the log must agree on what is there; a mismatch is a bug or
                // damage, never a reason to return another key's bytes.
                guard record.type == RecordType.kvPut.rawValue, Int(record.key_len) == recordKey.count,
                    recordKey.withUnsafeBytes({ memcmp($0.baseAddress!, record.key, recordKey.count) == 0 })
                else { return nil }
                return Array(UnsafeBufferPointer(start: record.value, count: Int(record.value_len)))
            }
        } catch {
            throw StoreError(error)
        }
        guard let value else {
            throw StoreError(
                kind: .corrupt,
                message: "the record at segment \(entry.location.segment) offset \(entry.location.offset) is not the put of this key",
                offset: entry.location.offset)
        }
        if cacheable { cache.insert(value, for: entry.location, bytes: cache.cost(of: value)) }
        return VersionedValue(value: value, version: Version(lsn: entry.version))
    }

    /// Keys of `namespace` that start with `prefix`, in ascending byte order, strictly after
    /// `after` when given, at most `limit` of them. Pass the page's
    /// ``KeyPage/resumeAfter`` as `after` to continue.
    ///
    /// - Throws: ``StoreError/Kind/invalidArgument`` for a limit below 1.
    public func list(in namespace: Namespace, prefix: [UInt8] = [], after: [UInt8]? = nil, limit: Int = 1000)
        throws(StoreError) -> KeyPage
    {
        guard limit >= 1 else { throw StoreError(kind: .invalidArgument, message: "limit must be at least 1, not \(limit)") }
        guard let id = namespaces.existingID(namespace) else { return KeyPage(entries: [], resumeAfter: nil) }
        let found = index.scan(id, prefix: prefix, after: after, limit: limit)
        let entries = found.map {
            KeyPage.Entry(key: $0.key, version: Version(lsn: $0.entry.version), valueLength: Int($0.entry.valueLength))
        }
        return KeyPage(entries: entries, resumeAfter: entries.count == limit ? entries.last?.key : nil)
    }

    // MARK: - writes

    /// Stores `value` under `key` in `namespace`; returns its version once durable.
    ///
    /// - Throws: ``StoreError/Kind/invalidKey``, ``StoreError/Kind/keyTooLarge`` or
    ///   ``StoreError/Kind/valueTooLarge`` for bad input (nothing written);
    ///   ``StoreError/Kind/outcomeUnknown`` if its write or sync failed;
    ///   ``StoreError/Kind/failed``, ``StoreError/Kind/noSpace`` or ``StoreError/Kind/closed``.
    @discardableResult
    public func put(_ value: [UInt8], for key: [UInt8], in namespace: Namespace) async throws(StoreError) -> Version {
        try validateKey(key)
        try validateValue(value)
        let write = try PreparedWrite(namespace: namespace, id: namespaces.id(namespace), key: key, value: value)
        return Version(lsn: try await perform(.one(write), conditions: [], deleteOnlyIfPresent: false)!)
    }

    /// Deletes `key` from `namespace` (a tombstone record keeps it deleted across restarts).
    /// Returns `false` when the key did not exist and had no write in flight (nothing was
    /// written), else `true` once the tombstone is durable.
    ///
    /// - Throws: as ``put(_:for:in:)``.
    @discardableResult
    public func delete(_ key: [UInt8], in namespace: Namespace) async throws(StoreError) -> Bool {
        try validateKey(key)
        let write = try PreparedWrite(namespace: namespace, id: namespaces.id(namespace), key: key, value: nil)
        return try await perform(.one(write), conditions: [], deleteOnlyIfPresent: true) != nil
    }

    /// Writes `newValue` (or deletes, for `nil`) only if the key's current version is
    /// `expected` (``Version/absent``: only if it does not exist). Returns the new version.
    ///
    /// - Throws: ``StoreError/Kind/versionMismatch`` (with the expected and actual versions)
    ///   when the key's version differs: nothing was written; otherwise as ``put(_:for:in:)``.
    @discardableResult
    public func compareAndSwap(_ key: [UInt8], in namespace: Namespace, expected: Version, newValue: [UInt8]?)
        async throws(StoreError) -> Version
    {
        try validateKey(key)
        if let newValue { try validateValue(newValue) }
        let id = try namespaces.id(namespace)
        let write = PreparedWrite(namespace: namespace, id: id, key: key, value: newValue)
        let condition = PreparedCondition(namespace: namespace, id: id, key: key, version: expected)
        return Version(lsn: try await perform(.one(write), conditions: [condition], deleteOnlyIfPresent: false)!)
    }

    /// Checks every condition of `batch` and, if all hold, writes all its puts and deletes as
    /// one atomic commit. Returns the version of each put and delete, in order.
    ///
    /// - Throws: ``StoreError/Kind/versionMismatch`` if a condition does not hold (nothing
    ///   written); ``StoreError/Kind/invalidArgument`` for a batch with no write;
    ///   ``StoreError/Kind/tooLarge`` if it does not fit one commit; otherwise as ``put(_:for:in:)``.
    @discardableResult
    public func write(_ batch: WriteBatch) async throws(StoreError) -> [Version] {
        guard batch.count > 0 else {
            throw StoreError(kind: .invalidArgument, message: "a batch needs at least one put or delete")
        }
        var writes: [PreparedWrite] = []
        writes.reserveCapacity(batch.count)
        for operation in batch.operations {
            switch operation {
            case .put(let namespace, let key, let value):
                try validateKey(key)
                try validateValue(value)
                writes.append(try PreparedWrite(namespace: namespace, id: namespaces.id(namespace), key: key, value: value))
            case .delete(let namespace, let key):
                try validateKey(key)
                writes.append(try PreparedWrite(namespace: namespace, id: namespaces.id(namespace), key: key, value: nil))
            }
        }
        var conditions: [PreparedCondition] = []
        for condition in batch.conditions {
            try validateKey(condition.key)
            conditions.append(
                PreparedCondition(
                    namespace: condition.namespace, id: try namespaces.id(condition.namespace), key: condition.key,
                    version: condition.version))
        }
        let first = try await perform(.many(writes), conditions: conditions, deleteOnlyIfPresent: false)!
        return (0..<writes.count).map { Version(lsn: first + UInt64($0)) }
    }

    // MARK: - state

    /// The first failure if the store has failed (fail-stop), else `nil`.
    public var failure: StoreError? { log.failure.map(StoreError.init) }

    /// Counters of the store and of its log.
    public var statistics: StoreStatistics {
        StoreStatistics(
            keys: index.count, namespaces: namespaces.all.count, indexBytes: index.memoryBytes, log: log.statistics,
            cache: cache.statistics)
    }

    /// This process's writer id (in segment names and the LOCK file; new at every open).
    public var writerID: UInt64 { log.writerID }

    /// The store's segment files, oldest first.
    public var segments: [SegmentInfo] { log.segments }

    /// The namespaces that hold or held keys since open, in order of first use.
    public var namespaceNames: [Namespace] { namespaces.all }

    /// Completes every queued write (durably, unless the store failed) and closes the files.
    /// Later calls throw ``StoreError/Kind/closed``.
    ///
    /// - Throws: ``StoreError/Kind/io`` if closing a file failed.
    public func close() throws(StoreError) {
        raft.flusher?.close()  // MemFirst writes still gathering go to the log, which completes them
        do { try log.close() } catch { throw StoreError(error) }
    }

    // MARK: - the write path

    /// The outcome of one attempt at a write: retry once a key's writes in flight finished, or
    /// done: the LSN of its first record (the writes have consecutive LSNs), `nil` when nothing
    /// was written (a delete of an absent key), or why it failed.
    enum Attempt {
        case retry
        case done(Result<LSN?, StoreError>)
    }

    /// Key and value bytes from which a write is encoded before the write lock is taken.
    static let encodeBeforeLockBytes = 4096

    /// Validates the conditions (waiting out writes in flight on their keys), queues the
    /// writes as one append and waits for it; returns the LSN of the first write. With
    /// `deleteOnlyIfPresent`, a single delete of a key that is absent and has no write in
    /// flight writes nothing and returns `nil` (only then is it `nil`).
    private func perform(_ writes: PreparedWrites, conditions: [PreparedCondition], deleteOnlyIfPresent: Bool)
        async throws(StoreError) -> LSN?
    {
        if configuration.readOnly { throw StoreError.openedReadOnly(path) }
        // The C record's value length is 32 bits (reachable only with segments over 4 GiB).
        var largestValue = 0
        writes.forEachWrite { _, write in largestValue = max(largestValue, write.value?.count ?? 0) }
        if largestValue > Int(UInt32.max) {
            throw StoreError(kind: .tooLarge, message: "a value of \(largestValue) bytes exceeds what a record can hold")
        }
        // The completing thread inserts these keys while every caller of its batch waits: start
        // loading their hash slots now, so those inserts do not wait for memory.
        writes.forEachWrite { _, write in index.prefetchSlot(write.id, write.key) }
        // A large write is framed, checksummed (and compressed) before the write lock, which
        // every writer of the store takes: done under it, that work, which grows with the value
        // (a megabyte takes a few hundred microseconds), holds up all the others. A small one is
        // encoded under it, in the one call that queues it: encoding apart takes a second pass
        // through the log's lock and an allocation, for a few hundred nanoseconds of encoding, and
        // measured slower for 128-byte puts on tmpfs (medians of three interleaved runs: 444k
        // against 505k puts/s).
        var payloadBytes = 0
        writes.forEachWrite { _, write in payloadBytes += write.recordKeyLength + (write.value?.count ?? 0) }
        var encoded: EncodedAppend? = nil
        if payloadBytes >= Self.encodeBeforeLockBytes {
            switch log.encode(count: writes.count, { KVRecord.withCRecords(writes, $0) }) {
            case .success(let append): encoded = append
            case .failure(let error): throw StoreError(error)
            }
        }
        while true {
            let attempt: Attempt = await withCompletionContinuation { continuation in
                let immediate = writeLock.withWriteLock { () -> Attempt? in
                    if !conditions.isEmpty {
                        switch check(conditions, waiting: continuation) {
                        case .hold: break
                        case .waiting: return nil
                        case .failed(let error): return .done(.failure(error))
                        }
                    }
                    if deleteOnlyIfPresent, case .one(let write) = writes {
                        let inFlight = pendingLock.withWriteLock { pending.isPending(write.pendingKey) }
                        if !inFlight && index.lookup(write.id, write.key) == nil { return .done(.success(nil)) }
                    }
                    // In flight before queued: the completion, which may run at once on the
                    // completing thread, always finds the keys it ends.
                    pendingLock.withWriteLock {
                        writes.forEachWrite { _, write in pending.add(write.pendingKey) }
                    }
                    let waiter = WriteWaiter(store: self, writes: writes, continuation: continuation)
                    let refused =
                        if let encoded { log.submit(encoded, waiter: waiter) } else {
                            log.enqueue(count: writes.count, waiter: waiter) { KVRecord.withCRecords(writes, $0) }
                        }
                    if let error = refused {
                        // Waiters of a write that finished meanwhile may now be due.
                        var woken: [UnsafeContinuation<Attempt, Never>] = []
                        pendingLock.withWriteLock {
                            writes.forEachWrite { _, write in pending.finish(write.pendingKey, waking: &woken) }
                        }
                        for waiter in woken { waiter.resume(returning: .retry) }
                        return .done(.failure(StoreError(error)))
                    }
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
            switch attempt {
            case .retry: continue
            case .done(let result): return try result.get()
            }
        }
    }

    /// What checking the conditions of a write found.
    private enum ConditionCheck {
        /// Every condition holds.
        case hold
        /// A condition's key has a write in flight: the continuation is kept, to be resumed
        /// with ``Attempt/retry`` once that write finished.
        case waiting
        /// A condition does not hold.
        case failed(StoreError)
    }

    /// Checks `conditions`; called with the write lock held.
    private func check(_ conditions: [PreparedCondition], waiting continuation: UnsafeContinuation<Attempt, Never>)
        -> ConditionCheck
    {
        // Checking and waiting happen under one pendingLock hold, so a completion cannot slip
        // between them and leave this waiter asleep.
        let mustWait = pendingLock.withWriteLock { () -> Bool in
            conditions.contains { pending.wait(for: $0.pendingKey, continuation) }
        }
        if mustWait { return .waiting }
        // No condition key has a write in flight, and none can start (writeLock is held), so
        // the index shows their current versions.
        for condition in conditions {
            let actual = Version(lsn: index.lookup(condition.id, condition.key)?.version ?? 0)
            if actual != condition.version {
                return .failed(StoreError(
                    kind: .versionMismatch,
                    message: "key \(printable(condition.key)) in namespace \(condition.namespace) is at version "
                        + "\(actual), not the expected \(condition.version)",
                    expected: condition.version, actual: actual))
            }
        }
        return .hold
    }

    /// Applies a durable append to the index, then ends its writes' in-flight state, adding the
    /// conditional writes that waited for them to `woken`. Runs on the log's completing thread, in
    /// LSN order, before the writer resumes.
    fileprivate func finish(
        _ writes: PreparedWrites, result: borrowing ls_append_result, waking woken: inout [UnsafeContinuation<Attempt, Never>]
    ) {
        if result.status == 0 {
            let firstLSN = result.first_lsn
            let segment = result.segment_seq
            let inContainer = result.in_container != 0
            var offset = result.offset
            index.update { index in
                writes.forEachWrite { i, write in
                    let location = RecordLocation(
                        segment: segment, offset: offset, item: inContainer ? UInt32(i) : LS_LOCATION_PLAIN)
                    let valueLength = write.value?.count
                    if !inContainer {
                        offset += KVRecord.encodedSize(keyLength: write.recordKeyLength, valueLength: valueLength ?? 0)
                    }
                    write.pendingKey.key.withUnsafeBytes { key in
                        if let valueLength {
                            let entry = IndexEntry(
                                version: firstLSN + UInt64(i), location: location, valueLength: UInt32(valueLength))
                            index.upsert(namespace: write.pendingKey.namespace, key: key, entry: entry)
                        } else {
                            index.remove(namespace: write.pendingKey.namespace, key: key)
                        }
                    }
                }
            }
        }
        pendingLock.withWriteLock {
            writes.forEachWrite { _, write in pending.finish(write.pendingKey, waking: &woken) }
        }
    }

    private func validateKey(_ key: [UInt8]) throws(StoreError) {
        if key.isEmpty { throw StoreError(kind: .invalidKey, message: "a key needs at least one byte") }
        if key.count > configuration.maxKeySize {
            throw StoreError(
                kind: .keyTooLarge, message: "key of \(key.count) bytes exceeds maxKeySize \(configuration.maxKeySize)")
        }
    }

    private func validateValue(_ value: [UInt8]) throws(StoreError) {
        if value.count > configuration.maxValueSize {
            throw StoreError(
                kind: .valueTooLarge,
                message: "value of \(value.count) bytes exceeds maxValueSize \(configuration.maxValueSize)")
        }
    }
}

/// Completes one store write on the log's completing thread: index first, then the caller.
private final class WriteWaiter: AppendWaiter {
    let store: Store
    /// The writes, until `complete` applied them.
    private var writes: PreparedWrites?
    let continuation: UnsafeContinuation<Store.Attempt, Never>

    init(store: Store, writes: PreparedWrites, continuation: UnsafeContinuation<Store.Attempt, Never>) {
        self.store = store
        self.writes = writes
        self.continuation = continuation
    }

    override func complete(_ result: borrowing ls_append_result, directory: String) {
        var woken: [UnsafeContinuation<Store.Attempt, Never>] = []
        // Taken out, so the keys and values are released here (at the end of this scope), before
        // the caller resumes: a caller that refills its key array for its next put then owns it
        // alone and writes it in place, instead of copying it because this waiter still holds it.
        if let writes = writes.take() {
            store.finish(writes, result: result, waking: &woken)
        } else {
            preconditionFailure("a store append completed twice")
        }
        if result.status == 0 {
            continuation.resume(returning: .done(.success(result.first_lsn)))
        } else {
            continuation.resume(returning: .done(.failure(StoreError(LogError(completion: result, directory: directory)))))
        }
        // Conditional writes that waited for these keys validate again.
        for waiter in woken { waiter.resume(returning: .retry) }
    }
}

/// A key for messages: as text when it is printable ASCII, else as hex.
func printable(_ key: [UInt8]) -> String {
    if key.allSatisfy({ (0x20...0x7E).contains($0) }) { return String(decoding: key, as: UTF8.self).debugDescription }
    return "0x" + key.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}
