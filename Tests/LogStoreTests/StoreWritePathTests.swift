import CLogStore
import Testing

@testable import LogStore

/// The parts of the store's write path that avoid copies and hashing: the C records built for an
/// append (Sources/LogStore/Store/KVRecord.swift) and the namespace numbering
/// (Sources/LogStore/Store/NamespaceTable.swift), in particular past its scanning limit.
@Suite struct StoreWritePathTests {
    /// The record type, key and value of each C record `withCRecords` hands over, as arrays.
    static func cRecords(_ writes: PreparedWrites) -> [(type: UInt8, key: [UInt8], value: [UInt8])] {
        var seen: [(type: UInt8, key: [UInt8], value: [UInt8])] = []
        let status = KVRecord.withCRecords(writes) { records in
            for r in UnsafeBufferPointer(start: records, count: writes.count) {
                #expect(r.flags == 0)
                let key = Array(UnsafeBufferPointer(start: r.key, count: Int(r.key_len)))
                let value = r.value_len == 0 ? [] : Array(UnsafeBufferPointer(start: r.value, count: Int(r.value_len)))
                seen.append((r.type, key, value))
            }
            return 7
        }
        #expect(status == 7, "the body's status is returned")
        return seen
    }

    @Test("one write: the record key is the encoded key, the value passed as it is")
    func oneWrite() throws {
        let ns = try Namespace("users")
        let put = PreparedWrite(namespace: ns, id: 3, key: Array("alice".utf8), value: [1, 2, 3])
        let records = Self.cRecords(.one(put))
        #expect(records.count == 1)
        #expect(records[0].type == RecordType.kvPut.rawValue)
        #expect(records[0].key == KVRecord.encodeKey(ns, Array("alice".utf8)))
        #expect(records[0].value == [1, 2, 3])
        let delete = PreparedWrite(namespace: ns, id: 3, key: [0], value: nil)
        let tombstone = Self.cRecords(.one(delete))
        #expect(tombstone.count == 1)
        #expect(tombstone[0].type == RecordType.kvDelete.rawValue)
        #expect(tombstone[0].key == KVRecord.encodeKey(ns, [0]))
        #expect(tombstone[0].value.isEmpty)
    }

    @Test("a batch: every record key and value, in order, across namespaces, puts and deletes, empty values")
    func batch() throws {
        var random = SplitMix(state: 11)
        let namespaces = [try Namespace("a"), try Namespace("objects"), try Namespace(String(repeating: "n", count: 64))]
        var writes: [PreparedWrite] = []
        for i in 0..<50 {
            let ns = namespaces[i % namespaces.count]
            let key = (0..<Int(random.next() % 300 + 1)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let value: [UInt8]? =
                i % 7 == 0 ? nil : (0..<Int(random.next() % 2000)).map { _ in UInt8.random(in: 0...255, using: &random) }
            writes.append(PreparedWrite(namespace: ns, id: UInt16(i % namespaces.count), key: key, value: value))
        }
        let records = Self.cRecords(.many(writes))
        #expect(records.count == writes.count)
        for (record, write) in zip(records, writes) {
            #expect(record.type == (write.value == nil ? RecordType.kvDelete : RecordType.kvPut).rawValue)
            #expect(record.key == KVRecord.encodeKey(write.namespace, write.key))
            #expect(record.key.count == write.recordKeyLength)
            #expect(record.value == write.value ?? [])
        }
    }

    @Test("namespace ids stay stable below and above the scanning limit")
    func namespaceIDs() throws {
        let table = NamespaceTable()
        let count = NamespaceTable.scanLimit * 3
        let names = try (0..<count).map { try Namespace("ns-\($0)") }
        for (i, name) in names.enumerated() {
            #expect(table.existingID(name) == nil)
            #expect(try table.id(name) == UInt16(i))
            // Every earlier name keeps its id, looked up by an equal value built anew (another buffer).
            for (j, earlier) in names[...i].enumerated() {
                #expect(table.existingID(try Namespace(earlier.name)) == UInt16(j))
            }
        }
        #expect(table.all == names)
    }
}
