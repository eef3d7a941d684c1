/// A key of a ``ByteBoundedCache``: hashable, with a 64-bit hash the cache's table uses directly.
///
/// The default hashes through `Hasher`; a key type on a hot path (``RecordLocation``) mixes its
/// fields itself, which costs a few multiplications instead of a SipHash round per lookup.
protocol CacheKey: Hashable, Sendable {
    /// A well-mixed 64-bit hash of the key that varies with `seed`. Equal keys hash equally.
    func cacheHash(seed: UInt64) -> UInt64
}

extension CacheKey {
    func cacheHash(seed: UInt64) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(seed)
        hasher.combine(self)
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }
}

extension RecordLocation: CacheKey {
    /// The three fields folded and mixed by ``mix64(_:)``. Not collision-resistant
    /// against a chosen input; a collision costs a longer probe, never a wrong hit (keys are
    /// compared), and the seed is random per cache.
    func cacheHash(seed: UInt64) -> UInt64 {
        mix64((offset ^ seed) &* 0x9E37_79B9_7F4A_7C15 ^ (segment &+ (UInt64(item) << 32)) &* 0xC2B2_AE3D_27D4_EB4F)
    }
}

/// The splitmix64 finalizer: every bit of `x` affects every bit of the result.
@inline(__always)
func mix64(_ x: UInt64) -> UInt64 {
    var h = x ^ (x >> 30)
    h &*= 0xBF58_476D_1CE4_E5B9
    h ^= h >> 27
    h &*= 0x94D0_49BB_1331_11EB
    return h ^ (h >> 31)
}

/// The hash map of ``LRUCacheState``: from a key's hash to the index of its slot, by open
/// addressing with linear probing.
///
/// Each cell is one word: the high 32 bits of the key's hash (its tag) and the slot index + 1
/// (0 is an empty cell). Keys live in the slots, so a lookup compares tags in the table and asks
/// the caller to compare keys only for matching tags. Removal shifts later cells of the probe
/// run back instead of leaving tombstones; growing rehashes from the tags alone. Both need no
/// key, which is why this replaced a `Dictionary`, whose removals rehashed the keys they moved
/// (with `Hasher`, a third of the CPU of a write-through cache of 256-entry Raft appends).
struct SlotTable {
    private var cells: [UInt64] = []
    /// Cells in use.
    private(set) var count = 0

    /// The home cell of `tag` among `capacity` cells (multiply-shift range reduction).
    @inline(__always)
    private static func home(_ tag: UInt32, _ capacity: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(tag) &* UInt64(capacity)) >> 32)
    }

    @inline(__always)
    private static func tag(_ hash: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: hash >> 32) }

    /// The slot whose key has `hash` and for which `matches` is true, or `nil`.
    func find(hash: UInt64, matches: (Int32) -> Bool) -> Int32? {
        guard !cells.isEmpty else { return nil }
        let tag = Self.tag(hash)
        var i = Self.home(tag, cells.count)
        while true {
            let cell = cells[i]
            if cell == 0 { return nil }
            if Self.tag(cell) == tag {
                let slot = Int32(truncatingIfNeeded: cell) &- 1
                if matches(slot) { return slot }
            }
            i += 1
            if i == cells.count { i = 0 }
        }
    }

    /// Adds `slot` under `hash` (the caller knows its key is not in the table).
    mutating func insert(hash: UInt64, slot: Int32) {
        if (count + 1) * 2 > cells.count { grow() }
        let tag = Self.tag(hash)
        var i = Self.home(tag, cells.count)
        while cells[i] != 0 {
            i += 1
            if i == cells.count { i = 0 }
        }
        cells[i] = UInt64(tag) << 32 | UInt64(UInt32(bitPattern: slot &+ 1))
        count += 1
    }

    /// Removes `slot`, which is in the table under `hash`.
    mutating func remove(hash: UInt64, slot: Int32) {
        let capacity = cells.count
        let wanted = UInt64(Self.tag(hash)) << 32 | UInt64(UInt32(bitPattern: slot &+ 1))
        var hole = Self.home(Self.tag(hash), capacity)
        while cells[hole] != wanted {
            precondition(cells[hole] != 0, "SlotTable.remove: the slot is not in the table")
            hole += 1
            if hole == capacity { hole = 0 }
        }
        // Backward-shift deletion: move later cells of the run into the hole unless their home
        // lies cyclically in (hole, j], where the hole would put them before their home.
        var j = hole
        while true {
            j += 1
            if j == capacity { j = 0 }
            let cell = cells[j]
            if cell == 0 { break }
            let home = Self.home(Self.tag(cell), capacity)
            let stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j)
            if stays { continue }
            cells[hole] = cell
            hole = j
        }
        cells[hole] = 0
        count -= 1
    }

    /// Doubles the cells (at least 16) and reinserts every cell by its tag.
    private mutating func grow() {
        let old = cells
        cells = [UInt64](repeating: 0, count: max(16, old.count * 2))
        for cell in old where cell != 0 {
            var i = Self.home(Self.tag(cell), cells.count)
            while cells[i] != 0 {
                i += 1
                if i == cells.count { i = 0 }
            }
            cells[i] = cell
        }
    }
}
