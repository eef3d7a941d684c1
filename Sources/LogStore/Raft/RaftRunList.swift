/// The sequence numbers of one group's cached runs, ascending by index (see
/// ``RaftEntryCacheState``). Appending, and removing at either end, are O(1) amortized: runs
/// mostly enter at the back (appends) and leave at the front (eviction, compaction), and a group
/// may hold hundreds of thousands of them (one per single-entry append).
struct RaftRunList: RandomAccessCollection {
    private var storage: [UInt64] = []
    /// Position in `storage` of the first element.
    private var head = 0

    /// An empty list.
    init() {}

    /// 0, the position of the first sequence number.
    var startIndex: Int { 0 }
    /// The number of sequence numbers.
    var endIndex: Int { storage.count - head }

    /// The sequence number at `position`.
    subscript(position: Int) -> UInt64 { storage[head + position] }

    /// Adds `sequence` at the back.
    mutating func append(_ sequence: UInt64) { storage.append(sequence) }

    /// Adds `sequence` at `position`.
    mutating func insert(_ sequence: UInt64, at position: Int) {
        if position == 0 && head > 0 {
            head -= 1
            storage[head] = sequence
        } else {
            storage.insert(sequence, at: head + position)
        }
    }

    /// Removes the last sequence number.
    mutating func removeLast() { storage.removeLast() }

    /// Removes the first `k` sequence numbers.
    mutating func removeFirst(_ k: Int) {
        head += k
        // Reclaim the dead prefix once it is most of the storage, so the copy is amortized.
        if head == storage.count || (head >= 1024 && head * 2 >= storage.count) {
            storage.removeFirst(head)
            head = 0
        }
    }

    /// Removes the sequence number at `position`.
    mutating func remove(at position: Int) {
        if position == 0 { removeFirst(1) } else { storage.remove(at: head + position) }
    }
}
