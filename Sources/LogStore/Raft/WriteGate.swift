/// An asynchronous FIFO mutex: one holder at a time, waiters resume in arrival order without
/// blocking a thread. DiskFirst Raft writes of one group pass through it, so each validates
/// against the acknowledged state of the writes before it.
final class WriteGate: @unchecked Sendable {  // safe: `lock` guards `held` and `waiters`
    private let lock = ReadWriteLock()
    private var held = false
    private var waiters: [UnsafeContinuation<Void, Never>] = []
    private var nextWaiter = 0

    /// Waits until the gate is free and takes it.
    func enter() async {
        let entered = lock.withWriteLock { () -> Bool in
            if held { return false }
            held = true
            return true
        }
        if entered { return }
        await withUnsafeContinuation { continuation in
            let now = lock.withWriteLock { () -> Bool in
                if !held {
                    held = true
                    return true
                }
                waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Hands the gate to the longest waiter, or frees it.
    func leave() {
        let next = lock.withWriteLock { () -> UnsafeContinuation<Void, Never>? in
            guard nextWaiter < waiters.count else {
                waiters.removeAll()
                nextWaiter = 0
                held = false
                return nil
            }
            let waiter = waiters[nextWaiter]
            nextWaiter += 1
            return waiter  // the gate stays held: ownership passes to the waiter
        }
        next?.resume()
    }
}
