import CLogStore

/// Suspends like `withUnsafeContinuation` for a continuation that the log's completing thread
/// may resume, then orders that hand-off for ThreadSanitizer (`ls_tsan_handoff.h`; nothing in
/// other builds). Every await the completing thread resumes goes through here, so none can miss
/// the annotation.
@inline(__always)
func withCompletionContinuation<T: Sendable>(_ body: (UnsafeContinuation<T, Never>) -> Void) async -> T {
    let value = await withUnsafeContinuation(body)
    ls_tsan_handoff_received()
    return value
}
