import CLogStore

/// An append-only, crash-safe log of records in segment files, written by one group-commit
/// writer thread in the C core (completions run on that thread, or on its completer thread
/// while group commit is pipelined: ``LogConfiguration/Pipelining``).
///
/// Durability: ``append(_:)`` returns only after the record's bytes and an `fdatasync` (or a
/// DSYNC write) covering them completed. Concurrent appends share one write and one sync.
/// After a crash, ``open(directory:configuration:)`` recovers a prefix of the commit order:
/// if the record with LSN n survived, every smaller LSN did; an append of several records
/// survives whole or not at all. A failed write or sync stops the log (fail-stop): that
/// append fails with ``LogError/Kind/outcomeUnknown``, later ones with
/// ``LogError/Kind/failed``, and the log must be reopened. Reopen it from a new process where
/// you can: after a failed `fdatasync` Linux may have marked the unwritten pages clean, and a
/// reopen in the same process would read them back from the page cache as if they were on disk.
///
/// Thread safety: every method may be called from any thread or task concurrently. Appends
/// never block a thread of Swift's cooperative pool: they suspend, and the writer thread
/// resumes them when their batch is durable.
public final class CommitLog: @unchecked Sendable {  // safe: `lock` guards `handle` and `readers`
    /// The store root: `LOCK`, `manifest/`, `segments/`, `snapshots/` and `markers/` are in it.
    public let directory: String
    /// The configuration the log was opened with.
    public let configuration: LogConfiguration
    /// What recovery found and did at open.
    public let recovery: RecoveryReport
    /// This process's writer id: new at every open, part of the names of the segments it
    /// writes and of its marker `markers/writer-<id>.marker`.
    public let writerID: UInt64

    private let lock = ReadWriteLock()
    private var handle: OpaquePointer?
    private var readers: [ObjectIdentifier: Unmanaged<CommitLogReader>] = [:]
    /// The counters as they were at close, so statistics stay readable afterwards.
    private var finalStatistics: ls_log_stats?
    /// What completions need besides the append itself; the C log holds it unretained.
    private let completionContext: CompletionContext

    /// Opens the log in `directory` (creating it if needed), recovering what is there.
    ///
    /// - Throws: ``LogError/Kind/corrupt`` (naming segment and offset) for damage that is not
    ///   a torn tail; ``LogError/Kind/invalidArgument`` for a bad configuration;
    ///   ``LogError/Kind/io`` when a system call fails.
    public static func open(directory: String, configuration: LogConfiguration = .init()) throws(LogError) -> CommitLog {
        try CommitLog(directory: directory, configuration: configuration, io: nil)
    }

    /// Opens with an explicit I/O seam (tests pass a fault-injecting one; it is not owned).
    init(directory: String, configuration: LogConfiguration, io: UnsafeMutablePointer<ls_io>?) throws(LogError) {
        self.directory = directory
        self.configuration = configuration
        completionContext = CompletionContext(directory: directory)
        var config = ls_log_config()
        ls_log_config_init(&config)
        config.segment_size = configuration.segmentSize
        config.commit_max_ops = UInt32(clamping: configuration.commitMaxOps)
        config.commit_max_bytes = UInt64(clamping: configuration.commitMaxBytes)
        config.compress_min_bytes = UInt32(clamping: configuration.compressionThreshold ?? 0)
        config.compress_level = configuration.compressionLevel
        config.linger_max_us = configuration.lingerMaxMicroseconds
        config.spin_max_us = configuration.writerSpinMicroseconds
        config.no_prewrite = configuration.prewriteSegments ? 0 : 1
        config.no_direct_zero_fill = configuration.directZeroFill ? 0 : 1
        config.no_direct_writes = configuration.directWrites ? 0 : 1
        config.sealed_cache_bytes = configuration.sealedSegmentCacheBytes ?? .max  // LS_KEEP_SEALED_CACHE
        config.backend = configuration.cBackend
        config.uring_mode = configuration.cUringMode
        config.recovery_mode = configuration.cRecoveryMode
        config.manifest_max_bytes = configuration.manifestMaxBytes
        config.pipelining = configuration.cPipelining
        config.read_only = configuration.readOnly ? 1 : 0
        config.io = io
        config.on_complete = commitLogCompletion
        config.on_complete_ctx = Unmanaged.passUnretained(completionContext).toOpaque()
        var info = ls_recovery_info()
        var error = ls_error()
        var log: OpaquePointer?
        let status = directory.withCString { dir in
            config.dir = dir
            return ls_log_open(&config, &log, &info, &error)
        }
        guard status == 0, let log else { throw LogError(error) }
        handle = log
        recovery = RecoveryReport(info)
        writerID = ls_log_writer_id(log)
    }

    deinit {
        // An explicit close() reports errors; here there is no one left to tell.
        if let handle { ls_log_close(handle, nil, nil) }
    }

    /// Appends one record and returns its LSN once it is durable.
    ///
    /// - Throws: ``LogError/Kind/invalidArgument`` or ``LogError/Kind/tooLarge`` for a bad
    ///   record (nothing written); ``LogError/Kind/outcomeUnknown`` if its write or sync
    ///   failed; ``LogError/Kind/failed`` or ``LogError/Kind/closed`` if the log no longer
    ///   accepts appends; ``LogError/Kind/noSpace`` if it could not be written for lack of space.
    public func append(_ record: LogRecord) async throws(LogError) -> LSN {
        try Self.checkLengths(record, index: 0)
        return try await append(count: 1) { body in
            record.key.withUnsafeBufferPointer { key in
                record.value.withUnsafeBufferPointer { value in
                    var r = ls_record(record, key: key, value: value)
                    return body(&r)
                }
            }
        }.lowerBound
    }

    /// Appends several records as one atomic unit (one frame: after a crash all of them
    /// survive or none does) and returns their LSNs once durable.
    ///
    /// - Throws: as ``append(_:)``.
    public func append(contentsOf records: [LogRecord]) async throws(LogError) -> ClosedRange<LSN> {
        guard !records.isEmpty else {
            throw LogError(kind: .invalidArgument, message: "an append needs at least one record")
        }
        for (index, record) in records.enumerated() { try Self.checkLengths(record, index: index) }
        return try await append(count: records.count) { body in Self.withCRecords(records, body) }
    }

    /// Queues `records` as one atomic append; `waiter` learns the outcome on the log's
    /// completing thread.
    /// Returns `nil` once queued, or why they were refused (then `waiter` is never called).
    func enqueue(records: [LogRecord], waiter: AppendWaiter) -> LogError? {
        if records.isEmpty { return LogError(kind: .invalidArgument, message: "an append needs at least one record") }
        for (index, record) in records.enumerated() {
            do throws(LogError) { try Self.checkLengths(record, index: index) } catch { return error }
        }
        return enqueue(count: records.count, waiter: waiter) { body in Self.withCRecords(records, body) }
    }

    /// Calls `body` with C views of `records`, valid during the call (the C encoder copies
    /// synchronously).
    private static func withCRecords(_ records: [LogRecord], _ body: (UnsafeMutablePointer<ls_record>) -> Int32) -> Int32 {
        if records.count == 1 {
            let record = records[0]
            return record.key.withUnsafeBufferPointer { key in
                record.value.withUnsafeBufferPointer { value in
                    var r = ls_record(record, key: key, value: value)
                    return body(&r)
                }
            }
        }
        // One flat buffer keeps every key and value pinned at once.
        var flat: [UInt8] = []
        flat.reserveCapacity(records.reduce(0) { $0 + $1.key.count + $1.value.count })
        for r in records {
            flat += r.key
            flat += r.value
        }
        return flat.withUnsafeBufferPointer { bytes in
            var cRecords: [ls_record] = []
            cRecords.reserveCapacity(records.count)
            var at = 0
            for r in records {
                let key = UnsafeBufferPointer(rebasing: bytes[at..<at + r.key.count])
                at += r.key.count
                let value = UnsafeBufferPointer(rebasing: bytes[at..<at + r.value.count])
                at += r.value.count
                cRecords.append(ls_record(r, key: key, value: value))
            }
            return cRecords.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        }
    }

    /// Refuses lengths the C record's u16/u32 fields cannot carry (they would be truncated).
    private static func checkLengths(_ record: LogRecord, index: Int) throws(LogError) {
        if record.key.count > Int(LS_RECORD_MAX_KEY) {
            throw LogError(kind: .tooLarge, message: "record \(index): key of \(record.key.count) bytes exceeds \(LS_RECORD_MAX_KEY)")
        }
        if record.value.count > Int(UInt32.max) {
            throw LogError(kind: .tooLarge, message: "record \(index): value of \(record.value.count) bytes exceeds what a frame can hold")
        }
    }

    /// Queues an append whose C records `withRecords` provides, and suspends until it completes.
    private func append(
        count: Int, _ withRecords: ((UnsafeMutablePointer<ls_record>) -> Int32) -> Int32
    ) async throws(LogError) -> ClosedRange<LSN> {
        let result: Result<ClosedRange<LSN>, LogError> = await withCompletionContinuation { continuation in
            if let error = enqueue(count: count, waiter: ContinuationWaiter(continuation), withRecords) {
                continuation.resume(returning: .failure(error))
            }
        }
        return try result.get()
    }

    /// Queues an append whose C records `withRecords` provides; `waiter` learns its outcome on
    /// the log's completing thread. Returns `nil` once queued, or why it was refused (then `waiter` is
    /// never called). Upper layers (the key-value store, Raft) use this to update their
    /// indexes before their callers resume.
    func enqueue(
        count: Int, waiter: AppendWaiter, _ withRecords: ((UnsafeMutablePointer<ls_record>) -> Int32) -> Int32
    ) -> LogError? {
        queue(waiter) { handle, user, error in
            withRecords { records in ls_log_append(handle, records, count, user, error) }
        }
    }

    /// Runs `call` (an `ls_log_append` or `ls_log_submit` with `waiter` as its user pointer) with
    /// the log open, keeping `waiter` alive until its completion releases it; returns why the
    /// call refused, or `nil`. `whenClosed` runs instead of `call` once the log is closed.
    private func queue(
        _ waiter: AppendWaiter, whenClosed: () -> Void = {},
        _ call: (OpaquePointer, UnsafeMutableRawPointer, UnsafeMutablePointer<ls_error>) -> Int32
    ) -> LogError? {
        let retained = Unmanaged.passRetained(waiter)
        var error = ls_error()
        var closed = false
        let status = lock.withReadLock { () -> Int32 in
            guard let handle else {
                closed = true
                whenClosed()
                return LS_E_CLOSED.rawValue
            }
            return call(handle, retained.toOpaque(), &error)
        }
        if status == 0 { return nil }
        retained.release()
        return closed ? LogError(kind: .closed, path: directory, message: "the log is closed") : LogError(error)
    }

    /// Encodes an append whose C records `withRecords` provides (record CRCs, compression) on
    /// this thread without queueing it, so a caller that orders its appends under a lock of its
    /// own keeps that work outside the lock; ``submit(_:waiter:)`` queues it.
    func encode(
        count: Int, _ withRecords: ((UnsafeMutablePointer<ls_record>) -> Int32) -> Int32
    ) -> Result<EncodedAppend, LogError> {
        var error = ls_error()
        var encoded: OpaquePointer?
        var closed = false
        let status = lock.withReadLock { () -> Int32 in
            guard let handle else {
                closed = true
                return LS_E_CLOSED.rawValue
            }
            return withRecords { records in ls_log_encode(handle, records, count, &encoded, &error) }
        }
        guard status == 0, let encoded else {
            return .failure(closed ? LogError(kind: .closed, path: directory, message: "the log is closed") : LogError(error))
        }
        return .success(EncodedAppend(encoded))
    }

    /// Queues an append made by ``encode(count:_:)``; `waiter` learns its outcome on the log's
    /// completing thread. Returns `nil` once queued, or why it was refused (then `waiter` is
    /// never called). Either way `append` is used up.
    func submit(_ append: EncodedAppend, waiter: AppendWaiter) -> LogError? {
        guard let encoded = append.take() else {
            return LogError(kind: .invalidArgument, message: "an encoded append was submitted twice")
        }
        return queue(waiter, whenClosed: { ls_encoded_append_free(encoded) }) { handle, user, error in
            ls_log_submit(handle, encoded, user, error)
        }
    }

    /// Reads the durable record at `location`, verifying its checksum, and returns what `body`
    /// makes of it (its key and value pointers are valid only inside `body`).
    ///
    /// - Throws: ``LogError/Kind/corrupt`` naming segment and offset when the bytes fail their
    ///   checksum; ``LogError/Kind/closed`` after ``close()``.
    func read<T>(at location: ls_location, _ body: (ls_read_record) -> T) throws(LogError) -> T {
        try lock.withReadLock { () throws(LogError) -> T in
            guard let handle else { throw LogError(kind: .closed, path: directory, message: "the log is closed") }
            var result: T?
            var error = ls_error()
            var loc = location
            let status = withoutActuallyEscaping({ (record: UnsafePointer<ls_read_record>) in result = body(record.pointee) }) {
                visit in
                var visitor = PointReadVisitor(visit: visit)
                return withUnsafeMutablePointer(to: &visitor) { ls_log_read_at(handle, &loc, pointReadTrampoline, $0, &error) }
            }
            guard status == 0, let result else { throw LogError(error) }
            return result
        }
    }

    /// The segment files holding data, oldest first (the active one once it holds data).
    /// Empty after ``close()``.
    public var segments: [SegmentInfo] {
        lock.withReadLock {
            guard let handle else { return [] }
            var infos = [ls_segment_info](repeating: ls_segment_info(), count: 16)
            while true {
                let total = infos.withUnsafeMutableBufferPointer { ls_log_segment_list(handle, $0.baseAddress, $0.count) }
                if total <= infos.count {
                    return infos.prefix(total).map { s in
                        let path = withUnsafeBytes(of: s.path) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
                        return SegmentInfo(
                            sequence: s.seq, writerID: s.writer_id, baseLSN: s.base_lsn, lastLSN: s.last_lsn, end: s.end,
                            sealed: s.sealed != 0, path: path)
                    }
                }
                infos = [ls_segment_info](repeating: ls_segment_info(), count: total + 8)  // it grew meanwhile: retry
            }
        }
    }

    /// The highest LSN known durable; every smaller LSN is durable too.
    public var durableLSN: LSN {
        lock.withReadLock { handle.map { ls_log_durable_lsn($0) } ?? 0 }
    }

    /// The first failure if the log has failed (fail-stop), else `nil`.
    public var failure: LogError? {
        lock.withReadLock {
            guard let handle else { return nil }
            var error = ls_error()
            return ls_log_failure(handle, &error) != 0 ? LogError(error) : nil
        }
    }

    /// The writer's counters since open (after ``close()``, as they were at close).
    public var statistics: LogStatistics {
        lock.withReadLock {
            var s = finalStatistics ?? ls_log_stats()
            if let handle { ls_log_stats_get(handle, &s) }
            return LogStatistics(
                appends: s.appends, records: s.records, batches: s.batches, frames: s.frames,
                bytesWritten: s.bytes_written, syncs: s.syncs, maxBatch: s.max_batch, rotations: s.rotations,
                rotationWaits: s.rotation_waits, lingerWaits: s.linger_waits, syncNanoseconds: s.sync_ns,
                gatherNanoseconds: s.gather_ns, pipelinedBatches: s.pipelined_batches, idleSpins: s.idle_spins,
                zeroFillSkips: s.zero_fill_skips, directZeroFills: s.direct_zero_fills, directWrites: s.direct_writes, cacheReleases: s.cache_releases,
                cacheReleaseFailures: s.cache_release_failures, durableLSN: s.durable_lsn,
                backend: String(cString: ls_backend_name(s.backend)))
        }
    }

    /// Reads the durable records with LSN ≥ `lsn`, as they were when this is called,
    /// verifying every checksum as it goes.
    public func makeReader(from lsn: LSN = 1) throws(LogError) -> CommitLogReader {
        try lock.withWriteLock { () throws(LogError) -> CommitLogReader in
            guard let handle else { throw LogError(kind: .closed, path: directory, message: "the log is closed") }
            var error = ls_error()
            var reader: OpaquePointer?
            guard ls_reader_open(handle, lsn, &reader, &error) == 0, let reader else { throw LogError(error) }
            let result = CommitLogReader(log: self, reader: reader)
            readers[ObjectIdentifier(result)] = Unmanaged.passUnretained(result)
            return result
        }
    }

    /// Every durable record with LSN ≥ `lsn`, in LSN order.
    public func readAll(from lsn: LSN = 1) throws(LogError) -> [LoggedRecord] {
        let reader = try makeReader(from: lsn)
        var records: [LoggedRecord] = []
        while let record = try reader.next() { records.append(record) }
        return records
    }

    /// Completes every queued append (durably, unless the log failed), stops the writer and
    /// closes the files. Open readers end. Later calls throw ``LogError/Kind/closed``.
    ///
    /// - Throws: ``LogError/Kind/io`` if closing a file failed.
    public func close() throws(LogError) {
        try lock.withWriteLock { () throws(LogError) in
            guard let log = handle else { return }
            for reader in readers.values { reader.takeUnretainedValue().invalidate() }
            readers.removeAll()
            handle = nil
            var error = ls_error()
            var stats = ls_log_stats()
            let status = ls_log_close(log, &stats, &error)
            finalStatistics = stats
            if status != 0 { throw LogError(error) }
        }
    }

    // MARK: reader support (called by CommitLogReader)

    func withOpenLog<T>(_ body: () throws(LogError) -> T) throws(LogError) -> T {
        try lock.withReadLock { () throws(LogError) -> T in
            guard handle != nil else { throw LogError(kind: .closed, path: directory, message: "the log is closed") }
            return try body()
        }
    }

    /// Runs `body` with the C log under the read lock, so ``close()`` waits for it.
    ///
    /// - Throws: ``LogError/Kind/closed`` after ``close()``, or what `body` throws.
    func withHandle<T>(_ body: (OpaquePointer) throws(LogError) -> T) throws(LogError) -> T {
        try lock.withReadLock { () throws(LogError) -> T in
            guard let handle else { throw LogError(kind: .closed, path: directory, message: "the log is closed") }
            return try body(handle)
        }
    }

    func unregister(_ reader: CommitLogReader) {
        lock.withWriteLock {
            if readers.removeValue(forKey: ObjectIdentifier(reader)) != nil { reader.invalidate() }
        }
    }
}

extension ls_record {
    init(_ record: LogRecord, key: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        self.init(
            type: record.type, flags: record.flags, key_len: UInt32(truncatingIfNeeded: key.count),
            value_len: UInt32(truncatingIfNeeded: value.count), key: key.baseAddress, value: value.baseAddress)
    }
}

/// Learns the outcome of one append on the log's completing thread, in LSN order: applies it
/// (to the index, a group's state) and then wakes its caller.
///
/// Each caller wakes right after its own append is applied, not after the whole batch: waking
/// a thread of the task pool takes tens of microseconds on a VM (`Benchmarks/wake-latency.c`),
/// and waking the first callers early hides that behind the rest of the batch's completions.
/// Against waking all at the end of the batch, as an earlier version did, this cut the time per
/// commit outside the sync of 64 concurrent puts by 15–31% (README, "How group commit gathers
/// a batch"). Subclasses must not block for long: every later append's completion waits
/// behind this one.
class AppendWaiter {
    /// Called exactly once, on the completing thread: applies the outcome, then resumes the
    /// caller. `directory` names the log for errors.
    func complete(_ result: borrowing ls_append_result, directory: String) {}
}

extension LogError {
    /// The error of a failed completion (status < 0): what the failure means for the append
    /// and, when the writer said, what failed: the step, the file and where in it. For a log
    /// stopped earlier, that is the failure that stopped it.
    init(completion result: borrowing ls_append_result, directory: String) {
        let meaning = LogError(status: result.status, errno: result.sys_errno, path: directory)
        guard let cause = result.error.map({ LogError($0.pointee) }), !cause.message.isEmpty else {
            self = meaning
            return
        }
        // The cause speaks for itself when the status adds nothing to it: a plain I/O error, or
        // the failed durable write that made this append's outcome unknown.
        let causeExplains = meaning.kind == .io || (meaning.kind == .outcomeUnknown && cause.kind == .outcomeUnknown)
        let message = causeExplains ? cause.message : meaning.message + ". Cause: " + cause.message
        self.init(
            kind: meaning.kind, errno: cause.errno ?? meaning.errno, path: cause.path ?? directory, offset: cause.offset,
            message: message)
    }
}

/// Carries one suspended append from the log's completing thread back to its task.
private final class ContinuationWaiter: AppendWaiter {
    let continuation: UnsafeContinuation<Result<ClosedRange<LSN>, LogError>, Never>
    init(_ continuation: UnsafeContinuation<Result<ClosedRange<LSN>, LogError>, Never>) {
        self.continuation = continuation
    }

    override func complete(_ result: borrowing ls_append_result, directory: String) {
        if result.status == 0 {
            continuation.resume(returning: .success(result.first_lsn...(result.first_lsn + UInt64(result.record_count) - 1)))
        } else {
            continuation.resume(returning: .failure(LogError(completion: result, directory: directory)))
        }
    }
}

/// What every completion of one log shares: its directory, for error messages.
private final class CompletionContext: Sendable {
    let directory: String

    init(directory: String) {
        self.directory = directory
    }
}

/// Called by the completing thread once per append, in LSN order. Resuming a continuation only
/// enqueues its task, so the completing thread never runs Swift code of the caller.
private func commitLogCompletion(
    _ context: UnsafeMutableRawPointer?, _ user: UnsafeMutableRawPointer?, _ result: UnsafePointer<ls_append_result>?
) {
    let waiter = Unmanaged<AppendWaiter>.fromOpaque(user!).takeRetainedValue()
    let directory = Unmanaged<CompletionContext>.fromOpaque(context!).takeUnretainedValue().directory
    waiter.complete(result!.pointee, directory: directory)
}

/// The closure of one point read, reached from C through a context pointer.
private struct PointReadVisitor {
    let visit: (UnsafePointer<ls_read_record>) -> Void
}

/// Hands the record C verified to the visitor behind the context pointer.
private func pointReadTrampoline(_ context: UnsafeMutableRawPointer?, _ record: UnsafePointer<ls_read_record>?) {
    context!.assumingMemoryBound(to: PointReadVisitor.self).pointee.visit(record!)
}
