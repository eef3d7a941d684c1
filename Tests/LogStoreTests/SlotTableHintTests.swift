import Foundation
import Synchronization
import Testing

@testable import LogStore

@Suite("Slot table hint")
struct SlotTableHintTests {
    @Test("the hint follows the table through growth, and prefetching from another thread meanwhile changes nothing")
    func followsGrowthAndPrefetchesRaceFree() {
        let index = StoreIndex()
        let keys = (0..<50_000).map { i in withUnsafeBytes(of: UInt64(i).bigEndian) { Array($0) } }
        let hint = index.update { $0.slotHint }
        let initialCapacity = index.update { $0.slotCount }
        #expect(hint.publishedCapacity == initialCapacity)
        // A caller prefetches (no lock) while the completing thread inserts and the table grows,
        // as puts and their completions do; stale or mismatched table addresses must be harmless.
        // The prefetcher is a thread of its own: a task spinning on the two-thread cooperative
        // pool of the test run could starve the tasks that end it.
        let stop = Atomic(false)
        let done = DispatchSemaphore(value: 0)
        let prefetcher = Thread {
            var i = 0
            while !stop.load(ordering: .relaxed) {
                index.prefetchSlot(UInt16(i % 3), keys[i % keys.count])
                i += 1
            }
            done.signal()
        }
        prefetcher.start()
        for (i, key) in keys.enumerated() {
            let entry = IndexEntry(version: UInt64(i) + 1, location: RecordLocation(segment: 1, offset: UInt64(i)), valueLength: 8)
            index.update { _ = $0.upsert(namespace: UInt16(i % 3), key: key, entry: entry) }
        }
        stop.store(true, ordering: .relaxed)
        done.wait()
        let grownCapacity = index.update { $0.slotCount }
        #expect(grownCapacity > initialCapacity)
        #expect(hint.publishedCapacity == grownCapacity)
        for (i, key) in keys.enumerated() {
            #expect(index.lookup(UInt16(i % 3), key)?.version == UInt64(i) + 1)
        }
        // Prefetching against the grown table, now from this thread.
        for key in keys.prefix(1_000) { index.prefetchSlot(0, key) }
    }
}
