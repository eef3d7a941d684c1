import CLogStore

/// The key-value store's in-memory index: `(namespace, key)` to ``IndexEntry``, compact and fast.
///
/// ## Layout (per key, 16-byte keys)
/// - Entry table: one 48-byte ``PackedEntry`` per key (version, narrowed location, value length,
///   namespace, key length, the first 16 key bytes, a reference to the rest). Removed entries
///   form a free list through `keyRef`. A ``ChunkedArray``: growing it never copies entries.
/// - ``KeyArena``: key bytes after the 16th, rounded up to 4-byte words (none for 16-byte keys);
///   chunked too.
/// - Hash table: open addressing with linear probing over 8-byte slots, each
///   `hashTag << 32 | (id + 1)` (0 = empty). The tag (high 32 bits of the hash) also picks the
///   home slot (`tag * capacity >> 32`), so slots can be moved on growth and on deletion without
///   re-reading keys. Load stays at most 0.85; deletion shifts later slots back, so there are no
///   tombstones.
/// - ``OrderedKeys`` (only once a scan has been asked for): ~4.7 bytes per key.
///
/// A lookup of a key of up to 16 bytes touches one slot and one entry (and the small table of
/// entry chunks); longer keys add one arena read.
///
/// Growth: the entry table and the arena add chunks without moving what they hold, so inserting a
/// new key never copies the index (only the small first chunk is copied while it doubles). The
/// hash table still rehashes into a 1.5 times larger one when full: 8 bytes per slot, read
/// sequentially, no keys read.
///
/// The ordered structure is built lazily by the first ``scan(namespace:prefix:after:limit:)`` or
/// ``prepareForScans()`` (one sort of all keys), then maintained on every insert of a new key and
/// every remove. Keeping it from the start would multiply the cost of bulk loading (recovery
/// inserts every key once, and an ordered insert compares through the arena), and a store that
/// never lists keys never pays for it.
///
/// ## Limits
/// Keys are at most ``maxKeyLength`` bytes; segment sequences at most ``maxSegment``; offsets at
/// most ``maxOffset``; at most `UInt32.max - 1` keys; at most 16 GiB of key bytes. The store checks
/// keys before they reach the index; passing more is a programming error (precondition).
///
/// ## Thread safety
/// Not thread-safe. The store guards it with a reader-writer lock: the non-mutating members
/// (`lookup`, `scan`, `count`, `memoryBytes`) under the read lock, concurrently; `mutating` ones
/// under the write lock. The lazy build inside `scan` has its own lock (``OrderedKeysBox``), so
/// concurrent first scans build once.
struct KeyIndex {
    /// The hash of one key in one index (its seed): see ``hash(namespace:key:)``.
    struct KeyHash {
        /// The high 32 bits of the key's hash: picks its home slot and is stored in its slot.
        let tag: UInt32
    }

    /// Longest key the index stores, in bytes.
    static let maxKeyLength = Int(UInt16.max)
    /// Largest segment sequence the index stores (it keeps 32 bits).
    static let maxSegment = UInt64(UInt32.max)
    /// Largest record offset the index stores (it keeps 32 bits; segments are at most 1 GiB).
    static let maxOffset = UInt64(UInt32.max)

    /// Smallest hash table.
    private static let minimumSlots = 16
    /// Maximum load, as a fraction `maxLoadNumerator / maxLoadDenominator` (0.85): linear probing
    /// still averages under four slots (half a cache line) per successful lookup there.
    private static let maxLoadNumerator = 17, maxLoadDenominator = 20
    /// End of the free list.
    private static let noFreeEntry = UInt32.max
    /// `log2` of the entries per chunk of the entry table: 2^17 entries of 48 bytes are 6 MiB,
    /// exactly three 2 MiB huge pages (chunks are huge-page aligned). Big enough that the chunk
    /// table stays tiny (8 chunks for a million keys, 32,768 at the 2^32 id limit) and that
    /// chunk allocations are rare; small enough that the unused tail of the last chunk (at most
    /// 6 MiB, untouched memory) and the one-off copies of the doubling first chunk stay small.
    static let entryChunkShift = 17

    /// Hash slots: `tag << 32 | (id + 1)`, or 0 when empty.
    private var slots: ContiguousArray<UInt64>
    /// Entry table, indexed by id.
    private var entries: ChunkedArray<PackedEntry>
    /// Key bytes.
    private var arena: KeyArena
    /// Ids in key order, once a scan has been asked for.
    private var ordered = OrderedKeysBox()
    /// First free entry id, or `noFreeEntry`.
    private var freeHead = KeyIndex.noFreeEntry
    /// Random hash seed, so crafted keys cannot force long probe chains.
    private let seed: UInt64
    /// The current slot table, for prefetching without the owner's lock (see ``SlotTableHint``).
    let slotHint: SlotTableHint
    /// Keys held.
    private(set) var count = 0
    /// Hash slots in the table (for tests).
    var slotCount: Int { slots.count }

    /// Creates an empty index sized for `expectedKeys` keys of about `expectedKeyBytes` bytes in
    /// total, so bulk loading (recovery) does not grow the tables.
    ///
    /// `entryChunkShift` and `arenaChunkShift` set the chunk sizes of the entry table and the key
    /// arena (`log2` of entries and of 4-byte words); only tests pass other values than the
    /// defaults, to cross many chunk boundaries with few keys. An arena chunk must hold the longest
    /// key tail inserted (key length - 16, rounded up to words).
    init(
        expectedKeys: Int = 0, expectedKeyBytes: Int = 0, entryChunkShift: Int = KeyIndex.entryChunkShift,
        arenaChunkShift: Int = KeyArena.chunkShift
    ) {
        precondition(MemoryLayout<PackedEntry>.stride == PackedEntry.expectedStride, "PackedEntry layout changed")
        let expected = max(0, expectedKeys)
        // Load 0.8 at `expectedKeys`, a little under the limit, so the last inserts do not grow it.
        slots = .zeroedLarge(
            count: max(Self.minimumSlots, expected * Self.maxLoadDenominator / (Self.maxLoadNumerator - 1) + 1))
        entries = ChunkedArray(chunkShift: entryChunkShift)
        entries.reserveCapacity(expected)
        // Only bytes after the 16th of each key go to the arena.
        arena = KeyArena(reservingBytes: max(0, expectedKeyBytes - expected * PackedEntry.headBytes), chunkShift: arenaChunkShift)
        var rng = SystemRandomNumberGenerator()
        seed = rng.next()
        slotHint = SlotTableHint(seed: seed)
        slots.withUnsafeBufferPointer { slotHint.publish($0) }
    }

    /// Heap bytes the index holds (allocated capacities, not counts).
    var memoryBytes: Int {
        slots.capacity * MemoryLayout<UInt64>.stride + entries.memoryBytes + arena.memoryBytes + ordered.memoryBytes
    }

    /// Whether the ordered structure exists (so a scan costs O(log n + results)).
    var isPreparedForScans: Bool { ordered.isBuilt }

    /// How many times the key arena has been compacted (for tests).
    var arenaCompactions: Int { arena.compactions }

    // MARK: Hash table

    /// The home slot of `tag` in a table of `capacity` slots (multiply-shift range reduction).
    @inline(__always)
    static func home(_ tag: UInt32, _ capacity: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(tag) &* UInt64(capacity)) >> 32)
    }

    /// Result of probing for a key.
    private enum Probe {
        /// The key is at this slot, with this entry id.
        case found(slot: Int, id: UInt32)
        /// The key is absent; this empty slot ends its probe sequence.
        case absent(slot: Int)
    }

    /// Probes for `(namespace, key)` whose hash tag is `tag`.
    @inline(__always)
    private func probe(_ namespace: UInt16, _ key: UnsafeRawBufferPointer, tag: UInt32) -> Probe {
        arena.withView { arena in
            let keyBytes = key.baseAddress ?? arena.tail(0)  // any valid address will do for an empty key
            let count = key.count, headBytes = PackedEntry.headBytes
            let (head0, head1) = KeyBytes.head(keyBytes, count)
            return slots.withUnsafeBufferPointer { slots in
                entries.withUnsafeView { entries in
                    let capacity = slots.count
                    var i = Self.home(tag, capacity)
                    while true {
                        let s = slots[i]
                        if s == 0 { return .absent(slot: i) }
                        if UInt32(truncatingIfNeeded: s >> 32) == tag {
                            let id = UInt32(truncatingIfNeeded: s) &- 1
                            let e = entries[Int(id)]
                            if e.head0 == head0 && e.head1 == head1 && e.namespace == namespace
                                && Int(e.keyLength) == count
                                && (count <= headBytes
                                    || KeyBytes.equal(arena.tail(e.keyRef), keyBytes + headBytes, count: count - headBytes))
                            {
                                return .found(slot: i, id: id)
                            }
                        }
                        i += 1
                        if i == capacity { i = 0 }
                    }
                }
            }
        }
    }

    /// The hash tag of a key.
    @inline(__always)
    private func tag(_ namespace: UInt16, _ key: UnsafeRawBufferPointer) -> UInt32 {
        Self.tag(seed: seed, namespace, key)
    }

    /// The hash tag of a key in an index hashing with `seed` (also for ``SlotTableHint``, which
    /// computes home slots without the index).
    @inline(__always)
    static func tag(seed: UInt64, _ namespace: UInt16, _ key: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(truncatingIfNeeded: KeyBytes.hash(seed: seed, namespace: namespace, key: key) >> 32)
    }

    /// The hash of `(namespace, key)` in this index, for ``upsert(namespace:key:hash:entry:)`` and
    /// ``remove(namespace:key:hash:)`` (hashing once) and ``prefetch(_:)``.
    @inline(__always)
    func hash(namespace: UInt16, key: UnsafeRawBufferPointer) -> KeyHash {
        KeyHash(tag: tag(namespace, key))
    }

    /// Starts loading the home slot of `hash` into the cache, so that an update a few keys later
    /// does not wait for memory. Bulk loading (recovery) runs ahead of its updates with this.
    @inline(__always)
    func prefetch(_ hash: KeyHash) {
        slots.withUnsafeBufferPointer { ls_prefetch($0.baseAddress! + Self.home(hash.tag, $0.count)) }
    }

    /// Rehashes into a table of `capacity` slots (from the stored tags; keys are not read).
    private mutating func resize(to capacity: Int) {
        var fresh = ContiguousArray<UInt64>.zeroedLarge(count: capacity)
        fresh.withUnsafeMutableBufferPointer { fresh in
            for s in slots where s != 0 {
                var i = Self.home(UInt32(truncatingIfNeeded: s >> 32), capacity)
                while fresh[i] != 0 {
                    i += 1
                    if i == capacity { i = 0 }
                }
                fresh[i] = s
            }
        }
        slots = fresh
        slots.withUnsafeBufferPointer { slotHint.publish($0) }
    }

    /// Empties slot `hole`, moving back later slots of its cluster that may not be skipped
    /// (backward-shift deletion: keeps every key reachable from its home without tombstones).
    private mutating func clearSlot(_ hole: Int) {
        slots.withUnsafeMutableBufferPointer { slots in
            let capacity = slots.count
            var hole = hole, j = hole
            while true {
                j += 1
                if j == capacity { j = 0 }
                let s = slots[j]
                if s == 0 { break }
                let home = Self.home(UInt32(truncatingIfNeeded: s >> 32), capacity)
                // The slot may move to the hole unless its home lies cyclically in (hole, j].
                let stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j)
                if !stays {
                    slots[hole] = s
                    hole = j
                }
            }
            slots[hole] = 0
        }
    }

    /// Live entry ids, in slot order.
    private func liveIDs() -> ContiguousArray<UInt32> {
        var ids = ContiguousArray<UInt32>()
        ids.reserveCapacity(count)
        for s in slots where s != 0 { ids.append(UInt32(truncatingIfNeeded: s) &- 1) }
        return ids
    }

    /// Calls `body` with a view of entries and keys.
    @inline(__always)
    private func withKeyView<R>(_ body: (KeyView) -> R) -> R {
        arena.withView { arena in
            entries.withUnsafeView { body(KeyView(entries: $0, arena: arena)) }
        }
    }

    // MARK: Point operations

    /// Looks up `(namespace, key)`. Allocation-free.
    ///
    /// - Returns: the entry, or nil when the key is not indexed.
    func lookup(namespace: UInt16, key: UnsafeRawBufferPointer) -> IndexEntry? {
        guard count > 0 else { return nil }
        if case .found(_, let id) = probe(namespace, key, tag: tag(namespace, key)) {
            return entries[Int(id)].entry
        }
        return nil
    }

    /// Inserts or replaces the entry of `(namespace, key)`.
    ///
    /// - Precondition: `key.count <= maxKeyLength`; `entry.location` within ``maxSegment`` and
    ///   ``maxOffset``.
    /// - Returns: the entry it replaced, or nil if the key is new.
    @discardableResult
    mutating func upsert(namespace: UInt16, key: UnsafeRawBufferPointer, entry: IndexEntry) -> IndexEntry? {
        upsert(namespace: namespace, key: key, hash: hash(namespace: namespace, key: key), entry: entry)
    }

    /// ``upsert(namespace:key:entry:)`` with the key's hash from ``hash(namespace:key:)``.
    @discardableResult
    mutating func upsert(namespace: UInt16, key: UnsafeRawBufferPointer, hash: KeyHash, entry: IndexEntry) -> IndexEntry? {
        precondition(key.count <= Self.maxKeyLength, "key longer than 65,535 bytes")
        let tag = hash.tag
        // Grow before probing so the empty slot found stays valid for the insert.
        if (count + 1) * Self.maxLoadDenominator > slots.count * Self.maxLoadNumerator {
            resize(to: slots.count + slots.count / 2)
        }
        let slot: Int
        switch probe(namespace, key, tag: tag) {
        case .found(_, let id):
            let previous = entries[Int(id)].entry
            entries[Int(id)].store(entry)
            return previous
        case .absent(let s):
            slot = s
        }
        let head = PackedEntry.headBytes
        let (head0, head1) = key.baseAddress.map { KeyBytes.head($0, key.count) } ?? (0, 0)
        let keyRef = key.count > head ? arena.append(UnsafeRawBufferPointer(rebasing: key[head...])) : 0
        var packed = PackedEntry(
            version: 0, head0: head0, head1: head1, segment: 0, offset: 0, item: 0, valueLength: 0,
            keyRef: keyRef, namespace: namespace, keyLength: UInt16(key.count))
        packed.store(entry)
        let id: UInt32
        if freeHead != Self.noFreeEntry {
            id = freeHead
            freeHead = entries[Int(id)].keyRef
            entries[Int(id)] = packed
        } else {
            precondition(entries.count < Int(UInt32.max) - 1, "too many keys for 32-bit entry ids")
            // When full, this adds a chunk: the entries stored do not move.
            id = UInt32(entries.count)
            entries.append(packed)
        }
        slots[slot] = UInt64(tag) << 32 | UInt64(id + 1)
        count += 1
        updateOrderedKeys { tree, view in tree.insert(id, view) }
        return nil
    }

    /// Removes the entry of `(namespace, key)`.
    ///
    /// - Returns: the removed entry, or nil if the key was not indexed.
    @discardableResult
    mutating func remove(namespace: UInt16, key: UnsafeRawBufferPointer) -> IndexEntry? {
        remove(namespace: namespace, key: key, hash: hash(namespace: namespace, key: key))
    }

    /// ``remove(namespace:key:)`` with the key's hash from ``hash(namespace:key:)``.
    @discardableResult
    mutating func remove(namespace: UInt16, key: UnsafeRawBufferPointer, hash: KeyHash) -> IndexEntry? {
        guard count > 0, case .found(let slot, let id) = probe(namespace, key, tag: hash.tag) else {
            return nil
        }
        let removed = entries[Int(id)]
        updateOrderedKeys { tree, view in tree.remove(id, view) }
        clearSlot(slot)
        if Int(removed.keyLength) > PackedEntry.headBytes {
            arena.release(length: Int(removed.keyLength) - PackedEntry.headBytes)
        }
        entries[Int(id)].keyRef = freeHead
        entries[Int(id)].keyLength = 0
        freeHead = id
        count -= 1
        if arena.needsCompaction {
            arena.compact(entries: &entries, liveIDs: liveIDs())
        }
        return removed.entry
    }

    /// ``lookup(namespace:key:)`` for a byte array.
    func lookup(namespace: UInt16, key: [UInt8]) -> IndexEntry? {
        key.withUnsafeBytes { lookup(namespace: namespace, key: $0) }
    }

    /// ``upsert(namespace:key:entry:)`` for a byte array.
    @discardableResult
    mutating func upsert(namespace: UInt16, key: [UInt8], entry: IndexEntry) -> IndexEntry? {
        key.withUnsafeBytes { upsert(namespace: namespace, key: $0, entry: entry) }
    }

    /// ``remove(namespace:key:)`` for a byte array.
    @discardableResult
    mutating func remove(namespace: UInt16, key: [UInt8]) -> IndexEntry? {
        key.withUnsafeBytes { remove(namespace: namespace, key: $0) }
    }

    // MARK: Ordered listing

    /// Applies `body` to the ordered keys if they exist, cloning them first if a copy of this
    /// index shares them.
    private mutating func updateOrderedKeys(_ body: (inout OrderedKeys, KeyView) -> Void) {
        if !isKnownUniquelyReferenced(&ordered) { ordered = ordered.clone() }
        let box = ordered
        withKeyView { view in box.updateExclusively { body(&$0, view) } }
    }

    /// The ordered keys, built first (one sort of all keys) if they do not exist yet; from then
    /// on inserts and removes maintain them.
    private func orderedKeys() -> OrderedKeys {
        ordered.get { withKeyView { OrderedKeys(ids: liveIDs(), view: $0) } }
    }

    /// Builds the ordered structure now rather than on the first scan (for example right after
    /// recovery, to keep the first listing fast).
    func prepareForScans() {
        _ = orderedKeys()
    }

    /// Keys of `namespace` starting with `prefix`, in ascending bytewise order (a key before its
    /// extensions), strictly after `after` when given, at most `limit` of them.
    ///
    /// The first call builds the ordered structure, O(n log n); later calls cost
    /// O(log n + results), and never sort.
    func scan(namespace: UInt16, prefix: [UInt8], after: [UInt8]?, limit: Int)
        -> [(key: [UInt8], entry: IndexEntry)]
    {
        guard limit > 0 else { return [] }
        let tree = orderedKeys()
        // Start at the prefix, or just after the cursor when the cursor is at or past the prefix.
        let start: [UInt8], strictlyAfter: Bool
        if let after, !after.lexicographicallyPrecedes(prefix) {
            (start, strictlyAfter) = (after, true)
        } else {
            (start, strictlyAfter) = (prefix, false)
        }
        return withKeyView { view in
            // First the ids, then the copies: the entry reads of the first loop are independent of
            // each other, so the processor overlaps their cache misses.
            var ids = ContiguousArray<UInt32>()
            start.withUnsafeBytes { startBytes in
                prefix.withUnsafeBytes { prefixBytes in
                    let target = SearchKey(
                        namespace: namespace, bytes: startBytes.baseAddress ?? view.arena.tail(0), count: startBytes.count)
                    tree.forEach(from: tree.seek(target, strictlyAfter: strictlyAfter, view)) { id in
                        // Keys with the prefix are contiguous: the first one without it ends the scan.
                        guard view.hasPrefix(id, namespace: namespace, prefixBytes) else { return false }
                        ids.append(id)
                        return ids.count < limit
                    }
                }
            }
            var results: [(key: [UInt8], entry: IndexEntry)] = []
            results.reserveCapacity(ids.count)
            for id in ids { results.append((view.key(id), view.entries[Int(id)].entry)) }
            return results
        }
    }

    // MARK: Checking

    /// Checks internal consistency, returning a description of the first problem (for tests).
    func validate() -> String? {
        var live = 0
        for (i, s) in slots.enumerated() where s != 0 {
            live += 1
            let id = Int(UInt32(truncatingIfNeeded: s) &- 1)
            if id >= entries.count { return "slot \(i) names entry \(id) beyond the table" }
            let e = entries[id]
            let key = withKeyView { $0.key(UInt32(id)) }
            let found = key.withUnsafeBytes { probe(e.namespace, $0, tag: tag(e.namespace, $0)) }
            guard case .found(let slot, _) = found, slot == i else { return "entry \(id) unreachable from its home" }
        }
        if live != count { return "count \(count) but \(live) slots in use" }
        if let tree = ordered.current {
            if tree.count != count { return "ordered keys hold \(tree.count), index \(count)" }
            if let problem = withKeyView({ tree.validate($0) }) { return problem }
        }
        return nil
    }
}
