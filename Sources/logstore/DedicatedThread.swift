import Foundation

/// Runs blocking work (file I/O, `fdatasync` loops, opening and closing a log) on a thread
/// of its own, so that it never occupies a thread of Swift's cooperative pool (two here).
enum DedicatedThread {
    /// Runs `body` on a new thread and suspends until it returns or throws.
    ///
    /// - Parameters:
    ///   - name: The thread's name, as debuggers and `top -H` show it.
    ///   - body: The blocking work.
    /// - Returns: What `body` returned.
    /// - Throws: What `body` threw.
    static func run<T: Sendable, E: Error>(
        name: String, _ body: @escaping @Sendable () throws(E) -> T
    ) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: Result { () throws(E) -> T in try body() })
            }
            thread.name = name
            thread.start()
        }
        return try result.get()
    }
}
