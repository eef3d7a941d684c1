import Synchronization

/// A thread-safe read cache bounded in bytes, evicting the least recently used entry first.
///
/// Each entry costs the `bytes` its inserter says (``insert(_:for:bytes:)``); the cache keeps the
/// sum at or below ``capacityBytes`` by evicting least-recently-used entries. A lookup that
/// finds its entry makes it the most recently used. A capacity of 0 disables the cache: every
/// lookup is a miss, nothing is stored, and no lock is taken.
///
/// Every operation is O(1) (see ``LRUCacheState``): a hash table from key to slot, and a doubly
/// linked recency list threaded through the slots of one array, so entries need no allocation
/// of their own.
///
/// Thread safety: every method may be called from any thread. One pthread mutex (which
/// ThreadSanitizer understands) guards the state; lookups take it too, since a hit reorders the
/// recency list. Evicted values are released with the mutex held, so a `Value` whose deinit
/// uses the same cache would deadlock.
final class ByteBoundedCache<Key: CacheKey, Value: Sendable>: @unchecked Sendable {
    // safe: `state` is a MutexGuarded; `disabledMisses` is atomic.

    /// The most bytes the entries may be charged together; 0 when the cache is disabled.
    let capacityBytes: Int

    /// Whether the cache stores anything (its capacity is above 0).
    var isEnabled: Bool { capacityBytes > 0 }

    /// Bookkeeping bytes per entry (its slot and its share of the hash map), which a caller may
    /// add to the size of a value when it decides what an entry costs.
    static var entryOverheadBytes: Int { LRUCacheState<Key, Value>.entryOverheadBytes }

    private let state: MutexGuarded<LRUCacheState<Key, Value>>
    /// Lookups of a disabled cache (which takes no lock).
    private let disabledMisses = Atomic<Int>(0)

    /// A cache holding at most `capacityBytes` bytes of entries; 0 (or less) disables it.
    init(capacityBytes: Int) {
        self.capacityBytes = max(0, capacityBytes)
        state = MutexGuarded(LRUCacheState(capacityBytes: self.capacityBytes))
    }

    /// The value cached for `key`, which becomes the most recently used entry, or `nil`.
    /// Counts a hit or a miss.
    func value(for key: Key) -> Value? {
        guard isEnabled else {
            disabledMisses.add(1, ordering: .relaxed)
            return nil
        }
        return state.withLock { $0.value(for: key) }
    }

    /// Caches `value` for `key` at a cost of `bytes`, replacing what `key` held, then evicts
    /// least-recently-used entries until the total is within the capacity. A value costing more
    /// than the whole capacity is not cached (and `key` no longer holds its old value); a
    /// disabled cache stores nothing.
    ///
    /// - Precondition: `bytes >= 0`.
    func insert(_ value: Value, for key: Key, bytes: Int) {
        precondition(bytes >= 0, "a cache entry cannot cost negative bytes")
        guard isEnabled else { return }
        state.withLock { $0.insert(value, for: key, bytes: bytes) }
    }

    /// Inserts every `(key, value)` of `items` as ``insert(_:for:bytes:)`` does, in order, with
    /// `cost(value)` as its bytes, under one acquisition of the lock.
    func insert(contentsOf items: [(key: Key, value: Value)], cost: (Value) -> Int) {
        guard isEnabled, !items.isEmpty else { return }
        state.withLock { state in
            for item in items {
                let bytes = cost(item.value)
                precondition(bytes >= 0, "a cache entry cannot cost negative bytes")
                state.insert(item.value, for: item.key, bytes: bytes)
            }
        }
    }

    /// Drops the entry of `key`, if any (not counted as an eviction).
    func remove(_ key: Key) {
        guard isEnabled else { return }
        _ = state.withLock { $0.remove(key) }
    }

    /// Drops every entry and frees the cache's storage; the counters keep running.
    func removeAll() {
        guard isEnabled else { return }
        let old = state.withLock { $0.takeAll() }
        withExtendedLifetime(old) {}  // released here, without the mutex: dropping many entries takes a while
    }

    /// The cached keys, most recently used first (O(n); for tests and diagnostics).
    var keysByRecency: [Key] {
        guard isEnabled else { return [] }
        return state.withLock { $0.keysByRecency }
    }

    /// The counters now.
    var statistics: CacheStatistics {
        guard isEnabled else {
            return CacheStatistics(misses: disabledMisses.load(ordering: .relaxed), capacityBytes: 0)
        }
        return state.withLock { $0.statistics }
    }
}

extension ByteBoundedCache where Value == [UInt8] {
    /// What caching `value` costs in memory: its bytes, its array's heap header and the
    /// allocator's overhead (about 48 bytes), and the cache's bookkeeping
    /// (``entryOverheadBytes``). Pass it as `bytes` to ``insert(_:for:bytes:)``.
    func cost(of value: [UInt8]) -> Int {
        value.count + 48 + Self.entryOverheadBytes
    }
}

/// The entries, byte count and counters of a ``ByteBoundedCache``, with its replacement policy,
/// LRU. Not thread-safe: the cache calls it with its mutex held.
///
/// A ``SlotTable`` takes a key's hash to its slot in `slots`; the slots also form a doubly linked list in
/// recency order (links are slot indices), and freed slots a free list, so inserting or
/// evicting allocates nothing once the arrays have grown.
///
/// The replacement policy is confined to the four `policy…` methods (an entry was inserted,
/// was hit, is leaving; which entry to evict). A scan-resistant policy (S3-FIFO, W-TinyLFU;
/// DESIGN §8) would replace those and add its own per-slot state (frequency bits, queue
/// membership); storage, byte accounting and locking stay as they are.
struct LRUCacheState<Key: CacheKey, Value> {
    /// One entry, or a free slot (key and value `nil`, `next` the next free slot).
    fileprivate struct Slot {
        var key: Key?
        var value: Value?
        /// The key's `cacheHash` (kept, so that evicting needs no hashing).
        var hash: UInt64
        var bytes: Int
        /// Toward the most recently used end; `none` at that end.
        var prev: Int32
        /// Toward the least recently used end; `none` at that end. For a free slot, the next
        /// free slot.
        var next: Int32
    }

    /// Bookkeeping bytes per entry: its slot, and its share of the slot table, which keeps its
    /// load at or below 3/4 (so 4/3 of an 8-byte cell per entry; up to twice that just after
    /// the table grew).
    static var entryOverheadBytes: Int {
        MemoryLayout<Slot>.stride + MemoryLayout<UInt64>.stride * 4 / 3
    }

    /// No slot.
    private static var none: Int32 { -1 }

    let capacityBytes: Int
    /// Seeds the keys' hashes, so which keys collide differs from cache to cache.
    private let seed = UInt64.random(in: .min ... .max)
    private var table = SlotTable()
    private var slots: [Slot] = []
    private var freeSlot: Int32 = -1
    private var head: Int32 = -1  // most recently used
    private var tail: Int32 = -1  // least recently used
    private var bytes = 0
    private var hits = 0
    private var misses = 0
    private var insertions = 0
    private var evictions = 0

    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    var statistics: CacheStatistics {
        CacheStatistics(
            hits: hits, misses: misses, insertions: insertions, evictions: evictions, bytes: bytes, entries: table.count,
            capacityBytes: capacityBytes)
    }

    /// The cached keys, most recently used first.
    var keysByRecency: [Key] {
        var keys: [Key] = []
        keys.reserveCapacity(table.count)
        var slot = head
        while slot != Self.none {
            keys.append(slots[Int(slot)].key!)
            slot = slots[Int(slot)].next
        }
        return keys
    }

    /// The slot holding `key` (whose hash is `hash`), if any.
    private func slot(of key: Key, hash: UInt64) -> Int32? {
        slots.withUnsafeBufferPointer { slots in table.find(hash: hash) { slots[Int($0)].key == key } }
    }

    mutating func value(for key: Key) -> Value? {
        guard let slot = slot(of: key, hash: key.cacheHash(seed: seed)) else {
            misses += 1
            return nil
        }
        hits += 1
        policyAccessed(slot)
        return slots[Int(slot)].value
    }

    /// Stores the entry, then evicts until within capacity.
    mutating func insert(_ value: Value, for key: Key, bytes: Int) {
        guard bytes <= capacityBytes else {
            _ = remove(key)
            return
        }
        let hash = key.cacheHash(seed: seed)
        if let slot = slot(of: key, hash: hash) {
            self.bytes += bytes - slots[Int(slot)].bytes
            slots[Int(slot)].value = value
            slots[Int(slot)].bytes = bytes
            policyAccessed(slot)
        } else {
            let slot = allocate(Slot(key: key, value: value, hash: hash, bytes: bytes, prev: Self.none, next: Self.none))
            table.insert(hash: hash, slot: slot)
            self.bytes += bytes
            policyInserted(slot)
        }
        insertions += 1
        // The new entry fits alone, so the loop stops before choosing it.
        while self.bytes > capacityBytes {
            let victim = policyVictim()
            table.remove(hash: slots[Int(victim)].hash, slot: victim)
            _ = release(victim)
            evictions += 1
        }
    }

    /// Drops the entry of `key`; returns its value.
    mutating func remove(_ key: Key) -> Value? {
        let hash = key.cacheHash(seed: seed)
        guard let slot = slot(of: key, hash: hash) else { return nil }
        table.remove(hash: hash, slot: slot)
        return release(slot)
    }

    /// Empties the cache, freeing its storage; returns the old state for the caller to release
    /// outside its lock. Counters keep running.
    fileprivate mutating func takeAll() -> (table: SlotTable, slots: [Slot]) {
        let old = (table, slots)
        table = SlotTable()
        slots = []
        freeSlot = Self.none
        head = Self.none
        tail = Self.none
        bytes = 0
        return old
    }

    // MARK: - slots

    /// Stores `slot` in a free slot, or a new one; returns its index.
    private mutating func allocate(_ slot: Slot) -> Int32 {
        if freeSlot != Self.none {
            let index = freeSlot
            freeSlot = slots[Int(index)].next
            slots[Int(index)] = slot
            return index
        }
        precondition(slots.count < Int(Int32.max), "a cache holds fewer than 2^31 entries")
        slots.append(slot)
        return Int32(slots.count - 1)
    }

    /// Takes `slot` (already out of `table`) out of the policy and puts it on the free list;
    /// returns its value.
    private mutating func release(_ slot: Int32) -> Value? {
        policyRemoved(slot)
        bytes -= slots[Int(slot)].bytes
        let value = slots[Int(slot)].value
        slots[Int(slot)] = Slot(key: nil, value: nil, hash: 0, bytes: 0, prev: Self.none, next: freeSlot)
        freeSlot = slot
        return value
    }

    // MARK: - replacement policy: LRU

    /// `slot` was just stored: it becomes the most recently used.
    private mutating func policyInserted(_ slot: Int32) {
        linkAtHead(slot)
    }

    /// `slot` was hit (or overwritten): it becomes the most recently used.
    private mutating func policyAccessed(_ slot: Int32) {
        guard slot != head else { return }
        unlink(slot)
        linkAtHead(slot)
    }

    /// `slot` leaves the cache (evicted or removed).
    private mutating func policyRemoved(_ slot: Int32) {
        unlink(slot)
    }

    /// The entry to evict next: the least recently used. The cache is not empty.
    private func policyVictim() -> Int32 {
        tail
    }

    private mutating func linkAtHead(_ slot: Int32) {
        slots[Int(slot)].prev = Self.none
        slots[Int(slot)].next = head
        if head != Self.none { slots[Int(head)].prev = slot } else { tail = slot }
        head = slot
    }

    private mutating func unlink(_ slot: Int32) {
        let prev = slots[Int(slot)].prev
        let next = slots[Int(slot)].next
        if prev != Self.none { slots[Int(prev)].next = next } else { head = next }
        if next != Self.none { slots[Int(next)].prev = prev } else { tail = prev }
    }
}
