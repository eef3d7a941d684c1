/// The entries of one group, indexable by position, stored in fixed-size chunks.
///
/// A group can retain millions of entries. In one contiguous array every doubling would copy
/// (and page-fault) all of them on the thread that applies durable writes, which every appender
/// waits for. Here appending never moves an entry, discarding a prefix frees whole chunks, and
/// keeping a prefix drops or shortens the tail chunks.
///
/// It is a value: a copy shares the chunks, and a mutation copies only the chunk it changes
/// (and the small outer array) if that is shared.
struct RaftEntryList: Sendable {
    /// log₂ of ``chunkCapacity``.
    static let chunkShift = 12
    /// Entries per chunk: 4096 entries of 40 bytes, 160 KiB. Large enough that the outer array
    /// stays small (a million entries take 245 chunks) and a chunk is allocated only every few
    /// thousand appends; small enough that copying one shared chunk, or the unused part of the
    /// last one, costs little.
    static let chunkCapacity = 1 << chunkShift
    private static let chunkMask = chunkCapacity - 1

    /// From `start >> chunkShift` on, every chunk is full (``chunkCapacity`` entries) but the
    /// last. The chunks before it are discarded: emptied, awaiting compaction of this array.
    private var chunks: ContiguousArray<ContiguousArray<RaftEntryMeta>> = []
    /// The slot of the first retained entry, counting from the start of `chunks[0]`.
    private var start = 0
    /// Retained entries.
    private(set) var count = 0
    /// The term of the last entry, 0 when none is retained. Kept apart from the chunks: every
    /// append checks the term of the entry before it, and with thousands of groups that entry's
    /// chunk is rarely in the processor's cache.
    private(set) var lastTerm: UInt64 = 0

    /// True if no entry is retained.
    var isEmpty: Bool { count == 0 }

    /// The capacity of each chunk that holds storage (for tests: discarded chunks are freed
    /// and no chunk grows past ``chunkCapacity``).
    var chunkCapacities: [Int] { chunks.filter { !$0.isEmpty }.map(\.capacity) }

    /// The entry at `position` (0 is the first retained entry).
    subscript(position: Int) -> RaftEntryMeta {
        // A borrow, not a copy: `entries[i].term` then reads the term without retaining the
        // payload array (the term lookups of every append's checks add up across groups).
        _read {
            precondition(position >= 0 && position < count, "position \(position) out of 0..<\(count)")
            let slot = start + position
            yield chunks[slot >> Self.chunkShift][slot & Self.chunkMask]
        }
        _modify {
            precondition(position >= 0 && position < count, "position \(position) out of 0..<\(count)")
            let slot = start + position
            // In place through the arrays' modify accessors: a chunk is copied only if shared.
            yield &chunks[slot >> Self.chunkShift][slot & Self.chunkMask]
            if position == count - 1 { lastTerm = chunks[slot >> Self.chunkShift][slot & Self.chunkMask].term }
        }
    }

    /// Appends `meta` after the last entry.
    mutating func append(_ meta: RaftEntryMeta) {
        if chunks.isEmpty || chunks[chunks.count - 1].count == Self.chunkCapacity {
            var chunk = ContiguousArray<RaftEntryMeta>()
            // A group's first chunk grows as it fills (most groups hold few entries); once a
            // group has filled one, its next chunks are allocated whole.
            if !chunks.isEmpty { chunk.reserveCapacity(Self.chunkCapacity) }
            chunks.append(chunk)
        }
        let last = chunks.count - 1
        if chunks[last].count == chunks[last].capacity {
            // Doubling, but to exactly one chunk at most (plain growth could overshoot it).
            chunks[last].reserveCapacity(min(Self.chunkCapacity, max(16, 2 * chunks[last].count)))
        }
        chunks[last].append(meta)
        count += 1
        lastTerm = meta.term
    }

    /// Discards the first `k` entries.
    mutating func removeFirst(_ k: Int) {
        precondition(k >= 0 && k <= count, "cannot remove \(k) of \(count) entries")
        guard k < count else {
            removeAll()
            return
        }
        let discardedBefore = start >> Self.chunkShift
        start += k
        count -= k
        let discarded = start >> Self.chunkShift
        for chunk in discardedBefore..<discarded { chunks[chunk] = [] }
        // Drop the emptied slots once they are at least half the array: amortized O(1).
        if discarded > 0 && discarded * 2 >= chunks.count {
            chunks.removeFirst(discarded)
            start -= discarded << Self.chunkShift
        }
    }

    /// Keeps the first `k` entries and discards the rest.
    mutating func keepFirst(_ k: Int) {
        precondition(k >= 0 && k <= count, "cannot keep \(k) of \(count) entries")
        guard k > 0 else {
            removeAll()
            return
        }
        let end = start + k  // one past the last kept slot
        let last = (end - 1) >> Self.chunkShift
        chunks.removeSubrange((last + 1)...)
        chunks[last].removeSubrange((end - (last << Self.chunkShift))...)
        count = k
        lastTerm = self[k - 1].term
    }

    /// Discards every entry and frees the chunks.
    mutating func removeAll() {
        chunks = []
        start = 0
        count = 0
        lastTerm = 0
    }
}
