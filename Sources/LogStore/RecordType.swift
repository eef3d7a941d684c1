/// Record types of the upper layers, as stored in each record's type byte. The format
/// reserves 0 (so zeroed bytes never decode as a record) and 255 (zstd containers).
/// docs/FORMAT.md lists them; a type number, once used on disk, is never reused.
enum RecordType: UInt8 {
    /// Key-value put: key = namespace length (u8), namespace, user key; value = the value.
    case kvPut = 1
    /// Key-value delete (tombstone): key as for ``kvPut``; empty value.
    case kvDelete = 2
}
