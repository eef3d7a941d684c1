/// Read access to the keys of entry ids, valid only inside the closure that made it (it holds
/// pointers into the index's entry table and key arena).
struct KeyView {
    /// The entry table.
    let entries: UnsafeBufferPointer<PackedEntry>
    /// Base of the key arena.
    let arena: UnsafeRawPointer

    /// The key bytes of entry `id`.
    @inline(__always)
    func key(_ id: UInt32) -> UnsafeRawBufferPointer {
        let e = entries[Int(id)]
        return UnsafeRawBufferPointer(start: arena + Int(e.keyRef) * 4, count: Int(e.keyLength))
    }

    /// Orders the key of entry `id` against `target`: negative if before, zero if equal.
    @inline(__always)
    func compare(_ id: UInt32, _ target: SearchKey) -> Int {
        let e = entries[Int(id)]
        if e.namespace != target.namespace { return e.namespace < target.namespace ? -1 : 1 }
        return KeyBytes.compare(arena + Int(e.keyRef) * 4, Int(e.keyLength), target.bytes, target.count)
    }

    /// Orders the keys of entries `a` and `b`.
    @inline(__always)
    func compare(_ a: UInt32, _ b: UInt32) -> Int {
        compare(a, searchKey(b))
    }

    /// The key of entry `id` as a search target.
    @inline(__always)
    func searchKey(_ id: UInt32) -> SearchKey {
        let e = entries[Int(id)]
        return SearchKey(namespace: e.namespace, bytes: arena + Int(e.keyRef) * 4, count: Int(e.keyLength))
    }
}

/// A `(namespace, key)` to search for, with its order hint precomputed.
struct SearchKey {
    /// Namespace id.
    let namespace: UInt16
    /// Key bytes; any valid address when `count` is zero.
    let bytes: UnsafeRawPointer
    /// Key length.
    let count: Int
    /// ``KeyBytes/hint(namespace:_:_:)`` of this key.
    let hint: UInt64

    /// Creates a search key.
    @inline(__always)
    init(namespace: UInt16, bytes: UnsafeRawPointer, count: Int) {
        self.namespace = namespace
        self.bytes = bytes
        self.count = count
        self.hint = KeyBytes.hint(namespace: namespace, bytes, count)
    }
}

/// Entry ids in `(namespace, key)` order: a two-level B+tree.
///
/// Leaves are fixed blocks of ``leafCapacity`` ids in a shared pool; a directory array lists the
/// leaves in order, each with the order hint of its first key, so routing to a leaf is a binary
/// search that rarely touches key bytes. Within a leaf, ids are compared through the key arena.
/// A leaf split or merge shifts the directory (about n/100 entries of 16 bytes), which stays
/// cheap up to ~10 million keys; a bigger index would want a third level.
///
/// Invariants (checked by ``validate(_:)``): every leaf holds 1...leafCapacity ids; keys increase
/// strictly along the leaves; each directory hint is the hint of its leaf's first key.
struct OrderedKeys {
    /// Ids per leaf block.
    static let leafCapacity = 128
    /// Ids per leaf when building from scratch: leaves keep room for inserts without splitting.
    static let buildFill = 112
    /// A leaf with fewer ids than this tries to merge with a neighbour.
    static let mergeBelow = leafCapacity / 4
    /// A merge happens only if the merged leaf holds at most this many ids, so it does not split
    /// again on the next insert.
    static let mergedMax = leafCapacity * 3 / 4

    /// One leaf in the directory.
    struct Leaf {
        /// Order hint of the leaf's first key.
        var hint: UInt64
        /// Block number in the pool.
        var block: UInt32
        /// Ids held.
        var count: UInt32
    }

    /// Position of one id: leaf number in the directory, index in that leaf.
    struct Cursor {
        var leaf: Int
        var index: Int
    }

    /// Leaf blocks, `leafCapacity` ids each.
    private var pool = ContiguousArray<UInt32>()
    /// Blocks no leaf uses.
    private var freeBlocks = ContiguousArray<UInt32>()
    /// The leaves, in key order.
    private var leaves = ContiguousArray<Leaf>()
    /// Ids held.
    private(set) var count = 0

    /// An empty structure.
    init() {}

    /// Builds the structure over `ids` (each a live entry, once), sorting them once.
    init(ids: ContiguousArray<UInt32>, view: KeyView) {
        // Sort (hint, id) pairs: the hint decides most comparisons without touching key bytes.
        var keyed = ContiguousArray<(hint: UInt64, id: UInt32)>()
        keyed.reserveCapacity(ids.count)
        for id in ids {
            let k = view.searchKey(id)
            keyed.append((k.hint, id))
        }
        keyed.sort { a, b in
            a.hint != b.hint ? a.hint < b.hint : view.compare(a.id, b.id) < 0
        }
        let leafCount = (ids.count + Self.buildFill - 1) / Self.buildFill
        pool.reserveCapacity(leafCount * Self.leafCapacity)
        leaves.reserveCapacity(leafCount)
        var start = 0
        while start < keyed.count {
            let n = min(Self.buildFill, keyed.count - start)
            let block = newBlock()
            let base = Int(block) * Self.leafCapacity
            for j in 0..<n { pool[base + j] = keyed[start + j].id }
            leaves.append(Leaf(hint: keyed[start].hint, block: block, count: UInt32(n)))
            start += n
        }
        count = keyed.count
    }

    /// Heap bytes held.
    var memoryBytes: Int {
        pool.capacity * MemoryLayout<UInt32>.stride + freeBlocks.capacity * MemoryLayout<UInt32>.stride
            + leaves.capacity * MemoryLayout<Leaf>.stride
    }

    // MARK: Blocks

    /// A block for a new leaf, reusing a free one when there is one.
    private mutating func newBlock() -> UInt32 {
        if let b = freeBlocks.popLast() { return b }
        let block = pool.count / Self.leafCapacity
        precondition(block < Int(UInt32.max), "ordered key pool exhausted")
        if pool.count + Self.leafCapacity > pool.capacity {
            pool.reserveCapacity(max(pool.count + Self.leafCapacity, pool.capacity + pool.capacity / 4))
        }
        pool.append(contentsOf: repeatElement(0, count: Self.leafCapacity))
        return UInt32(block)
    }

    /// The id at `index` of leaf `leaf`.
    @inline(__always)
    private func id(_ leaf: Int, _ index: Int) -> UInt32 {
        pool[Int(leaves[leaf].block) * Self.leafCapacity + index]
    }

    // MARK: Search

    /// Whether the first key of leaf `leaf` comes before `target` (`orEqual`: or equals it).
    @inline(__always)
    private func leafStartsBefore(_ leaf: Int, _ target: SearchKey, orEqual: Bool, _ view: KeyView) -> Bool {
        let h = leaves[leaf].hint
        if h != target.hint { return h < target.hint }
        let c = view.compare(id(leaf, 0), target)
        return orEqual ? c <= 0 : c < 0
    }

    /// The last leaf whose first key is before `target` (or equal, with `orEqual`), or 0.
    private func routeLeaf(_ target: SearchKey, orEqual: Bool, _ view: KeyView) -> Int {
        var lo = 0, hi = leaves.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if leafStartsBefore(mid, target, orEqual: orEqual, view) { lo = mid + 1 } else { hi = mid }
        }
        return max(lo - 1, 0)
    }

    /// Index of the first id in `leaf` whose key is not before `target` (with `orEqual`: not
    /// before or equal).
    private func partition(_ leaf: Int, _ target: SearchKey, orEqual: Bool, _ view: KeyView) -> Int {
        var lo = 0, hi = Int(leaves[leaf].count)
        while lo < hi {
            let mid = (lo + hi) >> 1
            let c = view.compare(id(leaf, mid), target)
            if orEqual ? c <= 0 : c < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The position of the first key after `target` (`strictlyAfter`) or at-or-after it.
    func seek(_ target: SearchKey, strictlyAfter: Bool, _ view: KeyView) -> Cursor {
        guard !leaves.isEmpty else { return Cursor(leaf: 0, index: 0) }
        let leaf = routeLeaf(target, orEqual: strictlyAfter, view)
        let index = partition(leaf, target, orEqual: strictlyAfter, view)
        return index == Int(leaves[leaf].count) ? Cursor(leaf: leaf + 1, index: 0) : Cursor(leaf: leaf, index: index)
    }

    /// Calls `body` with ids from `cursor` on, in order, until it returns false or ids run out.
    func forEach(from cursor: Cursor, _ body: (UInt32) -> Bool) {
        var leaf = cursor.leaf, index = cursor.index
        while leaf < leaves.count {
            let l = leaves[leaf]
            let base = Int(l.block) * Self.leafCapacity
            while index < Int(l.count) {
                if !body(pool[base + index]) { return }
                index += 1
            }
            leaf += 1
            index = 0
        }
    }

    // MARK: Update

    /// Adds entry `id`, whose key must not already be present.
    mutating func insert(_ id: UInt32, _ view: KeyView) {
        let target = view.searchKey(id)
        count += 1
        guard !leaves.isEmpty else {
            let block = newBlock()
            pool[Int(block) * Self.leafCapacity] = id
            leaves.append(Leaf(hint: target.hint, block: block, count: 1))
            return
        }
        var leaf = routeLeaf(target, orEqual: false, view)
        var index = partition(leaf, target, orEqual: false, view)
        if Int(leaves[leaf].count) == Self.leafCapacity {
            // Split into two halves; the id goes to whichever half its position falls in.
            let half = Self.leafCapacity / 2
            let block = newBlock()
            let from = Int(leaves[leaf].block) * Self.leafCapacity, to = Int(block) * Self.leafCapacity
            for j in 0..<(Self.leafCapacity - half) { pool[to + j] = pool[from + half + j] }
            let right = Leaf(hint: view.searchKey(pool[to]).hint, block: block, count: UInt32(Self.leafCapacity - half))
            leaves[leaf].count = UInt32(half)
            leaves.insert(right, at: leaf + 1)
            if index > half {
                leaf += 1
                index -= half
            }
        }
        let base = Int(leaves[leaf].block) * Self.leafCapacity
        let n = Int(leaves[leaf].count)
        var j = n
        while j > index {
            pool[base + j] = pool[base + j - 1]
            j -= 1
        }
        pool[base + index] = id
        leaves[leaf].count += 1
        if index == 0 { leaves[leaf].hint = target.hint }
    }

    /// Removes entry `id`, which must be present; its key must still be readable through `view`.
    mutating func remove(_ id: UInt32, _ view: KeyView) {
        let target = view.searchKey(id)
        let leaf = routeLeaf(target, orEqual: true, view)
        let base = Int(leaves[leaf].block) * Self.leafCapacity
        let n = Int(leaves[leaf].count)
        // Ids are unique, so a scan of ids finds the slot without comparing key bytes.
        var index = 0
        while index < n && pool[base + index] != id { index += 1 }
        precondition(index < n, "ordered keys lost an id")
        for j in index..<(n - 1) { pool[base + j] = pool[base + j + 1] }
        leaves[leaf].count -= 1
        count -= 1
        if n == 1 {
            freeBlocks.append(leaves[leaf].block)
            leaves.remove(at: leaf)
            return
        }
        if index == 0 { leaves[leaf].hint = view.searchKey(pool[base]).hint }
        if n - 1 < Self.mergeBelow {
            if leaf + 1 < leaves.count, n - 1 + Int(leaves[leaf + 1].count) <= Self.mergedMax {
                merge(leaf)
            } else if leaf > 0, n - 1 + Int(leaves[leaf - 1].count) <= Self.mergedMax {
                merge(leaf - 1)
            }
        }
    }

    /// Appends leaf `left + 1` to leaf `left` and drops it.
    private mutating func merge(_ left: Int) {
        let l = leaves[left], r = leaves[left + 1]
        let to = Int(l.block) * Self.leafCapacity + Int(l.count), from = Int(r.block) * Self.leafCapacity
        for j in 0..<Int(r.count) { pool[to + j] = pool[from + j] }
        leaves[left].count += r.count
        freeBlocks.append(r.block)
        leaves.remove(at: left + 1)
    }

    // MARK: Checking

    /// Checks the invariants, returning a description of the first broken one (for tests).
    func validate(_ view: KeyView) -> String? {
        var seen = 0
        var previous: UInt32?
        for (i, l) in leaves.enumerated() {
            if l.count == 0 || Int(l.count) > Self.leafCapacity { return "leaf \(i) holds \(l.count) ids" }
            if l.hint != view.searchKey(id(i, 0)).hint { return "leaf \(i) has a stale hint" }
            for j in 0..<Int(l.count) {
                let current = id(i, j)
                if let p = previous, view.compare(p, current) >= 0 { return "keys out of order in leaf \(i)" }
                previous = current
                seen += 1
            }
        }
        return seen == count ? nil : "count \(count) but \(seen) ids"
    }
}

/// The lazily built ``OrderedKeys`` of one ``KeyIndex``, shared by copies of the index until one
/// of them changes it (the index checks uniqueness and clones first, like an array's storage).
///
/// It is a reference with its own lock because the first `scan` builds it, and scans run under
/// the store's read lock, several at once: the lock makes that first build happen once. After it,
/// changes come only from the index's mutating methods, which the store runs under its write lock.
final class OrderedKeysBox: @unchecked Sendable {  // safe: `lock` guards `keys`
    /// Used exclusively (as a mutex): a pthread lock, which ThreadSanitizer understands.
    private let lock = ReadWriteLock()
    /// The ordered keys, once built.
    private var keys: OrderedKeys?

    /// A box holding `keys`.
    init(_ keys: OrderedKeys? = nil) { self.keys = keys }

    /// A separate box with the same contents (the arrays inside are copied on write).
    func clone() -> OrderedKeysBox { OrderedKeysBox(lock.withWriteLock { keys }) }

    /// Whether the ordered keys exist.
    var isBuilt: Bool { lock.withWriteLock { keys != nil } }

    /// Heap bytes held by the ordered keys.
    var memoryBytes: Int { lock.withWriteLock { keys?.memoryBytes ?? 0 } }

    /// The ordered keys, built by `build` first if they do not exist yet.
    func get(orBuild build: () -> OrderedKeys) -> OrderedKeys {
        lock.withWriteLock {
            if let keys { return keys }
            let built = build()
            keys = built
            return built
        }
    }

    /// Runs `body` on the ordered keys if they have been built.
    func updateIfBuilt(_ body: (inout OrderedKeys) -> Void) {
        lock.withWriteLock {
            // Move the value out so its arrays are uniquely referenced while `body` edits them.
            guard var k = keys.take() else { return }
            body(&k)
            keys = k
        }
    }

    /// The ordered keys if built (for checking).
    var current: OrderedKeys? { lock.withWriteLock { keys } }
}
