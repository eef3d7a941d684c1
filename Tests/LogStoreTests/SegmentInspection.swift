import CLogStore
import Foundation

/// One frame found by walking a segment file's bytes (test-side, independent of the scanner).
struct FrameLocation {
    let offset: Int
    let diskSize: Int
    let flags: UInt16
    let recordCount: UInt32
    /// Offset just past the CRC-covered bytes (padding follows up to offset + diskSize).
    let bodyEnd: Int
    var isSeal: Bool { flags & UInt16(LS_FRAME_F_SEAL) != 0 }
}

/// Walks the frames of a segment file from its header until zeros or the end.
func frames(inSegment path: String) throws -> [FrameLocation] {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    var result: [FrameLocation] = []
    var offset = Int(LS_SEGMENT_HEADER_SIZE)
    while offset + Int(LS_FRAME_HEADER_SIZE) <= bytes.count {
        var header = ls_frame_header()
        var crc: UInt32 = 0
        let status = bytes.withUnsafeBufferPointer { ls_frame_header_decode($0.baseAddress! + offset, &header, &crc) }
        guard status == LS_FMT_OK else { break }
        let size = Int(ls_frame_disk_size(header.stored_len))
        result.append(FrameLocation(
            offset: offset, diskSize: size, flags: header.flags, recordCount: header.record_count,
            bodyEnd: offset + Int(LS_FRAME_HEADER_SIZE) + Int(header.stored_len)))
        if header.flags & UInt16(LS_FRAME_F_SEAL) != 0 { break }
        offset += size
    }
    return result
}

/// Segment files that hold at least one data frame, oldest first.
func dataSegments(_ dir: String) throws -> [String] {
    try segmentFiles(dir).filter { try frames(inSegment: $0).contains { !$0.isSeal } }
}

/// Copies a directory tree to a new temporary directory (so each damage case starts fresh).
func copyOfDirectory(_ source: String) -> TemporaryDirectory {
    let copy = TemporaryDirectory("logstore-copy")
    try! FileManager.default.copyItem(atPath: source, toPath: copy.logPath)
    return copy
}

/// Rewrites bytes of a file in place.
func mutateFile(_ path: String, _ body: (inout [UInt8]) -> Void) throws {
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    body(&bytes)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}
