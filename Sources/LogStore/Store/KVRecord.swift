import CLogStore

/// The key-value store's record encoding: key = namespace length (u8), namespace bytes, user
/// key; value = the value (empty for a delete). docs/FORMAT.md §"Key-value records".
enum KVRecord {
    /// The record key for (namespace, key).
    static func encodeKey(_ namespace: Namespace, _ key: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1 + namespace.bytes.count + key.count)
        out.append(UInt8(namespace.bytes.count))
        out += namespace.bytes
        out += key
        return out
    }

    /// Writes the record key for (namespace, key) at the start of `out`, which holds at least
    /// `1 + namespace.bytes.count + key.count` bytes; returns how many it wrote.
    @inline(__always)
    static func encodeKey(_ namespace: Namespace, _ key: [UInt8], into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        out[0] = UInt8(namespace.bytes.count)
        let end = copy(namespace.bytes, into: out, at: 1)
        return copy(key, into: out, at: end)
    }

    /// Copies `bytes` into `out` at offset `at`; returns the offset after them.
    @inline(__always)
    private static func copy(_ bytes: [UInt8], into out: UnsafeMutableBufferPointer<UInt8>, at: Int) -> Int {
        bytes.withUnsafeBufferPointer { bytes in
            _ = UnsafeMutableBufferPointer(rebasing: out[at..<at + bytes.count]).initialize(fromContentsOf: bytes)
        }
        return at + bytes.count
    }

    /// Calls `body` with the C records of `writes`, valid only during the call (the C log copies
    /// them before `ls_log_append` returns), and returns what `body` returns.
    ///
    /// A single write's record key is encoded into a temporary buffer (on the stack for keys up
    /// to a few hundred bytes) and its value is passed where it is: no heap allocation. Several
    /// writes go through one temporary flat buffer of every record key and value, which keeps
    /// them all pinned at once.
    ///
    /// - Precondition: every value is at most `UInt32.max` bytes (the store checks it first).
    static func withCRecords(_ writes: PreparedWrites, _ body: (UnsafeMutablePointer<ls_record>) -> Int32) -> Int32 {
        if case .one(let write) = writes {
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: write.recordKeyLength) { key in
                let keyLength = encodeKey(write.namespace, write.key, into: key)
                return (write.value ?? []).withUnsafeBufferPointer { value in
                    var record = ls_record(type: write.recordType, key: UnsafeBufferPointer(rebasing: key[..<keyLength]), value: value)
                    return body(&record)
                }
            }
        }
        var bytes = 0
        writes.forEachWrite { _, write in bytes += write.recordKeyLength + (write.value?.count ?? 0) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bytes) { flat in
            withUnsafeTemporaryAllocation(of: ls_record.self, capacity: writes.count) { records in
                var at = 0
                writes.forEachWrite { i, write in
                    let keyStart = at
                    at += encodeKey(write.namespace, write.pendingKey.key, into: UnsafeMutableBufferPointer(rebasing: flat[at...]))
                    let key = UnsafeBufferPointer(rebasing: flat[keyStart..<at])
                    let valueStart = at
                    if write.value != nil { at = copy(write.value!, into: flat, at: at) }
                    let value = UnsafeBufferPointer(rebasing: flat[valueStart..<at])
                    records.initializeElement(at: i, to: ls_record(type: write.recordType, key: key, value: value))
                }
                return body(records.baseAddress!)
            }
        }
    }

    /// Splits a record key into namespace and user key.
    ///
    /// - Throws: ``StoreError/Kind/corrupt`` for a key that no store wrote (its CRC matched,
    ///   so this is a foreign or buggy writer, not bit rot).
    static func decodeKey(_ bytes: UnsafeBufferPointer<UInt8>, lsn: LSN) throws(StoreError) -> (Namespace, UnsafeBufferPointer<UInt8>) {
        guard let length = bytes.first, bytes.count >= 1 + Int(length) else {
            throw StoreError(kind: .corrupt, message: "key-value record at LSN \(lsn) has a malformed key")
        }
        let name: Namespace
        do {
            name = try Namespace(validating: Array(bytes[1..<1 + Int(length)]))
        } catch {
            throw StoreError(kind: .corrupt, message: "key-value record at LSN \(lsn) names an invalid namespace: \(error.message)")
        }
        return (name, UnsafeBufferPointer(rebasing: bytes[(1 + Int(length))...]))
    }

    /// Bytes a record takes in a frame body (records are packed back to back).
    static func encodedSize(keyLength: Int, valueLength: Int) -> UInt64 {
        UInt64(Int(LS_RECORD_HEADER_SIZE) + keyLength + valueLength)
    }
}

extension ls_record {
    /// The C view of a key-value record (no flags) with the given key and value bytes.
    init(type: UInt8, key: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        self.init(
            type: type, flags: 0, key_len: UInt32(truncatingIfNeeded: key.count),
            value_len: UInt32(truncatingIfNeeded: value.count), key: key.baseAddress, value: value.baseAddress)
    }
}
