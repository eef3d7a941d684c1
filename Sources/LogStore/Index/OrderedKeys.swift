/// Read access to the keys of entry ids, valid only inside the closure that made it (it holds
/// pointers into the index's entry table and key arena).
struct KeyView {
    /// The entry table.
    let entries: ChunkedArray<PackedEntry>.UnsafeView
    /// The key arena.
    let arena: KeyArena.View

    /// The key of entry `id` as a search target.
    @inline(__always)
    func searchKey(_ id: UInt32) -> SearchKey {
        let e = entries[Int(id)]
        // Keys of up to 16 bytes have no tail (their `keyRef` is 0); any valid address will do.
        return SearchKey(namespace: e.namespace, head0: e.head0, head1: e.head1, count: Int(e.keyLength),
                         tail: arena.tail(Int(e.keyLength) > PackedEntry.headBytes ? e.keyRef : 0))
    }

    /// Orders the key of entry `id` against `target`: negative if before, zero if equal.
    @inline(__always)
    func compare(_ id: UInt32, _ target: SearchKey) -> Int {
        let e = entries[Int(id)]
        if e.namespace != target.namespace { return e.namespace < target.namespace ? -1 : 1 }
        if e.head0 != target.head0 { return e.head0 < target.head0 ? -1 : 1 }
        if e.head1 != target.head1 { return e.head1 < target.head1 ? -1 : 1 }
        let count = Int(e.keyLength), head = PackedEntry.headBytes
        if count > head && target.count > head {
            return KeyBytes.compare(arena.tail(e.keyRef), count - head, target.tail, target.count - head)
        }
        // Equal zero-padded heads and one key within 16 bytes: that key is a prefix of the other.
        return count == target.count ? 0 : (count < target.count ? -1 : 1)
    }

    /// Orders the keys of entries `a` and `b`.
    @inline(__always)
    func compare(_ a: UInt32, _ b: UInt32) -> Int {
        compare(a, searchKey(b))
    }

    /// Whether the key of entry `id` is in `namespace` and starts with `prefix`.
    @inline(__always)
    func hasPrefix(_ id: UInt32, namespace: UInt16, _ prefix: UnsafeRawBufferPointer) -> Bool {
        let e = entries[Int(id)]
        guard e.namespace == namespace, Int(e.keyLength) >= prefix.count else { return false }
        guard let p = prefix.baseAddress else { return true }
        let head = PackedEntry.headBytes
        var bytes = (e.head0.bigEndian, e.head1.bigEndian)
        let headMatches = withUnsafeBytes(of: &bytes) {
            KeyBytes.equal($0.baseAddress!, p, count: min(prefix.count, head))
        }
        guard headMatches else { return false }
        return prefix.count <= head || KeyBytes.equal(arena.tail(e.keyRef), p + head, count: prefix.count - head)
    }

    /// A copy of the key of entry `id`.
    func key(_ id: UInt32) -> [UInt8] {
        let e = entries[Int(id)]
        let count = Int(e.keyLength), head = PackedEntry.headBytes
        // `Array(unsafeUninitializedCapacity: 0)` stores its count into the shared empty-array
        // singleton, which concurrent scans would race on (ThreadSanitizer reports it).
        if count == 0 { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard let p = buffer.baseAddress else { return }
            KeyBytes.writeHead(e.head0, e.head1, count: count, to: p)
            if count > head {
                (p + head).initialize(from: arena.tail(e.keyRef).assumingMemoryBound(to: UInt8.self), count: count - head)
            }
            initialized = count
        }
    }
}

/// A `(namespace, key)` to search for, in the entries' split form: a zero-padded big-endian head
/// and a pointer to the bytes after the 16th.
struct SearchKey {
    /// Namespace id.
    let namespace: UInt16
    /// Key bytes 0..<8, big-endian, zero-padded.
    let head0: UInt64
    /// Key bytes 8..<16, big-endian, zero-padded.
    let head1: UInt64
    /// Key length.
    let count: Int
    /// The bytes after the 16th; read only when `count > 16`.
    let tail: UnsafeRawPointer

    /// ``KeyBytes/hint(namespace:head0:)`` of this key.
    var hint: UInt64 { KeyBytes.hint(namespace: namespace, head0: head0) }

    /// A search key from its parts.
    @inline(__always)
    init(namespace: UInt16, head0: UInt64, head1: UInt64, count: Int, tail: UnsafeRawPointer) {
        self.namespace = namespace
        self.head0 = head0
        self.head1 = head1
        self.count = count
        self.tail = tail
    }

    /// A search key for contiguous key bytes; `bytes` may be any valid address if `count` is 0.
    @inline(__always)
    init(namespace: UInt16, bytes: UnsafeRawPointer, count: Int) {
        (head0, head1) = KeyBytes.head(bytes, count)
        self.namespace = namespace
        self.count = count
        self.tail = bytes + min(count, PackedEntry.headBytes)
    }
}

/// Entry ids in `(namespace, key)` order: a two-level B+tree.
///
/// Leaves are fixed blocks of ``leafCapacity`` ids in a shared pool; a directory array lists the
/// leaves in order, each with the order hint of its first key, so routing to a leaf is a binary
/// search that rarely touches key bytes. Within a leaf, ids are compared through their entries'
/// inline key heads (and the arena, for keys sharing their first 16 bytes).
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
        // Sort by (namespace and bytes 0..<6, bytes 6..<14) as integers, so key bytes are read
        // only to break ties between keys sharing 14 bytes.
        var keyed = ContiguousArray<(high: UInt64, low: UInt64, id: UInt32)>()
        keyed.reserveCapacity(ids.count)
        for id in ids {
            let e = view.entries[Int(id)]
            keyed.append((KeyBytes.hint(namespace: e.namespace, head0: e.head0), e.head0 << 48 | e.head1 >> 16, id))
        }
        keyed.sort { a, b in
            if a.high != b.high { return a.high < b.high }
            if a.low != b.low { return a.low < b.low }
            return view.compare(a.id, b.id) < 0
        }
        let leafCount = (ids.count + Self.buildFill - 1) / Self.buildFill
        pool.reserveLarge(leafCount * Self.leafCapacity)
        leaves.reserveCapacity(leafCount)
        var start = 0
        while start < keyed.count {
            let n = min(Self.buildFill, keyed.count - start)
            let block = newBlock()
            let base = Int(block) * Self.leafCapacity
            for j in 0..<n { pool[base + j] = keyed[start + j].id }
            leaves.append(Leaf(hint: keyed[start].high, block: block, count: UInt32(n)))
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
            pool.reserveLarge(max(pool.count + Self.leafCapacity, pool.capacity + pool.capacity / 4))
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

    /// Runs `body` on the ordered keys if they have been built, without taking the lock.
    ///
    /// Only for the owning index's mutating methods, on a box no other index shares
    /// (`isKnownUniquelyReferenced`): exclusive access to the index then excludes every other
    /// access to the box, and the store's write lock orders this after any earlier build.
    /// (Skipping the lock matters: it would be taken on every insert of a bulk load.)
    func updateExclusively(_ body: (inout OrderedKeys) -> Void) {
        // Move the value out so its arrays are uniquely referenced while `body` edits them.
        guard var k = keys.take() else { return }
        body(&k)
        keys = k
    }

    /// The ordered keys if built (for checking).
    var current: OrderedKeys? { lock.withWriteLock { keys } }
}
