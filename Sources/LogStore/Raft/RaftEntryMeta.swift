/// What the store keeps in memory about one retained entry: its term, where its record is,
/// its payload length and (MemFirst, or before DiskFirst learns the location) the payload.
///
/// A busy group retains millions of these, so the location is stored as its three fields
/// rather than as a `RecordLocation?`, whose tag byte would pad the stride from 40 to 48 bytes.
/// "No location" is an `item` no record can have (see ``noLocation``).
struct RaftEntryMeta: Sendable {
    /// The `item` that marks "no location". A real item is ``RecordLocation/plain`` or an index
    /// inside a container, and a container, bounded by what one append can hold, never has
    /// anywhere near 2³² − 2 records.
    private static let noLocation: UInt32 = RecordLocation.plain - 1

    /// The entry's term.
    var term: UInt64
    // The location's fields, declared next to each other so that `item` and `payloadLength`
    // share one 8-byte word.
    private var segment: UInt64
    private var offset: UInt64
    private var item: UInt32
    /// The payload's length in bytes, whether or not the payload is kept.
    var payloadLength: UInt32
    /// The payload when it is kept in memory (MemFirst), else `nil`.
    var payload: [UInt8]?

    /// Creates the metadata of an entry of `term` whose record is at `location` (`nil` until
    /// the record is durable, MemFirst).
    init(term: UInt64, location: RecordLocation?, payloadLength: UInt32, payload: [UInt8]?) {
        self.term = term
        segment = 0
        offset = 0
        item = Self.noLocation
        self.payloadLength = payloadLength
        self.payload = payload
        self.location = location
    }

    /// Where the entry's record is; `nil` until the record is durable (MemFirst).
    var location: RecordLocation? {
        get { item == Self.noLocation ? nil : RecordLocation(segment: segment, offset: offset, item: item) }
        set {
            guard let newValue else {
                item = Self.noLocation
                return
            }
            assert(newValue.item != Self.noLocation, "item \(newValue.item) is reserved for no location")
            segment = newValue.segment
            offset = newValue.offset
            item = newValue.item
        }
    }
}
