/// A put (value) or delete (nil) ready to queue: validated, its namespace numbered, its key hashed.
struct PreparedWrite: Sendable {
    /// The namespace, whose name goes into the record key.
    let namespace: Namespace
    /// The namespace id, the user key and their hash, as ``PendingWrites`` tracks them.
    let pendingKey: PendingKey
    /// The value of a put; `nil` for a delete.
    let value: [UInt8]?

    /// Prepares a write of `key` in `namespace` (numbered `id`).
    init(namespace: Namespace, id: UInt16, key: [UInt8], value: [UInt8]?) {
        self.namespace = namespace
        self.value = value
        pendingKey = PendingKey(namespace: id, key: key)
    }

    /// The namespace id.
    var id: UInt16 { pendingKey.namespace }
    /// The user key.
    var key: [UInt8] { pendingKey.key }
    /// The record type: a put or a delete.
    var recordType: UInt8 { value == nil ? RecordType.kvDelete.rawValue : RecordType.kvPut.rawValue }
    /// The length of the record key: namespace length byte, namespace, user key.
    var recordKeyLength: Int { 1 + namespace.bytes.count + pendingKey.key.count }
}

/// The writes of one append, in order: one (a put, delete or compare-and-swap), held inline so
/// that a single write allocates no array, or several (a batch).
enum PreparedWrites: RandomAccessCollection, Sendable {
    case one(PreparedWrite)
    case many([PreparedWrite])

    /// 0.
    var startIndex: Int { 0 }

    /// The number of writes.
    var endIndex: Int {
        switch self {
        case .one: 1
        case .many(let writes): writes.count
        }
    }

    /// Calls `body` with the position and a borrow of each write, in order.
    ///
    /// The hot paths use this instead of `for write in writes`: iterating copies the collection
    /// and each write, retaining the namespace, key and value arrays. Those are shared by many
    /// tasks (one value buffer for every put of a caller, one namespace for all), so each retain
    /// and release is an atomic operation on a cache line the other cores also write.
    @inline(__always)
    func forEachWrite(_ body: (Int, borrowing PreparedWrite) -> Void) {
        switch self {
        case .one(let write): body(0, write)
        case .many(let writes): for i in writes.indices { body(i, writes[i]) }
        }
    }

    /// The write at `position`.
    subscript(position: Int) -> PreparedWrite {
        switch self {
        case .one(let write):
            precondition(position == 0, "index out of range")
            return write
        case .many(let writes): return writes[position]
        }
    }
}

/// A version condition ready to check.
struct PreparedCondition: Sendable {
    /// The namespace (for messages).
    let namespace: Namespace
    /// The namespace id.
    let id: UInt16
    /// The user key.
    let key: [UInt8]
    /// The version the key must be at (``Version/absent``: must not exist).
    let version: Version

    /// The key as ``PendingWrites`` tracks it (hashed on each call: conditions are rare).
    var pendingKey: PendingKey { PendingKey(namespace: id, key: key) }
}
