import Foundation

/// The files of a store's `segments/` directory with their sizes, taken just before and just
/// after a point-in-time or salvage open.
///
/// The library reports what recovery dropped as totals and the first damage
/// (``RecoveryReport/DroppedData``); the two listings add what the open did to each file: the
/// byte range cut off the damaged segment (its size before minus where it was cut) and the
/// segments renamed to `<name>.dropped`. Listing a directory costs one `readdir` and a `stat`
/// per file, nothing next to recovery's scan of every byte.
struct SegmentListing: Sendable {
    /// Size in bytes of each file, by file name.
    let sizes: [String: UInt64]

    /// The files of `<store>/segments`, or none when it cannot be listed (a new store).
    init(store path: String) {
        let directory = path + "/segments"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var sizes: [String: UInt64] = [:]
        for name in names {
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)
            sizes[name] = (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
        }
        self.sizes = sizes
    }

    /// Segments this open renamed to `<name>.dropped`: in `after` but not in `self`, in
    /// sequence order, with their sizes.
    func droppedFiles(after: SegmentListing) -> [(name: String, bytes: UInt64)] {
        after.sizes.filter { $0.key.hasSuffix(".dropped") && sizes[$0.key] == nil }
            .sorted { Self.sequence($0.key) < Self.sequence($1.key) }
            .map { (name: $0.key, bytes: $0.value) }
    }

    /// The sequence part of `seg-<writer>-<sequence>.log[.dropped]` (fixed-width hex digits, so
    /// they sort as text), or the whole name if it has no such part.
    private static func sequence(_ name: String) -> Substring {
        let parts = name.split(separator: "-")
        return parts.count >= 3 ? parts[2] : Substring(name)
    }
}
