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
