import CLogStore

/// The contents of a Raft snapshot file in `snapshots/` (the file itself is written atomically
/// and checksummed by ``CommitLog/writeFile(named:bytes:)``). Layout, little-endian:
///
/// | offset | size | field                                  |
/// |--------|------|----------------------------------------|
/// | 0      | 8    | magic `LSRSNAP1`                       |
/// | 8      | 8    | group                                  |
/// | 16     | 8    | index                                  |
/// | 24     | 8    | term                                   |
/// | 32     | 4    | context length c                       |
/// | 36     | c    | context (opaque metadata)              |
/// | 36 + c | rest | data                                   |
enum RaftSnapshotFile {
    /// Identifies the contents as a Raft snapshot of this format.
    static let magic: [UInt8] = Array("LSRSNAP1".utf8)
    /// Bytes before the context.
    static let headerSize = 36
    /// The longest context accepted (it is metadata, not data).
    static let maxContextSize = 64 << 10
    /// Names start with this, so recovery can tell Raft snapshots from other files.
    static let namePrefix = "raft-"
    /// Names end with this.
    static let nameSuffix = ".snap"

    /// The file name of the snapshot of `group` at `index`: fixed-width hex, so names sort by
    /// group, then index.
    static func name(group: RaftGroupID, index: UInt64) -> String {
        namePrefix + hex16(group.rawValue) + "-" + hex16(index) + nameSuffix
    }

    /// The group and index a snapshot file name encodes, or nil for another file.
    static func parse(name: String) -> (group: RaftGroupID, index: UInt64)? {
        guard name.hasPrefix(namePrefix), name.hasSuffix(nameSuffix) else { return nil }
        let middle = name.dropFirst(namePrefix.count).dropLast(nameSuffix.count)
        let parts = middle.split(separator: "-")
        guard parts.count == 2, parts.allSatisfy({ $0.count == 16 }),
            let group = UInt64(parts[0], radix: 16), let index = UInt64(parts[1], radix: 16)
        else { return nil }
        return (RaftGroupID(group), index)
    }

    /// The file contents for `snapshot` of `group`.
    static func encode(_ snapshot: RaftSnapshot, group: RaftGroupID) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + snapshot.metadata.context.count + snapshot.data.count)
        out += magic
        out.appendWord(group.rawValue)
        out.appendWord(snapshot.metadata.index)
        out.appendWord(snapshot.metadata.term)
        withUnsafeBytes(of: UInt32(snapshot.metadata.context.count).littleEndian) { out += $0 }
        out += snapshot.metadata.context
        out += snapshot.data
        return out
    }

    /// Decodes file contents and checks them against the marker that names them.
    ///
    /// - Throws: ``StoreError/Kind/corrupt`` naming `path` when the contents are not the
    ///   snapshot the marker describes.
    static func decode(_ bytes: [UInt8], group: RaftGroupID, marker: RaftSnapshotMarker, path: String) throws(StoreError) -> RaftSnapshot {
        func corrupt(_ why: String) -> StoreError {
            StoreError(kind: .corrupt, message: "Raft snapshot of group \(group) at index \(marker.index): \(why)", path: path)
        }
        guard UInt64(bytes.count) == marker.fileLength else {
            throw corrupt("the file holds \(bytes.count) bytes, its marker record says \(marker.fileLength)")
        }
        let crc = bytes.withUnsafeBytes { ls_crc32c_mask(ls_crc32c_value($0.baseAddress, $0.count)) }
        guard crc == marker.fileCRC else { throw corrupt("the file's checksum differs from its marker record's") }
        guard bytes.count >= headerSize, Array(bytes[0..<magic.count]) == magic else { throw corrupt("bad magic") }
        let (fileGroup, index, term, contextLength) = bytes.withUnsafeBytes { raw in
            func word(_ at: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
            return (word(8), word(16), word(24), Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 32, as: UInt32.self))))
        }
        guard fileGroup == group.rawValue, index == marker.index, term == marker.term else {
            throw corrupt("the file names group \(fileGroup) index \(index) term \(term)")
        }
        guard contextLength <= bytes.count - headerSize else { throw corrupt("context length \(contextLength) past the end") }
        let metadata = RaftSnapshotMetadata(
            index: marker.index, term: marker.term, context: Array(bytes[headerSize..<headerSize + contextLength]))
        return RaftSnapshot(metadata: metadata, data: Array(bytes[(headerSize + contextLength)...]))
    }

    /// The marker for file contents `bytes` of a snapshot at (`index`, `term`).
    static func marker(for bytes: [UInt8], index: UInt64, term: UInt64) -> RaftSnapshotMarker {
        let crc = bytes.withUnsafeBytes { ls_crc32c_mask(ls_crc32c_value($0.baseAddress, $0.count)) }
        return RaftSnapshotMarker(index: index, term: term, fileLength: UInt64(bytes.count), fileCRC: crc)
    }

    private static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
