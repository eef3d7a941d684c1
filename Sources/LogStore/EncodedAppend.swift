import CLogStore

/// An append encoded by ``CommitLog/encode(count:_:)`` (records framed and checksummed, and
/// compressed from the threshold) and not yet queued. ``CommitLog/submit(_:waiter:)`` uses it up;
/// one never submitted is freed with this object.
///
/// Used by one writer at a time: the key-value store encodes a write before it takes its write
/// lock, then queues it under the lock, keeping the copying and checksumming out of it.
final class EncodedAppend: @unchecked Sendable {  // safe: one owner at a time, as above
    private var pointer: OpaquePointer?

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit {
        if let pointer { ls_encoded_append_free(pointer) }
    }

    /// The C append, handed over to the caller (who must submit or free it); `nil` once taken.
    func take() -> OpaquePointer? {
        defer { pointer = nil }
        return pointer
    }
}
