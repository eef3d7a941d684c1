import CLogStore

#if canImport(Glibc)
import Glibc
#endif

/// A pthread read-write lock (TSan sees it, unlike `Synchronization.Mutex` on Linux) that spins
/// briefly before it sleeps.
///
/// The engine's locks are held for well under a microsecond (a queue push, a slot update), but
/// glibc's rwlock puts a contending thread to sleep at once, and waking it again takes a futex
/// call by the holder and two context switches, each far longer than the wait it replaced
/// (measured: futex wakes from rwlock unlocks were 4% of the CPU of `bench put --threads 64`).
/// So an acquisition first retries ``spinAttempts`` times between short pauses, as glibc's
/// adaptive mutexes do, and only then blocks.
final class ReadWriteLock: @unchecked Sendable {  // safe: the pthread lock serializes all access
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    /// Failed try-acquisitions before blocking: 64 pauses in all, from well under a microsecond
    /// to about three (a pause takes 10 to 140 cycles, depending on the CPU). Long enough to
    /// outlast a short critical section on another CPU, short enough not to matter when the
    /// holder is not running. 64 tries of 8 pauses measured worse with real fsyncs (`bench put`).
    static let spinAttempts = 32
    /// Pause instructions between two tries, so the spinner does not keep taking the lock's
    /// cache line from the holder.
    static let pausesPerAttempt = 2

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        precondition(pthread_rwlock_init(lock, nil) == 0, "pthread_rwlock_init failed")
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` with the lock held shared.
    func withReadLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        if pthread_rwlock_tryrdlock(lock) != 0 && !spin({ pthread_rwlock_tryrdlock($0) }) {
            pthread_rwlock_rdlock(lock)
        }
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Runs `body` with the lock held exclusively.
    func withWriteLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        if pthread_rwlock_trywrlock(lock) != 0 && !spin({ pthread_rwlock_trywrlock($0) }) {
            pthread_rwlock_wrlock(lock)
        }
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Retries `tryLock` between pauses; true once it succeeded, false after ``spinAttempts``.
    @inline(__always)
    private func spin(_ tryLock: (UnsafeMutablePointer<pthread_rwlock_t>) -> Int32) -> Bool {
        for _ in 0..<Self.spinAttempts {
            for _ in 0..<Self.pausesPerAttempt { ls_cpu_relax() }
            if tryLock(lock) == 0 { return true }
        }
        return false
    }
}
