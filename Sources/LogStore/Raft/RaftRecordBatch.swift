import CLogStore

/// Raft records encoded into one flat buffer, ready to hand to the log as one atomic append
/// without a per-record allocation: keys and values are laid out back to back and the C
/// records point into the buffer.
struct RaftRecordBatch: Sendable {
    /// One record: its type and where its key and value are in `bytes`.
    struct Item: Sendable {
        var type: UInt8
        var keyStart: Int
        var keyLength: Int
        var valueLength: Int
    }

    private(set) var bytes: [UInt8] = []
    private(set) var items: [Item] = []

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    /// Key and value bytes of every record.
    var payloadBytes: Int { bytes.count }
    /// Bytes the records take in a frame body (headers, keys, values).
    var encodedSize: Int { items.count * Int(LS_RECORD_HEADER_SIZE) + bytes.count }

    init(reservingBytes: Int = 0, records: Int = 0) {
        bytes.reserveCapacity(reservingBytes)
        items.reserveCapacity(records)
    }

    /// The records of `parts`' mutations, in order. The byte buffer is allocated once, at its
    /// final size, and written in place (appending to it cost about 40 ns per 256-byte entry,
    /// 10 µs of every 256-entry append, on the caller's way to the log).
    init(encoding parts: some Collection<(group: RaftGroupID, mutations: [RaftMutation])>) {
        var reserve = 0, records = 0
        for part in parts {
            for mutation in part.mutations {
                reserve += mutation.encodedPayloadBytes
                records += mutation.recordCount
            }
        }
        var items: [Item] = []
        bytes = [UInt8](unsafeUninitializedCapacity: reserve) { buffer, initialized in
            var writer = Writer(buffer: UnsafeMutableRawBufferPointer(buffer), records: records)
            for part in parts {
                for mutation in part.mutations { mutation.encode(part.group, into: &writer) }
            }
            initialized = writer.count
            items = writer.items
        }
        self.items = items
    }

    /// Writes records into the buffer of a batch being made by ``init(encoding:)``, which is
    /// as large as the mutations' ``RaftMutation/encodedPayloadBytes`` say.
    struct Writer {
        private let buffer: UnsafeMutableRawBufferPointer
        /// Bytes written so far.
        private(set) var count = 0
        /// The records written so far.
        private(set) var items: [Item] = []

        fileprivate init(buffer: UnsafeMutableRawBufferPointer, records: Int) {
            self.buffer = buffer
            items.reserveCapacity(records)
        }

        /// Adds an entry record.
        mutating func addEntry(_ group: RaftGroupID, _ entry: RaftEntry) {
            let start = count
            store(group.rawValue)
            store(entry.index)
            store(entry.term)
            copy(entry.payload)
            items.append(
                Item(type: RecordType.raftEntry.rawValue, keyStart: start, keyLength: RaftRecord.entryKeySize,
                     valueLength: entry.payload.count))
        }

        /// Adds a record built as a ``LogRecord`` (the small control records).
        mutating func add(_ record: LogRecord) {
            let start = count
            copy(record.key)
            copy(record.value)
            items.append(Item(type: record.type, keyStart: start, keyLength: record.key.count, valueLength: record.value.count))
        }

        private mutating func store(_ word: UInt64) {
            precondition(count + 8 <= buffer.count, "a Raft record batch outgrew the size its mutations reserved")
            buffer.storeBytes(of: word.littleEndian, toByteOffset: count, as: UInt64.self)
            count += 8
        }

        private mutating func copy(_ bytes: [UInt8]) {
            precondition(count + bytes.count <= buffer.count, "a Raft record batch outgrew the size its mutations reserved")
            bytes.withUnsafeBytes { source in
                guard let base = source.baseAddress, !source.isEmpty else { return }
                (buffer.baseAddress! + count).copyMemory(from: base, byteCount: source.count)
            }
            count += bytes.count
        }
    }

    /// Appends every record of `other` after these.
    mutating func append(contentsOf other: RaftRecordBatch) {
        let shift = bytes.count
        bytes += other.bytes
        items.reserveCapacity(items.count + other.items.count)
        for var item in other.items {
            item.keyStart += shift
            items.append(item)
        }
    }

    /// Bytes record `i` takes in a frame body (header, key, value; records are packed).
    func encodedSize(of i: Int) -> UInt64 {
        UInt64(Int(LS_RECORD_HEADER_SIZE) + items[i].keyLength + items[i].valueLength)
    }

    /// Calls `body` with C views of the records, valid during the call (the C encoder copies
    /// synchronously).
    func withCRecords(_ body: (UnsafeMutablePointer<ls_record>) -> Int32) -> Int32 {
        bytes.withUnsafeBufferPointer { buffer in
            withUnsafeTemporaryAllocation(of: ls_record.self, capacity: items.count) { records in
                for (i, item) in items.enumerated() {
                    let key = buffer.baseAddress.map { $0 + item.keyStart }
                    records.initializeElement(
                        at: i,
                        to: ls_record(
                            type: item.type, flags: 0, key_len: UInt32(item.keyLength), value_len: UInt32(item.valueLength),
                            key: key, value: key.map { $0 + item.keyLength }))
                }
                return body(records.baseAddress!)
            }
        }
    }
}
