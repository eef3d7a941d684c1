import CLogStore
import Foundation
import Testing

@testable import LogStore

// Shared pieces of the Raft log tests (RaftStorageTests, RaftModelTests, RaftDurabilityTests):
// configurations, a store that reopens, a full view of a group, an error expectation, and an
// I/O layer that can hold or delay durable writes.

/// The persistence modes every Raft behaviour is checked in.
enum RaftMode: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case diskFirst
    case memFirstImmediate
    case memFirstBatch

    var persistence: RaftPersistence {
        switch self {
        case .diskFirst: .diskFirst
        case .memFirstImmediate: .memFirst(.immediate)
        case .memFirstBatch: .memFirst(.batch(threshold: 16 << 10, interval: .milliseconds(1)))
        }
    }

    var isMemFirst: Bool { self != .diskFirst }
    var testDescription: String { rawValue }
}

/// A small store for Raft tests (quick segment rotation) in `mode`.
func raftStoreConfiguration(_ mode: RaftMode, maxEntrySize: Int = 16 << 10) -> StoreConfiguration {
    var c = smallStore()
    c.raft.persistence = mode.persistence
    // The default (16 MiB) cannot fit a frame of the small segments.
    c.raft.maxEntrySize = maxEntrySize
    return c
}

/// Entries `indexes` with the given terms (one per index), with payloads that name them.
func raftEntries(from first: UInt64, terms: [UInt64], payloadSize: ((UInt64) -> Int)? = nil) -> [RaftEntry] {
    terms.enumerated().map { offset, term in
        let index = first + UInt64(offset)
        return RaftEntry(index: index, term: term, payload: raftPayload(index: index, term: term, size: payloadSize?(index)))
    }
}

/// A recognisable payload for entry (`index`, `term`), `size` bytes long when given.
func raftPayload(index: UInt64, term: UInt64, size: Int? = nil, salt: UInt64 = 0) -> [UInt8] {
    var bytes = Array("i\(index)t\(term)s\(salt);".utf8)
    if let size {
        if bytes.count > size { bytes.removeLast(bytes.count - size) }
        while bytes.count < size { bytes.append(UInt8(truncatingIfNeeded: bytes.count &* 7 &+ Int(index))) }
    }
    return bytes
}

/// A store in a temporary directory that a test can close and reopen.
final class RaftTestStore {
    let dir = TemporaryDirectory("logstore-raft")
    let configuration: StoreConfiguration
    private(set) var store: Store
    var raft: RaftLog { store.raft }
    var path: String { dir.logPath }

    init(_ configuration: StoreConfiguration) throws {
        self.configuration = configuration
        store = try Store.open(at: dir.logPath, configuration: configuration)
    }

    convenience init(_ mode: RaftMode) throws {
        try self.init(raftStoreConfiguration(mode))
    }

    /// Closes the store cleanly and opens it again.
    func reopen() throws {
        try store.close()
        store = try Store.open(at: dir.logPath, configuration: configuration)
    }

    deinit { try? store.close() }
}

/// Everything the Raft log shows of one group, comparable with a model's state.
struct RaftGroupView: Equatable, Sendable, CustomStringConvertible {
    var first: UInt64 = 1
    /// The term of `first - 1` (the snapshot or compaction boundary).
    var previousTerm: UInt64 = 0
    var entries: [RaftEntry] = []
    var hardState = RaftHardState()
    var snapshot: RaftSnapshot? = nil

    var last: UInt64 { first + UInt64(entries.count) - 1 }

    /// The term of `index` when retained or at the boundary, else nil.
    func term(_ index: UInt64) -> UInt64? {
        if index == first - 1 { return previousTerm }
        guard index >= first, index <= last else { return nil }
        return entries[Int(index - first)].term
    }

    /// Reads the view of `group` through the public API.
    init(_ raft: RaftLog, _ group: RaftGroupID, snapshot withSnapshot: Bool = true) throws {
        first = raft.firstIndex(group)
        let last = raft.lastIndex(group)
        previousTerm = try raft.term(group, first - 1)
        entries = last >= first ? try raft.entries(group, first..<last + 1) : []
        hardState = raft.hardState(group)
        snapshot = withSnapshot ? try raft.snapshot(group) : nil
        #expect(self.last == last, "group \(group): \(entries.count) entries from \(first) but last index \(last)")
    }

    init() {}

    var description: String {
        let terms = entries.map { "\($0.term)" }.joined(separator: ",")
        let snap = snapshot.map { " snap(\($0.metadata.index),t\($0.metadata.term),\($0.data.count)B)" } ?? ""
        return "[\(first - 1)@t\(previousTerm) | \(first)...\(last) terms \(terms) | hs \(hardState.term)/\(hardState.vote)/\(hardState.commit)\(snap)]"
    }
}

/// Expects `body` to throw a ``StoreError`` of `kind`; returns the error.
@discardableResult
func expectStoreError<T>(
    _ kind: StoreError.Kind, _ comment: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> T
) async -> StoreError? {
    do {
        let value = try await body()
        Issue.record("expected \(kind), got \(value) \(comment())", sourceLocation: sourceLocation)
        return nil
    } catch let error as StoreError {
        #expect(error.kind == kind, "expected \(kind), got \(error) \(comment())", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected StoreError \(kind), got \(error) \(comment())", sourceLocation: sourceLocation)
        return nil
    }
}

// MARK: - an I/O layer that holds durable writes

/// An `ls_io` over another (a fault-injecting one) that can hold every `write_durable` until
/// released, or delay each by a fixed time: the window between a MemFirst append becoming
/// visible and its fsync completing, made as wide as a test needs. It forwards every other call.
/// `write_durable` runs on the log's writer thread only, so blocking it blocks no task.
final class HeldSyncIO: @unchecked Sendable {  // safe: `condition` guards every var
    /// The `ls_io` to hand to `Store(path:configuration:io:)`.
    let io: UnsafeMutablePointer<ls_io>
    /// The fault-injecting layer underneath.
    let faults: OpaquePointer
    private let inner: UnsafeMutablePointer<ls_io>
    private let condition = NSCondition()
    private var holding = false
    private var delayMicroseconds: UInt32 = 0
    private var blockedCount = 0
    private var startedCount = 0
    private var completedCount = 0
    private var writeExtents: [(offset: Int64, length: Int)] = []

    /// Wraps a new fault-injecting layer (seeded) over the real pwritev backend.
    init(seed: UInt64) throws {
        var real: UnsafeMutablePointer<ls_io>?
        try #require(ls_io_posix_create(LS_BACKEND_PWRITEV, LS_URING_LINKED_FDATASYNC, &real) == 0)
        var f: OpaquePointer?
        try #require(ls_faultio_create(real, seed, &f) == 0)
        faults = f!
        inner = ls_faultio_as_io(f!)
        let size = MemoryLayout<ls_io>.stride + MemoryLayout<UnsafeMutableRawPointer>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        io = raw.bindMemory(to: ls_io.self, capacity: 1)
        io.initialize(to: ls_io(vt: UnsafePointer(heldSyncVtable), backend: inner.pointee.backend))
        raw.storeBytes(of: Unmanaged.passUnretained(self).toOpaque(), toByteOffset: MemoryLayout<ls_io>.stride, as: UnsafeMutableRawPointer.self)
    }

    /// Destroys the layers (after the store using them is closed).
    func destroy() {
        ls_io_destroy(inner)
        UnsafeMutableRawPointer(io).deallocate()
    }

    static func of(_ io: UnsafeMutablePointer<ls_io>?) -> HeldSyncIO {
        let raw = UnsafeMutableRawPointer(io!).load(fromByteOffset: MemoryLayout<ls_io>.stride, as: UnsafeMutableRawPointer.self)
        return Unmanaged<HeldSyncIO>.fromOpaque(raw).takeUnretainedValue()
    }

    static func innerOf(_ io: UnsafeMutablePointer<ls_io>?) -> UnsafeMutablePointer<ls_io> { of(io).inner }

    /// From now on durable writes wait in `write_durable` until ``release()``.
    func hold() { condition.withLock { holding = true } }

    /// Lets held and later durable writes go.
    func release() {
        condition.withLock {
            holding = false
            condition.broadcast()
        }
    }

    /// Each durable write sleeps this long first (0: none).
    func setDelay(microseconds: UInt32) { condition.withLock { delayMicroseconds = microseconds } }

    /// Durable writes waiting in `write_durable` now.
    var blocked: Int { condition.withLock { blockedCount } }
    /// Durable writes that returned (successfully or not).
    var completed: Int { condition.withLock { completedCount } }
    /// Durable writes that began.
    var started: Int { condition.withLock { startedCount } }
    /// The file offset and length of every durable write that began, in order.
    var durableWrites: [(offset: Int64, length: Int)] { condition.withLock { writeExtents } }

    /// Waits (polling) until a durable write is held, up to `timeout`.
    func waitUntilBlocked(timeout: Duration = .seconds(60)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if blocked > 0 { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return false
    }

    fileprivate func writeDurable(_ fd: Int32, _ iov: UnsafePointer<iovec>?, _ count: Int32, _ offset: off_t) -> Int32 {
        let length = (0..<Int(count)).reduce(0) { $0 + iov![$1].iov_len }
        let delay = condition.withLock { () -> UInt32 in
            startedCount += 1
            writeExtents.append((Int64(offset), length))
            blockedCount += 1
            while holding { condition.wait() }
            blockedCount -= 1
            return delayMicroseconds
        }
        if delay > 0 { usleep(delay) }
        let rc = inner.pointee.vt.pointee.write_durable(inner, fd, iov, count, offset)
        condition.withLock { completedCount += 1 }
        return rc
    }
}

/// The vtable of ``HeldSyncIO``: every call forwards to the inner layer; `write_durable` may wait.
nonisolated(unsafe) private let heldSyncVtable: UnsafeMutablePointer<ls_io_vtable> = {
    let vt = UnsafeMutablePointer<ls_io_vtable>.allocate(capacity: 1)
    vt.initialize(
        to: ls_io_vtable(
            open: { io, path, flags, mode in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.open(i, path, flags, mode)
            },
            close: { io, fd in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.close(i, fd)
            },
            pread: { io, fd, buf, len, off in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.pread(i, fd, buf, len, off)
            },
            pwrite: { io, fd, buf, len, off in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.pwrite(i, fd, buf, len, off)
            },
            fsync: { io, fd in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.fsync(i, fd)
            },
            fdatasync: { io, fd in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.fdatasync(i, fd)
            },
            fallocate: { io, fd, off, len in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.fallocate(i, fd, off, len)
            },
            ftruncate: { io, fd, len in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.ftruncate(i, fd, len)
            },
            file_size: { io, fd in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.file_size(i, fd)
            },
            rename: { io, from, to in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.rename(i, from, to)
            },
            unlink: { io, path in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.unlink(i, path)
            },
            mkdir: { io, path, mode in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.mkdir(i, path, mode)
            },
            fsync_dir: { io, path in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.fsync_dir(i, path)
            },
            write_durable: { io, fd, iov, count, off in
                HeldSyncIO.of(io).writeDurable(fd, iov, count, off)
            },
            map_read: { io, fd, len, err in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.map_read(i, fd, len, err)
            },
            unmap: { io, addr, len in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.unmap(i, addr, len)
            },
            release_cache: { io, fd in
                let i = HeldSyncIO.innerOf(io)
                return i.pointee.vt.pointee.release_cache(i, fd)
            },
            destroy: { _ in
                // The owner destroys the layers (HeldSyncIO.destroy()).
            }))
    return vt
}()
