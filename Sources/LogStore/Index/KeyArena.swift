/// Chunked storage holding the key bytes that do not fit in the entries (the bytes after the
/// 16th, see ``PackedEntry``), so the index keeps no per-key allocation.
///
/// Key tails are stored back to back, each starting on a 4-byte word so a `UInt32` word offset
/// (`keyRef`) addresses up to 16 GiB of keys. The words live in a ``ChunkedArray``, so the arena
/// grows without copying what it holds; a tail never spans two chunks (readers need it
/// contiguous), so a tail that does not fit in the rest of a chunk starts the next one. Word 0 is
/// a sentinel, so the storage is never empty and ``View/tail(_:)`` of reference 0 is a valid
/// address. Removing a key only counts its words as dead; when dead words pass half of the arena,
/// the owner calls ``compact(entries:liveIDs:)``.
struct KeyArena {
    /// Dead words below which compaction is not worth a pass over the index.
    static let minimumDeadWordsToCompact = 4096
    /// Largest word count a `UInt32` key reference can address.
    static let maxWords = Int(UInt32.max)
    /// `log2` of the words per arena chunk: 2^19 words are 2 MiB, one huge page. A chunk must hold
    /// the longest tail (65,519 bytes, 16,380 words); the words a too-long tail skips at the end of
    /// a chunk are then at most 3% of it, and only with keys near the length limit.
    static let chunkShift = 19

    /// Read access to the key tails, valid only inside the closure of ``withView(_:)``.
    struct View {
        /// The arena's words.
        let words: ChunkedArray<UInt32>.UnsafeView

        /// The first byte of the tail stored at word offset `ref` (a `keyRef`); its bytes are
        /// contiguous.
        @inline(__always)
        func tail(_ ref: UInt32) -> UnsafeRawPointer { UnsafeRawPointer(words.address(Int(ref))) }
    }

    /// The key bytes, in words.
    private(set) var words: ChunkedArray<UInt32>
    /// Words held by removed keys.
    private(set) var deadWords = 0
    /// How many compactions have run (for tests).
    private(set) var compactions = 0

    /// Creates an arena with room for about `reservingBytes` bytes of keys, in chunks of
    /// `1 << chunkShift` words (which must hold the longest key tail stored; smaller chunks are for
    /// tests).
    init(reservingBytes: Int, chunkShift: Int = KeyArena.chunkShift) {
        words = ChunkedArray(chunkShift: chunkShift)
        words.reserveCapacity(1 + max(0, reservingBytes) / 4)
        words.append(0)
    }

    /// Words a key of `length` bytes occupies.
    @inline(__always)
    static func wordCount(forLength length: Int) -> Int { (length + 3) >> 2 }

    /// Heap bytes held.
    var memoryBytes: Int { words.memoryBytes }

    /// Whether enough of the arena is dead that compaction should run.
    var needsCompaction: Bool {
        deadWords >= Self.minimumDeadWordsToCompact && deadWords * 2 > words.count
    }

    /// Copies `key` (a key tail) into the arena and returns its word offset.
    mutating func append(_ key: UnsafeRawBufferPointer) -> UInt32 {
        let needed = Self.wordCount(forLength: key.count)
        precondition(words.count + needed <= Self.maxWords, "key arena exceeds 16 GiB")
        guard needed > 0, let source = key.baseAddress else { return UInt32(words.count) }
        // Growing adds a chunk; the words already stored stay where they are.
        let ref = words.appendContiguous(count: needed, padding: 0) { run in
            run[needed - 1] = 0  // the bytes after the key in its last word
            UnsafeMutableRawPointer(run.baseAddress!).copyMemory(from: source, byteCount: key.count)
        }
        return UInt32(ref)
    }

    /// Records that a key tail of `length` bytes is no longer referenced.
    mutating func release(length: Int) {
        deadWords += Self.wordCount(forLength: length)
    }

    /// Calls `body` with read access to the key tails.
    @inline(__always)
    func withView<R>(_ body: (View) throws -> R) rethrows -> R {
        try words.withUnsafeView { try body(View(words: $0)) }
    }

    /// Copies the key tails of `liveIDs` into a fresh arena and points their entries at the copies.
    ///
    /// `liveIDs` must name every live entry, each once.
    mutating func compact(entries: inout ChunkedArray<PackedEntry>, liveIDs: some Sequence<UInt32>) {
        let liveWords = words.count - deadWords
        var fresh = ChunkedArray<UInt32>(chunkShift: words.chunkShift)
        fresh.reserveCapacity(max(1024, liveWords + liveWords / 8))
        fresh.append(0)
        words.withUnsafeView { old in
            entries.withUnsafeMutableView { entries in
                for id in liveIDs {
                    let e = entries[Int(id)]
                    guard Int(e.keyLength) > PackedEntry.headBytes else { continue }
                    let n = Self.wordCount(forLength: Int(e.keyLength) - PackedEntry.headBytes)
                    let source = old.address(Int(e.keyRef))
                    let ref = fresh.appendContiguous(count: n, padding: 0) { $0.baseAddress!.initialize(from: source, count: n) }
                    entries[Int(id)].keyRef = UInt32(ref)
                }
            }
        }
        words = fresh
        deadWords = 0
        compactions += 1
    }
}

/// Byte-level operations on keys held as raw pointers: hashing, equality, ordering.
///
/// Order is bytewise (memcmp) with a shorter key before any longer key it prefixes, after
/// ordering by namespace.
enum KeyBytes {
    /// Hashes `(namespace, key)` with a per-index `seed` (wyhash-style multiply-fold).
    ///
    /// The seed is random per index so that crafted keys cannot force long probe sequences.
    @inline(__always)
    static func hash(seed: UInt64, namespace: UInt16, key: UnsafeRawBufferPointer) -> UInt64 {
        let n = key.count
        var h = seed ^ (UInt64(namespace) << 48) ^ UInt64(n)
        guard n > 0, let p = key.baseAddress else { return mum(h ^ k0, k1) }
        var i = 0
        while i + 16 <= n {
            h = mum(p.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ k0 ^ h,
                    p.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self) ^ k1)
            i += 16
        }
        if i + 8 <= n {
            h = mum(p.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ k2, h ^ k1)
            i += 8
        }
        if i < n {
            h = mum(tail(p + i, n - i) ^ k3, h ^ k0)
        }
        return mum(h ^ k2, UInt64(n) ^ k3)
    }

    /// Up to 7 bytes at `p`, little-endian, zero-extended.
    @inline(__always)
    private static func tail(_ p: UnsafeRawPointer, _ count: Int) -> UInt64 {
        if count >= 4 {
            // Two overlapping 4-byte loads cover 4...7 bytes without a byte loop.
            let lo = UInt64(p.loadUnaligned(as: UInt32.self))
            let hi = UInt64(p.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self))
            return lo | (hi << 32)
        }
        var v: UInt64 = 0
        for j in 0..<count { v |= UInt64(p.load(fromByteOffset: j, as: UInt8.self)) << (8 * j) }
        return v
    }

    private static let k0: UInt64 = 0xA076_1D64_78BD_642F
    private static let k1: UInt64 = 0xE703_7ED1_A0B4_28DB
    private static let k2: UInt64 = 0x8EBC_6AF0_9C88_C6E3
    private static let k3: UInt64 = 0x5899_65CC_7537_4CC3

    /// Multiplies to 128 bits and folds the halves.
    @inline(__always)
    private static func mum(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let r = a.multipliedFullWidth(by: b)
        return r.high ^ r.low
    }

    /// Whether `count` bytes at `a` and `b` are equal.
    @inline(__always)
    static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        var i = 0
        while i + 8 <= count {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        while i < count {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }

    /// Three-way bytewise comparison of two keys (negative, zero, positive).
    @inline(__always)
    static func compare(_ a: UnsafeRawPointer, _ aCount: Int, _ b: UnsafeRawPointer, _ bCount: Int) -> Int {
        let common = min(aCount, bCount)
        var i = 0
        while i + 8 <= common {
            // Big-endian words compare like the bytes they hold.
            let x = UInt64(bigEndian: a.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let y = UInt64(bigEndian: b.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            if x != y { return x < y ? -1 : 1 }
            i += 8
        }
        while i < common {
            let x = a.load(fromByteOffset: i, as: UInt8.self), y = b.load(fromByteOffset: i, as: UInt8.self)
            if x != y { return x < y ? -1 : 1 }
            i += 1
        }
        return aCount == bCount ? 0 : (aCount < bCount ? -1 : 1)
    }

    /// The first 16 bytes of a key as two big-endian words, zero-padded: comparing heads as
    /// integers orders keys by their first 16 bytes (with a shorter key's missing bytes as zeros).
    @inline(__always)
    static func head(_ p: UnsafeRawPointer, _ count: Int) -> (UInt64, UInt64) {
        if count >= 16 {
            return (UInt64(bigEndian: p.loadUnaligned(as: UInt64.self)),
                    UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
        var padded: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &padded) { $0.baseAddress!.copyMemory(from: p, byteCount: count) }
        return (UInt64(bigEndian: padded.0), UInt64(bigEndian: padded.1))
    }

    /// Writes the first `min(count, 16)` bytes of a head back out as bytes.
    @inline(__always)
    static func writeHead(_ head0: UInt64, _ head1: UInt64, count: Int, to p: UnsafeMutableRawPointer) {
        var bytes = (head0.bigEndian, head1.bigEndian)
        withUnsafeBytes(of: &bytes) { p.copyMemory(from: $0.baseAddress!, byteCount: min(count, 16)) }
    }

    /// An order-preserving 64-bit summary of `(namespace, key)`: the namespace, then the first six
    /// key bytes zero-padded. `hint(a) < hint(b)` implies `a < b`; equal hints decide nothing.
    @inline(__always)
    static func hint(namespace: UInt16, head0: UInt64) -> UInt64 {
        UInt64(namespace) << 48 | head0 >> 16
    }
}

/// Allocation of the index's big contiguous tables (slots, ordered-key leaves): reallocated by
/// hand (not by `append`) and, on Linux, advised into transparent huge pages before they are first
/// written (see ``HugePages``). The entry table and the key arena are ``ChunkedArray``s instead.
extension ContiguousArray where Element: BitwiseCopyable {
    /// Asks for huge pages over the whole 2 MiB pages inside `buffer`, if it spans at least two.
    private static func adviseHugePages(_ buffer: UnsafeMutableBufferPointer<Element>) {
        let raw = UnsafeMutableRawBufferPointer(buffer)
        guard raw.count >= 2 * HugePages.bytes, let base = raw.baseAddress else { return }
        HugePages.advise(base, byteCount: raw.count)
    }

    /// Reallocates to room for at least `minimumCapacity` elements (no-op if there is room).
    mutating func reserveLarge(_ minimumCapacity: Int) {
        guard minimumCapacity > capacity else { return }
        let old = self
        self = ContiguousArray(unsafeUninitializedCapacity: minimumCapacity) { buffer, initialized in
            Self.adviseHugePages(buffer)
            old.withUnsafeBufferPointer { source in
                if let from = source.baseAddress { buffer.baseAddress!.initialize(from: from, count: source.count) }
            }
            initialized = old.count
        }
    }
}

extension ContiguousArray where Element: FixedWidthInteger & BitwiseCopyable {
    /// `count` zeros, in storage advised into huge pages.
    static func zeroedLarge(count: Int) -> ContiguousArray {
        ContiguousArray(unsafeUninitializedCapacity: count) { buffer, initialized in
            adviseHugePages(buffer)
            buffer.initialize(repeating: 0)
            initialized = count
        }
    }
}
