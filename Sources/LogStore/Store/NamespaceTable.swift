/// Numbers the namespaces in use (in memory only: records carry the names), so the index
/// stores a 2-byte id per key instead of the name.
final class NamespaceTable: @unchecked Sendable {  // safe: `lock` guards both maps
    private let lock = ReadWriteLock()
    private var ids: [Namespace: UInt16] = [:]
    private var names: [Namespace] = []

    /// Up to this many namespaces, lookups scan `names` instead of hashing into `ids`.
    ///
    /// Every write looks its namespace up, and stores hold a handful of them: comparing a name
    /// costs a length check (and, for the caller's own `Namespace` value, a buffer identity
    /// check), while `ids` hashes the name through `Hasher` byte by byte.
    static let scanLimit = 8

    /// The id of a namespace seen before, else `nil` (then it holds no keys).
    func existingID(_ namespace: Namespace) -> UInt16? {
        lock.withReadLock {
            guard names.count <= Self.scanLimit else { return ids[namespace] }
            // Ids number the names in order of first use, so a name's id is its position.
            return names.firstIndex(of: namespace).map { UInt16(truncatingIfNeeded: $0) }
        }
    }

    /// The id of `namespace`, numbering it if new.
    ///
    /// - Throws: ``StoreError/Kind/invalidArgument`` past 65,535 namespaces.
    func id(_ namespace: Namespace) throws(StoreError) -> UInt16 {
        if let id = existingID(namespace) { return id }
        return try lock.withWriteLock { () throws(StoreError) -> UInt16 in
            if let id = ids[namespace] { return id }
            guard names.count < Int(UInt16.max) else {
                throw StoreError(kind: .invalidArgument, message: "a store holds at most 65,535 namespaces")
            }
            let id = UInt16(names.count)
            ids[namespace] = id
            names.append(namespace)
            return id
        }
    }

    /// Every namespace seen, in order of first use.
    var all: [Namespace] { lock.withReadLock { names } }
}

/// The key index behind a lock: many readers, one writer at a time (the log's completing thread
/// applying completions, or recovery).
final class StoreIndex: @unchecked Sendable {  // safe: `lock` guards `index`
    private let lock = ReadWriteLock()
    private var index: KeyIndex
    /// The index's slot table, read without the lock (see ``SlotTableHint``).
    private let slotHint: SlotTableHint

    init(expectedKeys: Int = 0) {
        index = KeyIndex(expectedKeys: expectedKeys)
        slotHint = index.slotHint
    }

    /// Starts loading the hash slot of `key` into the cache, without taking the lock: a put's
    /// caller calls it so the completing thread's insert a little later finds the slot cached.
    func prefetchSlot(_ namespace: UInt16, _ key: [UInt8]) {
        key.withUnsafeBytes { slotHint.prefetch(namespace: namespace, key: $0) }
    }

    func lookup(_ namespace: UInt16, _ key: [UInt8]) -> IndexEntry? {
        lock.withReadLock { key.withUnsafeBytes { index.lookup(namespace: namespace, key: $0) } }
    }

    /// Runs `body` with exclusive access (to apply several changes at once).
    func update<T>(_ body: (inout KeyIndex) -> T) -> T {
        lock.withWriteLock { body(&index) }
    }

    func scan(_ namespace: UInt16, prefix: [UInt8], after: [UInt8]?, limit: Int) -> [(key: [UInt8], entry: IndexEntry)] {
        lock.withReadLock { index.scan(namespace: namespace, prefix: prefix, after: after, limit: limit) }
    }

    var count: Int { lock.withReadLock { index.count } }
    var memoryBytes: Int { lock.withReadLock { index.memoryBytes } }
}
