// libFuzzer target `raft`: the Raft record decoder (Sources/LogStore/Raft/RaftRecord.swift,
// docs/RAFT.md §1). RaftRecord is internal to LogStore: the debug build enables testable imports.
//
// Input: type, flags, key length, then key and value bytes. Invariants: decode succeeds
// exactly when the lengths are those of the type's layout (computed here from the table, not
// from RaftRecord), fails with `corrupt` otherwise, and a decoded record encodes back to the
// same key and value bytes.
import CLogStore
@testable import LogStore

/// (key length, value length or nil for any) of each Raft record type, per docs/RAFT.md §1.
private func layout(_ type: UInt8) -> (key: Int, value: Int?)? {
    switch type {
    case 16: return (24, nil)  // entry: group, index, term; value = payload
    case 17: return (8, 24)    // hard state: term, vote, commit
    case 18: return (8, 16)    // prefix truncation: first index, previous term
    case 19: return (8, 8)     // suffix truncation: last index
    case 20: return (8, 28)    // snapshot marker: index, term, file length, file CRC
    case 21: return (8, 0)     // group removal
    default: return nil
    }
}

private func encoded(_ record: RaftRecord, value original: [UInt8]) -> (key: [UInt8], value: [UInt8]) {
    switch record {
    case .entry(let group, let index, let term):
        return (RaftRecord.entryKey(group, index: index, term: term), original)
    case .hardState(let group, let state):
        let r = RaftRecord.hardStateRecord(group, state)
        return (r.key, r.value)
    case .truncatePrefix(let group, let firstIndex, let previousTerm):
        let r = RaftRecord.truncatePrefixRecord(group, firstIndex: firstIndex, previousTerm: previousTerm)
        return (r.key, r.value)
    case .truncateSuffix(let group, let lastIndex):
        let r = RaftRecord.truncateSuffixRecord(group, lastIndex: lastIndex)
        return (r.key, r.value)
    case .snapshot(let group, let marker):
        let r = RaftRecord.snapshotRecord(group, marker)
        return (r.key, r.value)
    case .removeGroup(let group):
        let r = RaftRecord.removeGroupRecord(group)
        return (r.key, r.value)
    }
}

private func recordType(_ record: RaftRecord) -> UInt8 {
    switch record {
    case .entry: return 16
    case .hardState: return 17
    case .truncatePrefix: return 18
    case .truncateSuffix: return 19
    case .snapshot: return 20
    case .removeGroup: return 21
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 3 else { return 0 }
    let keyLength = min(Int(data[2]), size - 3)
    let valueLength = size - 3 - keyLength
    let key = Array(UnsafeBufferPointer(start: data + 3, count: keyLength))
    let value = Array(UnsafeBufferPointer(start: data + 3 + keyLength, count: valueLength))
    var record = ls_read_record()
    record.lsn = 1
    record.type = data[0]
    record.flags = data[1]
    record.key_len = UInt32(keyLength)
    record.value_len = UInt32(valueLength)
    record.key = data + 3
    record.value = data + 3 + keyLength
    let shape = layout(data[0])
    let valid = shape.map { $0.key == keyLength && ($0.value == nil || $0.value == valueLength) } ?? false
    do {
        let decoded = try RaftRecord.decode(record)
        precondition(valid, "decoded a record whose lengths do not match type \(data[0])")
        precondition(recordType(decoded) == data[0], "decoded as another type")
        let again = encoded(decoded, value: value)
        precondition(again.key == key && again.value == value, "decode then encode changed the bytes")
    } catch {
        precondition(!valid, "refused a well-formed record of type \(data[0]): \(error)")
        precondition(error.kind == .corrupt, "refused with \(error.kind), not corrupt")
    }
    return 0
}
