/// Record types of the upper layers, as stored in each record's type byte. The format
/// reserves 0 (so zeroed bytes never decode as a record) and 255 (zstd containers).
/// docs/FORMAT.md lists them; a type number, once used on disk, is never reused.
enum RecordType: UInt8 {
    /// Key-value put: key = namespace length (u8), namespace, user key; value = the value.
    case kvPut = 1
    /// Key-value delete (tombstone): key as for ``kvPut``; empty value.
    case kvDelete = 2
    /// Raft entry: key = group, index, term (u64 LE each); value = the payload. An entry at
    /// index i replaces the group's entries from i on (a conflicting suffix).
    case raftEntry = 16
    /// Raft hard state: key = group; value = term, vote, commit (u64 LE each).
    case raftHardState = 17
    /// Raft prefix truncation: key = group; value = the new first index and the term of the
    /// entry just before it (u64 LE each).
    case raftTruncatePrefix = 18
    /// Raft suffix truncation: key = group; value = the new last index (u64 LE).
    case raftTruncateSuffix = 19
    /// Raft snapshot marker: key = group; value = index, term (u64 LE), then the length (u64 LE)
    /// and masked CRC32C (u32 LE) of the snapshot file's contents.
    case raftSnapshot = 20
    /// Raft group removal: key = group; empty value. Everything the group had is garbage.
    case raftRemoveGroup = 21

    /// True for the types the Raft log owns.
    var isRaft: Bool { rawValue >= 16 && rawValue <= 21 }
}
