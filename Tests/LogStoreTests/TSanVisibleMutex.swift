#if canImport(Glibc)
import Glibc
#endif

/// A value guarded by a pthread mutex, for test state shared between tasks and threads.
///
/// Use it instead of `Synchronization.Mutex` in tests that run under ThreadSanitizer
/// (`make test-tsan`): on Linux, `Mutex` takes its contended path (`_lockSlow`, `_unlockSlow`:
/// a futex) inside the uninstrumented libswiftSynchronization, so when two tasks contend TSan sees
/// no ordering between the holders and reports the guarded value as a data race. TSan intercepts
/// `pthread_mutex_lock`/`unlock` wherever they are called from (as for `ReadWriteLock` in the
/// library, and `NSLock`).
final class TSanVisibleMutex<Value>: @unchecked Sendable {  // safe: `mutex` guards `value`
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
