import CLogStore

/// One file in the store's `snapshots/` directory as a read-only inspection found it
/// (docs/FORMAT.md §12): a Raft snapshot or another whole file written atomically, with its own
/// header and checksums.
public struct InspectedFile: Sendable, Hashable {
    /// The file name inside `snapshots/`.
    public let name: String
    /// The full path.
    public let path: String
    /// The file's size in bytes (header included).
    public let fileSize: UInt64
    /// The data bytes its header states, if the header passed its checks.
    public let dataLength: UInt64?
    /// The masked CRC32C of the data as its header states it, if the header passed its checks.
    public let dataCRC: UInt32?
    /// Whether the header and the data passed every check (else a
    /// ``InspectionProblem/Kind/corruptFile`` problem names the file and offset).
    public let isIntact: Bool

    init(_ f: ls_inspect_file) {
        var copy = f
        name = withUnsafeBytes(of: &copy.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        path = withUnsafeBytes(of: &copy.path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        fileSize = f.file_size
        dataLength = f.header_ok != 0 ? f.data_len : nil
        dataCRC = f.header_ok != 0 ? f.data_crc : nil
        isIntact = f.ok != 0
    }
}

/// Follows the Raft snapshot markers in LSN order during an inspection, then checks each
/// group's newest one against the files in `snapshots/` (docs/RAFT.md §2): the file it names
/// must exist, and its data length and CRC must be the marker's. A group removal forgets the
/// group's marker (its file is deleted by the next open). Markers of damaged frames are not
/// seen, so after damage an older marker may be checked: its problem is then a consequence of
/// the damage already reported.
struct RaftSnapshotMarkerCheck {
    /// Per group: the newest marker and the LSN of its record.
    private var newest: [UInt64: (marker: RaftSnapshotMarker, lsn: LSN)] = [:]

    /// Applies a record of any type (only snapshot markers and group removals matter).
    mutating func apply(_ r: ls_inspect_record) {
        if r.type == RecordType.raftRemoveGroup.rawValue, r.key_len == UInt32(RaftRecord.groupKeySize) {
            newest[word(r.key, 0)] = nil
            return
        }
        guard r.type == RecordType.raftSnapshot.rawValue, r.key_len == UInt32(RaftRecord.groupKeySize),
            r.value_len == UInt32(RaftRecord.snapshotValueSize)
        else { return }
        let value = UnsafeRawPointer(r.value!)
        let marker = RaftSnapshotMarker(
            index: word(r.value, 0), term: word(r.value, 1), fileLength: word(r.value, 2),
            fileCRC: UInt32(littleEndian: value.loadUnaligned(fromByteOffset: 24, as: UInt32.self)))
        newest[word(r.key, 0)] = (marker, r.lsn)
    }

    /// The problems: one per group whose newest marker names a missing file or one whose
    /// length or CRC differ, in group order. `snapshotsDirectory` is `<root>/snapshots`.
    func problems(files: [InspectedFile], snapshotsDirectory: String) -> [InspectionProblem] {
        let byName = Dictionary(files.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var out: [InspectionProblem] = []
        for (group, (marker, lsn)) in newest.sorted(by: { $0.key < $1.key }) {
            let name = marker.fileName(group: RaftGroupID(group))
            let about = "group \(group)'s snapshot marker (LSN \(lsn), index \(marker.index))"
            func problem(_ message: String, offset: UInt64? = nil) {
                out.append(
                    InspectionProblem(
                        kind: .snapshotMismatch, isCorruption: true, path: snapshotsDirectory + "/" + name,
                        offset: offset, message: message))
            }
            guard let file = byName[name] else {
                problem("\(about) names snapshots/\(name), which does not exist")
                continue
            }
            // A file failing its own checks is reported as such; what its header says is unknown.
            guard let length = file.dataLength, let crc = file.dataCRC else { continue }
            if length != marker.fileLength {
                problem(
                    "\(about) says \(marker.fileLength) bytes, snapshots/\(name) holds \(length)",
                    offset: UInt64(LS_BLOB_HEADER_SIZE))
            } else if crc != marker.fileCRC {
                problem(
                    "\(about) and snapshots/\(name) disagree on the checksum of the contents (another file of that name?)",
                    offset: UInt64(LS_BLOB_HEADER_SIZE))
            }
        }
        return out
    }

    private func word(_ p: UnsafePointer<UInt8>?, _ i: Int) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(p!).loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
    }
}
