/// Where a record's bytes are: segment sequence, byte offset of the record in the segment file, and
/// (for records inside a zstd container record) the item index within the container.
struct RecordLocation: Hashable, Sendable {
    /// The `item` value of a record that is not inside a container.
    static let plain: UInt32 = .max

    /// Sequence number of the segment holding the record.
    var segment: UInt64
    /// Byte offset of the record (or of its container record) in the segment file.
    var offset: UInt64
    /// Index of the record within its container, or ``plain``.
    var item: UInt32

    /// Creates a location; `item` defaults to ``plain`` (not in a container).
    init(segment: UInt64, offset: UInt64, item: UInt32 = RecordLocation.plain) {
        self.segment = segment
        self.offset = offset
        self.item = item
    }

    /// One combine of the three fields folded together instead of three: caches hash a
    /// location per entry read or written (256 per append of 256 Raft entries).
    func hash(into hasher: inout Hasher) {
        hasher.combine(offset ^ (segment &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(item) << 40))
    }
}

/// What the index knows about the current value of one key.
struct IndexEntry: Hashable, Sendable {
    /// The record's LSN; compare-and-swap compares against it.
    var version: UInt64
    /// Where the record is.
    var location: RecordLocation
    /// Length of the value in bytes, so `get` can size its buffer before reading.
    var valueLength: UInt32
}

/// The index's stored form of one entry: 48 bytes, holding the first 16 key bytes inline.
///
/// The head of the key sits in the entry because every lookup reads the entry anyway: for keys
/// of up to 16 bytes a lookup or an ordered comparison then touches no other memory, and the
/// arena holds only the bytes after the 16th. (For 16-byte keys this costs no more than storing
/// the whole key in the arena: 48 + 0 bytes instead of 32 + 16.)
///
/// The head is kept as two big-endian words, zero-padded, so comparing them as integers
/// compares the bytes (see ``KeyBytes/head(_:_:)``). Segment sequence and offset are narrowed to
/// 32 bits (see ``KeyIndex/maxSegment`` and ``KeyIndex/maxOffset``).
struct PackedEntry {
    /// The record's LSN.
    var version: UInt64
    /// Key bytes 0..<8, big-endian, zero-padded.
    var head0: UInt64
    /// Key bytes 8..<16, big-endian, zero-padded.
    var head1: UInt64
    /// Segment sequence, narrowed.
    var segment: UInt32
    /// Byte offset in the segment, narrowed (segments are at most 1 GiB).
    var offset: UInt32
    /// Item index within a container, or ``RecordLocation/plain``.
    var item: UInt32
    /// Value length in bytes.
    var valueLength: UInt32
    /// Word (4-byte) offset in the arena of the key bytes after the 16th (keys longer than 16
    /// bytes only); for a free entry, the next free id.
    var keyRef: UInt32
    /// Namespace id.
    var namespace: UInt16
    /// Key length in bytes.
    var keyLength: UInt16

    /// Key bytes held inline.
    static let headBytes = 16

    /// The layout this type is designed for; checked by the tests and by `KeyIndex.init`.
    static let expectedStride = 48

    /// Packs the location part of `entry`, keeping `keyRef`, `namespace` and `keyLength`.
    ///
    /// - Precondition: the location fits the narrowed fields (`KeyIndex.maxSegment`,
    ///   `KeyIndex.maxOffset`); both are limits of the store, not of user input.
    @inline(__always)
    mutating func store(_ entry: IndexEntry) {
        precondition(entry.location.segment <= KeyIndex.maxSegment, "segment sequence exceeds the index's 32-bit limit")
        precondition(entry.location.offset <= KeyIndex.maxOffset, "segment offset exceeds the index's 32-bit limit")
        version = entry.version
        segment = UInt32(truncatingIfNeeded: entry.location.segment)
        offset = UInt32(truncatingIfNeeded: entry.location.offset)
        item = entry.location.item
        valueLength = entry.valueLength
    }

    /// The public form of the stored fields.
    @inline(__always)
    var entry: IndexEntry {
        IndexEntry(
            version: version,
            location: RecordLocation(segment: UInt64(segment), offset: UInt64(offset), item: item),
            valueLength: valueLength)
    }
}
