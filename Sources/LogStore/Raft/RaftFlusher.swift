import CLogStore

/// MemFirst's path to the log: gathers accepted writes as the flush policy says, hands them
/// to the group-commit writer, and reports durability back to the groups (their watermarks)
/// and to callers waiting for it. Also applies backpressure: once more than
/// `maxUnflushedBytes` are accepted but not durable, writers wait.
///
/// Lock order: a group's lock, then this one's (``submit(_:group:bytes:)`` runs under the
/// group's lock); completions take each separately.
final class RaftFlusher: @unchecked Sendable {  // safe: `lock` guards every var
    private let log: CommitLog
    /// The most record bytes one append (one frame) can hold: no write may be larger, and
    /// pending writes are handed to the log before they would outgrow it.
    let frameCapacity: Int
    private let policy: RaftFlushPolicy
    private let maxUnflushedBytes: Int
    /// The Raft log, to fail every group's waiters when the store fails.
    weak var owner: RaftLog?

    private let lock = ReadWriteLock()
    /// Writes accepted and not yet handed to the log, and their groups, in order.
    private var pending = RaftRecordBatch()
    private var pendingGroups: [RaftGroup] = []
    private var pendingPayload = 0
    /// Each accepted write gets the next ticket; `durableTicket` is the newest durable one
    /// (completions come in log order, so every earlier ticket is durable too).
    private var lastTicket: UInt64 = 0
    private var durableTicket: UInt64 = 0
    private var ticketWaiters: [(ticket: UInt64, continuation: UnsafeContinuation<Result<Void, StoreError>, Never>)] = []
    /// Payload bytes accepted and not yet durable, and writers waiting for room.
    private var unflushedBytes = 0
    private var roomWaiters: [UnsafeContinuation<Result<Bool, StoreError>, Never>] = []
    /// The batch policy's pending timer task.
    private var timer: Task<Void, Never>?
    /// The first failure: nothing is durable after it.
    private(set) var failureValue: StoreError?

    init(log: CommitLog, policy: RaftFlushPolicy, maxUnflushedBytes: Int) {
        self.log = log
        frameCapacity = StoreConfiguration.frameCapacity(segmentSize: log.configuration.segmentSize)
        self.policy = policy
        self.maxUnflushedBytes = maxUnflushedBytes
    }

    /// The failure that stopped durability, if any.
    var failure: StoreError? { lock.withReadLock { failureValue } }

    // MARK: backpressure

    /// Waits until `bytes` more fit under the limit (a write alone larger than the limit goes
    /// once nothing else is unflushed), then counts them as unflushed.
    func reserve(_ bytes: Int) async throws(StoreError) {
        while true {
            // true: reserved; false: woken because room appeared, try again.
            let result: Result<Bool, StoreError> = await withCompletionContinuation { continuation in
                let immediate = lock.withWriteLock { () -> Result<Bool, StoreError>? in
                    if let failureValue { return .failure(failureValue) }
                    if unflushedBytes == 0 || unflushedBytes + bytes <= maxUnflushedBytes {
                        unflushedBytes += bytes
                        return .success(true)
                    }
                    roomWaiters.append(continuation)
                    return nil
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                } else {
                    flushNow()  // what waits must move for room to appear
                }
            }
            if try result.get() { return }
        }
    }

    /// Returns bytes reserved for a write that was not queued.
    func release(_ bytes: Int) {
        let woken = lock.withWriteLock { () -> [UnsafeContinuation<Result<Bool, StoreError>, Never>] in
            unflushedBytes -= bytes
            return grantRoom()
        }
        for waiter in woken { waiter.resume(returning: .success(false)) }
    }

    /// Grants room to waiters in order while it lasts. Call with `lock` held.
    private func grantRoom() -> [UnsafeContinuation<Result<Bool, StoreError>, Never>] {
        // Waiters do not say their size: wake them all when under the limit; each re-checks
        // by reserving again. Simple, and backpressure is a rare path.
        guard unflushedBytes < maxUnflushedBytes, !roomWaiters.isEmpty else { return [] }
        let all = roomWaiters
        roomWaiters.removeAll()
        return all
    }

    // MARK: submitting

    /// Accepts one write (call with its group's lock held) and returns its ticket.
    func submit(_ batch: RaftRecordBatch, group: RaftGroup, bytes: Int) -> UInt64 {
        lock.withWriteLock {
            // Writes gathered so far go as one append: it must fit one frame.
            if !pending.isEmpty && pending.encodedSize + batch.encodedSize > frameCapacity { flushLocked() }
            lastTicket += 1
            pending.append(contentsOf: batch)
            pendingGroups.append(group)
            pendingPayload += bytes
            switch policy {
            case .immediate:
                flushLocked()
            case .batch(let threshold, let interval):
                if pendingPayload >= threshold {
                    flushLocked()
                } else if timer == nil {
                    timer = Task.detached { [self] in
                        // Cancelled by close(): the pending writes were flushed there already.
                        do { try await Task.sleep(for: interval) } catch { return }
                        timerFired()
                    }
                }
            }
            return lastTicket
        }
    }

    private func timerFired() {
        lock.withWriteLock {
            timer = nil
            flushLocked()
        }
    }

    /// Hands every accepted write to the log and cancels the batch timer, whose task then ends
    /// at once instead of sleeping on past the close (a task still asleep at process exit is
    /// reported by LeakSanitizer). Not waited for: close may run on a thread of the cooperative
    /// pool, and blocking it could starve the very task it waits for.
    func close() {
        let running = lock.withWriteLock { () -> Task<Void, Never>? in
            flushLocked()
            defer { timer = nil }
            return timer
        }
        running?.cancel()
    }

    /// Hands every accepted write to the log now.
    func flushNow() { lock.withWriteLock { flushLocked() } }

    /// Hands the pending writes to the log as one atomic append. Call with `lock` held (so
    /// appends enter the log in ticket order).
    private func flushLocked() {
        guard !pending.isEmpty else { return }
        let batch = pending
        let groups = pendingGroups
        let ticket = lastTicket
        let payload = pendingPayload
        pending = RaftRecordBatch()
        pendingGroups = []
        pendingPayload = 0
        if failureValue != nil { return }  // nothing more reaches the log; waiters were failed
        let waiter = FlushWaiter(flusher: self, groups: groups, ticket: ticket, payload: payload)
        if let error = log.enqueue(count: batch.count, waiter: waiter, batch.withCRecords) {
            failLocked(StoreError(error))
        }
    }

    // MARK: durability

    /// Returns once the write with `ticket` is durable (handing pending writes to the log first).
    func wait(for ticket: UInt64) async throws(StoreError) {
        flushNow()
        let result: Result<Void, StoreError> = await withCompletionContinuation { continuation in
            let immediate = lock.withWriteLock { () -> Result<Void, StoreError>? in
                if durableTicket >= ticket { return .success(()) }
                if let failureValue { return .failure(failureValue) }
                ticketWaiters.append((ticket, continuation))
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
        try result.get()
    }

    /// Returns once every write accepted before this call is durable.
    func flushAndWait() async throws(StoreError) {
        let ticket = lock.withReadLock { lastTicket }
        try await wait(for: ticket)
    }

    /// A flushed batch is durable (completing thread, log order): updates the groups and the
    /// flusher; returns the callers to wake, which the caller wakes once these locks are released.
    fileprivate func completed(groups: [RaftGroup], ticket: UInt64, payload: Int) -> FlushWakeups {
        var wakeups = FlushWakeups()
        for group in groups {
            wakeups.durable += group.lock.withWriteLock { group.oldestWriteDurable() }
        }
        wakeups.room = lock.withWriteLock { () -> [UnsafeContinuation<Result<Bool, StoreError>, Never>] in
            durableTicket = ticket
            unflushedBytes -= payload
            ticketWaiters.removeAll { waiter in
                guard waiter.ticket <= ticket else { return false }
                wakeups.durable.append(waiter.continuation)
                return true
            }
            return grantRoom()
        }
        return wakeups
    }

    /// A flushed batch failed: the store is failed, and nothing queued will become durable.
    fileprivate func failed(_ error: StoreError) {
        lock.withWriteLock { failLocked(error) }
    }

    /// Records the failure and fails every waiter. Call with `lock` held.
    private func failLocked(_ error: StoreError) {
        if failureValue == nil { failureValue = error }
        let waiters = ticketWaiters.map(\.continuation)
        let room = roomWaiters
        ticketWaiters.removeAll()
        roomWaiters.removeAll()
        let owner = owner
        // Resuming and visiting groups happen off this lock, on a task: `submit` holds a group
        // lock while it takes this one, so taking group locks here could deadlock.
        Task.detached {
            for waiter in waiters { waiter.resume(returning: .failure(error)) }
            for waiter in room { waiter.resume(returning: .failure(error)) }
            owner?.failDurabilityWaiters(error)
        }
    }
}

/// The callers one durable flush wakes: durability waiters, and writers waiting for room.
private struct FlushWakeups {
    var durable: [UnsafeContinuation<Result<Void, StoreError>, Never>] = []
    var room: [UnsafeContinuation<Result<Bool, StoreError>, Never>] = []

    func resume() {
        for waiter in durable { waiter.resume(returning: .success(())) }
        for waiter in room { waiter.resume(returning: .success(false)) }
    }
}

/// Completes one MemFirst flush on the log's completing thread.
private final class FlushWaiter: AppendWaiter {
    let flusher: RaftFlusher
    let groups: [RaftGroup]
    let ticket: UInt64
    let payload: Int

    init(flusher: RaftFlusher, groups: [RaftGroup], ticket: UInt64, payload: Int) {
        self.flusher = flusher
        self.groups = groups
        self.ticket = ticket
        self.payload = payload
    }

    override func complete(_ result: borrowing ls_append_result, directory: String) {
        if result.status == 0 {
            flusher.completed(groups: groups, ticket: ticket, payload: payload).resume()
        } else {
            flusher.failed(StoreError(LogError(completion: result, directory: directory)))
        }
    }
}

extension RaftLog {
    /// Fails every group's durability waiters (the store failed).
    func failDurabilityWaiters(_ error: StoreError) {
        for id in groupIDs {
            guard let group = existing(id) else { continue }
            for waiter in group.lock.withWriteLock({ group.takeAllWaiters() }) { waiter.resume(returning: .failure(error)) }
        }
    }
}
