#if canImport(Glibc)
import Glibc
#endif

/// A growable array of trivial elements kept in fixed-size chunks, so that growing it never moves
/// (copies) the elements already stored: running out of room allocates one more chunk.
///
/// Element `i` lives at index `i & (chunkCapacity - 1)` of chunk `i >> chunkShift`. The chunk base
/// addresses sit in a small table, so an element access is two dependent loads (table, element)
/// and no reference counting; ``withUnsafeView(_:)`` hoists the table's address out of loops.
///
/// The first chunk starts small and doubles (copying) until it reaches ``chunkCapacity``, so a
/// small array stays small and the copies are bounded by one chunk over the array's lifetime;
/// after that every chunk is full size and nothing is copied again. Chunks of 2 MiB or more are
/// 2 MiB-aligned and advised into transparent huge pages (see ``HugePages``).
///
/// ## Value semantics
/// Copies share their chunks; the first write to a chunk that another copy also holds copies that
/// chunk only (uniqueness is checked per chunk, like an array's storage), and writes to a chunk
/// this array holds alone happen in place.
///
/// ## Thread safety
/// Like `Array`: concurrent reads are safe, a write needs exclusive access to this value.
struct ChunkedArray<Element: BitwiseCopyable>: @unchecked Sendable {
    // @unchecked: the base-address table holds pointers, which are not Sendable. They are owned by
    // `owners`, never written through unless that chunk is uniquely referenced, and the value is
    // mutated only with exclusive access, like an array.

    /// The memory of one chunk. A class so that copies of the array can share it.
    final class Chunk: @unchecked Sendable {  // immutable fields; elements written only while unique
        /// First element.
        let base: UnsafeMutablePointer<Element>
        /// Elements the chunk has room for.
        let capacity: Int

        /// Allocates an uninitialized chunk of `capacity` elements.
        init(capacity: Int) {
            precondition(capacity > 0, "empty chunk")
            let bytes = capacity * MemoryLayout<Element>.stride
            // Huge-page alignment for big chunks, so every 2 MiB of them can be a huge page.
            let alignment = bytes >= HugePages.bytes ? HugePages.bytes : MemoryLayout<Element>.alignment
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: alignment)
            HugePages.advise(raw, byteCount: bytes)
            base = raw.bindMemory(to: Element.self, capacity: capacity)
            self.capacity = capacity
        }

        // The elements are trivial: nothing to deinitialize.
        deinit { base.deallocate() }
    }

    /// Read access to the elements, valid only inside the closure of ``withUnsafeView(_:)``.
    /// No bounds checks (like an `UnsafeBufferPointer` in release builds).
    struct UnsafeView {
        /// The chunk base addresses.
        let bases: UnsafeBufferPointer<UnsafeMutablePointer<Element>>
        /// `log2` of the chunk capacity.
        let shift: Int

        /// Element `i`; `i` must be below the array's count.
        @inline(__always)
        subscript(i: Int) -> Element { address(i).pointee }

        /// The address of element `i`; `i` must be below the array's count. Elements up to the end
        /// of `i`'s chunk follow it contiguously.
        @inline(__always)
        func address(_ i: Int) -> UnsafePointer<Element> {
            UnsafePointer(bases[i &>> shift] + (i & ((1 &<< shift) &- 1)))
        }
    }

    /// Read-write access to the elements, valid only inside the closure of
    /// ``withUnsafeMutableView(_:)``. No bounds checks.
    struct UnsafeMutableView {
        /// The chunk base addresses (of chunks this array holds alone).
        let bases: UnsafeBufferPointer<UnsafeMutablePointer<Element>>
        /// `log2` of the chunk capacity.
        let shift: Int

        /// Element `i`; `i` must be below the array's count.
        @inline(__always)
        subscript(i: Int) -> Element {
            get { bases[i &>> shift][i & ((1 &<< shift) &- 1)] }
            nonmutating set { bases[i &>> shift][i & ((1 &<< shift) &- 1)] = newValue }
        }
    }

    /// `log2` of ``chunkCapacity``.
    let chunkShift: Int
    /// Owners of the chunks' memory, in order.
    private var owners: ContiguousArray<Chunk> = []
    /// `owners[k].base` for each chunk, beside the owners so that reads load no references.
    private var bases: ContiguousArray<UnsafeMutablePointer<Element>> = []
    /// Elements stored.
    private(set) var count = 0
    /// Elements the allocated chunks have room for.
    private(set) var capacity = 0

    /// An empty array whose chunks hold `1 << chunkShift` elements each.
    init(chunkShift: Int) {
        precondition((0..<Int.bitWidth - 2).contains(chunkShift), "chunk shift out of range")
        self.chunkShift = chunkShift
    }

    /// Elements per full chunk.
    @inline(__always)
    var chunkCapacity: Int { 1 &<< chunkShift }

    /// Smallest first chunk allocated when growing.
    private static var minimumCapacity: Int { 16 }

    /// Heap bytes held: the chunks (their capacities) and the two chunk tables.
    var memoryBytes: Int {
        capacity * MemoryLayout<Element>.stride
            + owners.capacity * MemoryLayout<Chunk>.stride
            + bases.capacity * MemoryLayout<UnsafeMutablePointer<Element>>.stride
    }

    /// Element `i`, which must be below ``count``.
    @inline(__always)
    subscript(i: Int) -> Element {
        get {
            precondition(UInt(bitPattern: i) < UInt(bitPattern: count), "index out of range")
            return bases.withUnsafeBufferPointer { $0[i &>> chunkShift][i & (chunkCapacity &- 1)] }
        }
        set {
            precondition(UInt(bitPattern: i) < UInt(bitPattern: count), "index out of range")
            uniqueBase(i &>> chunkShift)[i & (chunkCapacity &- 1)] = newValue
        }
    }

    /// Calls `body` with unchecked read access to the elements.
    @inline(__always)
    func withUnsafeView<R>(_ body: (UnsafeView) throws -> R) rethrows -> R {
        try bases.withUnsafeBufferPointer { try body(UnsafeView(bases: $0, shift: chunkShift)) }
    }

    /// Calls `body` with unchecked read-write access to the elements, first copying every chunk
    /// another copy of this array shares (for bulk updates).
    mutating func withUnsafeMutableView<R>(_ body: (UnsafeMutableView) throws -> R) rethrows -> R {
        for k in owners.indices { _ = uniqueBase(k) }
        return try bases.withUnsafeBufferPointer { try body(UnsafeMutableView(bases: $0, shift: chunkShift)) }
    }

    /// Appends `element`.
    @inline(__always)
    mutating func append(_ element: Element) {
        if count == capacity { grow(toAtLeast: count + 1) }
        uniqueBase(count &>> chunkShift)[count & (chunkCapacity &- 1)] = element
        count += 1
    }

    /// Appends `length` elements that lie contiguously in one chunk, initialized by `initialize`
    /// (which must initialize all of them), and returns the index of the first.
    ///
    /// When the run does not fit in the rest of the current chunk it starts at the next chunk, and
    /// the elements skipped are set to `padding`.
    ///
    /// - Precondition: `0 < length <= chunkCapacity`.
    @discardableResult
    mutating func appendContiguous(
        count length: Int, padding: Element, _ initialize: (UnsafeMutableBufferPointer<Element>) -> Void
    ) -> Int {
        precondition(length > 0 && length <= chunkCapacity, "run longer than a chunk")
        let mask = chunkCapacity &- 1
        var start = count
        if (start & mask) + length > chunkCapacity { start = (start | mask) + 1 }
        if start + length > capacity { grow(toAtLeast: start + length) }
        if start > count {
            // Padding to the end of the current chunk, which exists: `count` was below `start`.
            (uniqueBase(count &>> chunkShift) + (count & mask)).initialize(repeating: padding, count: start - count)
            count = start
        }
        initialize(UnsafeMutableBufferPointer(start: uniqueBase(start &>> chunkShift) + (start & mask), count: length))
        count = start + length
        return start
    }

    /// Makes room for at least `minimumCapacity` elements without further allocation.
    mutating func reserveCapacity(_ minimumCapacity: Int) {
        guard minimumCapacity > capacity else { return }
        if capacity < chunkCapacity { resizeFirstChunk(to: min(minimumCapacity, chunkCapacity)) }
        while capacity < minimumCapacity { addChunk() }
    }

    /// The base of chunk `k`, copying the chunk first if another copy of the array shares it.
    @inline(__always)
    private mutating func uniqueBase(_ k: Int) -> UnsafeMutablePointer<Element> {
        if _slowPath(!isKnownUniquelyReferenced(&owners[k])) { copyChunk(k) }
        return bases.withUnsafeBufferPointer { $0[k] }
    }

    /// Replaces chunk `k` by a private copy of it.
    @inline(never)
    private mutating func copyChunk(_ k: Int) {
        let old = owners[k]
        let fresh = Chunk(capacity: old.capacity)
        let stored = min(old.capacity, max(0, count - k &<< chunkShift))
        fresh.base.initialize(from: old.base, count: stored)
        owners[k] = fresh
        bases[k] = fresh.base
    }

    /// Adds room for at least `minimumCapacity` elements: doubles a partial first chunk (up to
    /// full size), then adds full chunks.
    @inline(never)
    private mutating func grow(toAtLeast minimumCapacity: Int) {
        if capacity < chunkCapacity {
            resizeFirstChunk(to: min(chunkCapacity, max(minimumCapacity, Self.minimumCapacity, capacity * 2)))
        }
        while capacity < minimumCapacity { addChunk() }
    }

    /// Moves the elements of the only (partial) chunk, if any, into a new chunk of `newCapacity`.
    private mutating func resizeFirstChunk(to newCapacity: Int) {
        precondition(owners.count <= 1 && newCapacity <= chunkCapacity && newCapacity >= count, "not a partial first chunk")
        let fresh = Chunk(capacity: newCapacity)
        if let old = owners.first { fresh.base.initialize(from: old.base, count: count) }
        owners = [fresh]
        bases = [fresh.base]
        capacity = newCapacity
    }

    /// Appends a full-size chunk; the existing chunks (the first one full size) stay where they are.
    private mutating func addChunk() {
        precondition(capacity == owners.count &<< chunkShift, "only full chunks may precede a new one")
        let chunk = Chunk(capacity: chunkCapacity)
        owners.append(chunk)
        bases.append(chunk.base)
        capacity += chunkCapacity
    }
}

/// Transparent huge pages for the index's big tables.
///
/// Lookups land on random entries and slots of tables tens of megabytes long; with 4 KiB pages
/// nearly every one is also a TLB miss, which on a VM costs a two-dimensional page walk. So the
/// tables are, on Linux, advised into transparent huge pages before they are first written. The
/// advice is only a hint: without huge pages nothing changes but speed.
enum HugePages {
    /// Size of a transparent huge page on x86-64 and (usually) arm64 Linux.
    static var bytes: Int { 2 << 20 }

    /// Asks for huge pages over the whole 2 MiB pages inside `byteCount` bytes at `base` (Linux
    /// only).
    static func advise(_ base: UnsafeMutableRawPointer, byteCount: Int) {
        #if os(Linux)
        let start = (Int(bitPattern: base) + bytes - 1) & ~(bytes - 1)
        let end = (Int(bitPattern: base) + byteCount) & ~(bytes - 1)
        if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE) }
        #endif
    }
}
