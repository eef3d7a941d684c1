import CLogStore

#if canImport(Glibc)
import Glibc
#endif

/// A value that only `withLock` reaches, behind one adaptive pthread mutex (which
/// ThreadSanitizer understands, unlike `Synchronization.Mutex` on Linux; adaptive: see
/// `ls_mutex.h`). The value lives behind a pointer, so that accesses under the mutex carry no
/// dynamic exclusivity checks. The caches keep their state in one.
final class MutexGuarded<State>: @unchecked Sendable {  // safe: `state` is only touched with `mutex` held
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let state: UnsafeMutablePointer<State>

    /// Guards `initial`.
    init(_ initial: State) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(ls_mutex_init_adaptive(mutex) == 0, "ls_mutex_init_adaptive failed")
        state = .allocate(capacity: 1)
        state.initialize(to: initial)
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` on the value with the mutex held.
    func withLock<T>(_ body: (inout State) -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&state.pointee)
    }
}
