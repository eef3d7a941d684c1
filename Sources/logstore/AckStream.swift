import Foundation
import LogStore

/// A key of the stress workload: a namespace and the key's bytes (spelled in hex on ACK lines).
struct StressKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The namespace's name.
    let namespace: String
    /// The key's bytes.
    let key: [UInt8]

    /// The key's bytes as lowercase hex digits.
    var hex: String { ByteEncoding.hex(key) }

    /// `namespace/hex`, as messages print it.
    var description: String { "\(namespace)/\(hex)" }

    static func < (a: StressKey, b: StressKey) -> Bool {
        a.namespace != b.namespace ? a.namespace < b.namespace : a.key.lexicographicallyPrecedes(b.key)
    }
}

/// Bytes known by their length and CRC32C (a value, a snapshot's data).
struct ContentID: Hashable, Sendable, CustomStringConvertible {
    /// The length in bytes.
    let length: Int
    /// The CRC32C.
    let crc: UInt32

    /// The identity of `bytes`.
    init(of bytes: [UInt8]) {
        length = bytes.count
        crc = StressChecksum.crc32c(bytes)
    }

    /// The identity of bytes of `length` with checksum `crc`.
    init(length: Int, crc: UInt32) {
        self.length = length
        self.crc = crc
    }

    /// `<length>B crc <hex>`.
    var description: String { "\(length)B crc \(StressChecksum.hex(crc))" }
}

/// One write of a key-value operation: a put of a value, or a delete (`value == nil`).
struct StressWrite: Equatable, Sendable {
    /// The key written.
    let key: StressKey
    /// The value put, or nil for a delete.
    let value: ContentID?
}

/// One operation of the stress workload, as a TRY or ACK line spells it (docs/TESTING.md,
/// "The ACK stream").
enum StressOperation: Equatable, Sendable {
    /// `store.put`.
    case put(StressKey, ContentID)
    /// A delete (a batch of one delete, so that it returns its version).
    case delete(StressKey)
    /// `store.compareAndSwap` expecting version `expected` (0: absent); a nil value deletes.
    case compareAndSwap(StressKey, expected: UInt64, ContentID?)
    /// `store.write` of an atomic batch: `writes` get versions first, first + 1, ...; every
    /// condition (key, version; 0: absent) must hold.
    case batch(writes: [StressWrite], conditions: [(key: StressKey, version: UInt64)])
    /// `raft.append` of `count` entries from `first`, all of `term`, whose payloads' digest is
    /// `digest`, with the hard state when given.
    case raftAppend(group: UInt64, first: UInt64, count: UInt64, term: UInt64, digest: UInt32, hardState: RaftHardState?)
    /// `raft.saveHardState`.
    case raftHardState(group: UInt64, RaftHardState)
    /// `raft.truncateSuffix(after:)`.
    case raftTruncateSuffix(group: UInt64, after: UInt64)
    /// `raft.truncatePrefix(upTo:)`.
    case raftTruncatePrefix(group: UInt64, upTo: UInt64)
    /// `raft.saveSnapshot` at `index`/`term` with data of the given identity.
    case raftSnapshot(group: UInt64, index: UInt64, term: UInt64, ContentID)
    /// `raft.removeGroup`.
    case raftRemove(group: UInt64)

    static func == (a: StressOperation, b: StressOperation) -> Bool { a.body == b.body }

    /// The key-value writes of the operation, in version order (empty for Raft operations).
    var writes: [StressWrite] {
        switch self {
        case .put(let key, let value): [StressWrite(key: key, value: value)]
        case .delete(let key): [StressWrite(key: key, value: nil)]
        case .compareAndSwap(let key, _, let value): [StressWrite(key: key, value: value)]
        case .batch(let writes, _): writes
        default: []
        }
    }

    /// The Raft group the operation writes, or nil for a key-value operation.
    var group: UInt64? {
        switch self {
        case .raftAppend(let g, _, _, _, _, _), .raftHardState(let g, _), .raftTruncateSuffix(let g, _),
            .raftTruncatePrefix(let g, _), .raftSnapshot(let g, _, _, _), .raftRemove(let g):
            g
        default: nil
        }
    }

    /// The operation as the words after `TRY <op>` (and before ` = ` on an ACK line).
    var body: String {
        switch self {
        case .put(let key, let value):
            return "kv put \(key.namespace) \(key.hex) \(value.length) \(StressChecksum.hex(value.crc))"
        case .delete(let key):
            return "kv del \(key.namespace) \(key.hex)"
        case .compareAndSwap(let key, let expected, let value?):
            return "kv cas \(key.namespace) \(key.hex) \(expected) \(value.length) \(StressChecksum.hex(value.crc))"
        case .compareAndSwap(let key, let expected, nil):
            return "kv cas-del \(key.namespace) \(key.hex) \(expected)"
        case .batch(let writes, let conditions):
            var words = ["kv batch \(writes.count)"]
            for write in writes {
                if let value = write.value {
                    words.append("put:\(write.key.namespace):\(write.key.hex):\(value.length):\(StressChecksum.hex(value.crc))")
                } else {
                    words.append("del:\(write.key.namespace):\(write.key.hex)")
                }
            }
            for condition in conditions { words.append("req:\(condition.key.namespace):\(condition.key.hex):\(condition.version)") }
            return words.joined(separator: " ")
        case .raftAppend(let g, let first, let count, let term, let digest, let hardState):
            let hs = hardState.map { "\($0.term),\($0.vote),\($0.commit)" } ?? "-"
            return "raft append \(g) \(first) \(count) \(term) \(StressChecksum.hex(digest)) \(hs)"
        case .raftHardState(let g, let hs):
            return "raft hs \(g) \(hs.term) \(hs.vote) \(hs.commit)"
        case .raftTruncateSuffix(let g, let after):
            return "raft trunc-suffix \(g) \(after)"
        case .raftTruncatePrefix(let g, let upTo):
            return "raft trunc-prefix \(g) \(upTo)"
        case .raftSnapshot(let g, let index, let term, let data):
            return "raft snapshot \(g) \(index) \(term) \(data.length) \(StressChecksum.hex(data.crc))"
        case .raftRemove(let g):
            return "raft remove \(g)"
        }
    }

    /// Parses the words of ``body``.
    init(words: ArraySlice<Substring>) throws(AckFormatError) {
        var w = AckWords(words)
        switch (try w.word(), try w.word()) {
        case ("kv", "put"):
            self = .put(try w.key(), try w.content())
        case ("kv", "del"):
            self = .delete(try w.key())
        case ("kv", "cas"):
            self = .compareAndSwap(try w.key(), expected: try w.number(), try w.content())
        case ("kv", "cas-del"):
            self = .compareAndSwap(try w.key(), expected: try w.number(), nil)
        case ("kv", "batch"):
            let count = try w.number()
            var writes: [StressWrite] = []
            var conditions: [(key: StressKey, version: UInt64)] = []
            while let item = w.next() {
                let parts = item.split(separator: ":", omittingEmptySubsequences: false)
                var p = AckWords(parts.dropFirst())
                switch parts.first {
                case "put": writes.append(StressWrite(key: try p.key(), value: try p.content()))
                case "del": writes.append(StressWrite(key: try p.key(), value: nil))
                case "req": conditions.append((try p.key(), try p.number()))
                default: throw AckFormatError("unknown batch item \(item)")
                }
                try p.finish()
            }
            guard writes.count == count, count >= 1 else { throw AckFormatError("batch says \(count) writes but lists \(writes.count)") }
            self = .batch(writes: writes, conditions: conditions)
        case ("raft", "append"):
            let g = try w.number(), first = try w.number(), count = try w.number(), term = try w.number()
            let digest = try w.crc()
            let hsWord = try w.word()
            var hardState: RaftHardState?
            if hsWord != "-" {
                let parts = hsWord.split(separator: ",", omittingEmptySubsequences: false)
                var p = AckWords(parts[...])
                hardState = RaftHardState(term: try p.number(), vote: try p.number(), commit: try p.number())
                try p.finish()
            }
            self = .raftAppend(group: g, first: first, count: count, term: term, digest: digest, hardState: hardState)
        case ("raft", "hs"):
            let g = try w.number()
            self = .raftHardState(group: g, RaftHardState(term: try w.number(), vote: try w.number(), commit: try w.number()))
        case ("raft", "trunc-suffix"):
            self = .raftTruncateSuffix(group: try w.number(), after: try w.number())
        case ("raft", "trunc-prefix"):
            self = .raftTruncatePrefix(group: try w.number(), upTo: try w.number())
        case ("raft", "snapshot"):
            self = .raftSnapshot(group: try w.number(), index: try w.number(), term: try w.number(), try w.content())
        case ("raft", "remove"):
            self = .raftRemove(group: try w.number())
        case (let a, let b):
            throw AckFormatError("unknown operation \(a) \(b)")
        }
        try w.finish()
    }
}

/// A Raft group's state as read from a store (a BASE line and its entries, or the final
/// observation of `logstore check`).
struct ObservedGroup: Equatable, Sendable {
    /// The group.
    var group: UInt64
    /// Its first index.
    var firstIndex: UInt64 = 1
    /// The term of entry `firstIndex - 1`.
    var previousTerm: UInt64 = 0
    /// Its hard state.
    var hardState = RaftHardState()
    /// Its snapshot (index, term, data), if any.
    var snapshot: (index: UInt64, term: UInt64, data: ContentID)?
    /// Its entries from `firstIndex` on: term and payload identity.
    var entries: [(term: UInt64, payload: ContentID)] = []

    /// The last index (`firstIndex - 1` when no entry is retained).
    var lastIndex: UInt64 { firstIndex + UInt64(entries.count) - 1 }

    /// The state of a group that never wrote.
    init(group: UInt64) { self.group = group }

    /// Whether this is the state of a group that never wrote (or was removed).
    var isEmpty: Bool { firstIndex == 1 && entries.isEmpty && previousTerm == 0 && hardState == RaftHardState() && snapshot == nil }

    static func == (a: ObservedGroup, b: ObservedGroup) -> Bool {
        a.group == b.group && a.firstIndex == b.firstIndex && a.previousTerm == b.previousTerm && a.hardState == b.hardState
            && a.snapshot?.index == b.snapshot?.index && a.snapshot?.term == b.snapshot?.term
            && a.snapshot?.data == b.snapshot?.data && a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.term == $1.term && $0.payload == $1.payload }
    }
}

/// One line of the ACK stream (docs/TESTING.md, "The ACK stream").
enum AckLine: Sendable {
    /// `START 1 key=value...`: the run's parameters (seed, writer id, persistence...).
    case start([String: String])
    /// `BASE lsn <n>`: the highest LSN recovered when the run opened the store.
    case baseHorizon(UInt64)
    /// `BASE kv <namespace> <key-hex> <version> <length> <crc>`: a key present at open.
    case baseKey(StressKey, version: UInt64, ContentID)
    /// `BASE group ...` and its `BASE entry` lines (gathered by the parser into one value).
    case baseGroup(ObservedGroup)
    /// `BASE-END <keys> <groups> <entries>`: the state at open is complete; writes begin.
    case baseEnd(keys: Int, groups: Int, entries: Int)
    /// `TRY <op> <operation>`: the operation is about to start.
    case attempt(op: String, StressOperation)
    /// `ACK <op> <operation> = <result>...`: it returned successfully (and, for MemFirst
    /// Raft writes, is durable). Results: the version for key-value operations (of the first
    /// write for a batch), first and last index after the operation for Raft ones.
    case ack(op: String, StressOperation, result: [UInt64])
    /// `NAK <op> <reason>`: it was refused and wrote nothing (a failed condition).
    case nak(op: String, reason: String)
    /// `DURABLE <op> <group> <index>`: right after operation `op` (MemFirst) returned,
    /// `durableIndex(group)` said entries up to `index`, as visible then, are durable.
    case durable(op: String, group: UInt64, index: UInt64)
    /// `END <acks> <naks>`: the run ended normally and closed the store.
    case end(acks: Int, naks: Int)

    /// The line's words, without the checksum and newline. A group's entries follow its
    /// `BASE group` line as `BASE entry` lines.
    var texts: [String] {
        switch self {
        case .start(let fields):
            return ["START 1 " + fields.keys.sorted().map { "\($0)=\(fields[$0]!)" }.joined(separator: " ")]
        case .baseHorizon(let lsn):
            return ["BASE lsn \(lsn)"]
        case .baseKey(let key, let version, let value):
            return ["BASE kv \(key.namespace) \(key.hex) \(version) \(value.length) \(StressChecksum.hex(value.crc))"]
        case .baseGroup(let g):
            let hs = g.hardState
            let snapshot = g.snapshot.map { "\($0.index) \($0.term) \($0.data.length) \(StressChecksum.hex($0.data.crc))" } ?? "0 0 0 00000000"
            var lines = [
                "BASE group \(g.group) \(g.firstIndex) \(g.lastIndex) \(g.previousTerm) \(hs.term) \(hs.vote) \(hs.commit) \(snapshot)"
            ]
            for (i, entry) in g.entries.enumerated() {
                lines.append(
                    "BASE entry \(g.group) \(g.firstIndex + UInt64(i)) \(entry.term) \(entry.payload.length) \(StressChecksum.hex(entry.payload.crc))")
            }
            return lines
        case .baseEnd(let keys, let groups, let entries):
            return ["BASE-END \(keys) \(groups) \(entries)"]
        case .attempt(let op, let operation):
            return ["TRY \(op) \(operation.body)"]
        case .ack(let op, let operation, let result):
            return ["ACK \(op) \(operation.body) = " + result.map(String.init).joined(separator: " ")]
        case .nak(let op, let reason):
            return ["NAK \(op) \(reason)"]
        case .durable(let op, let group, let index):
            return ["DURABLE \(op) \(group) \(index)"]
        case .end(let acks, let naks):
            return ["END \(acks) \(naks)"]
        }
    }

    /// `text` framed as a line: ` ~<crc32c of text, 8 hex digits>` and a newline.
    static func frame(_ text: String) -> [UInt8] {
        var bytes = Array(text.utf8)
        let crc = StressChecksum.crc32c(bytes)
        bytes.append(contentsOf: " ~\(StressChecksum.hex(crc))\n".utf8)
        return bytes
    }
}

/// Malformed ACK stream input (not a torn last line, which is expected and ignored).
struct AckFormatError: Error, CustomStringConvertible {
    /// What is wrong.
    let description: String

    init(_ description: String) { self.description = description }
}

/// Reads the words of an ACK line one at a time.
struct AckWords {
    private var words: ArraySlice<Substring>

    init(_ words: ArraySlice<Substring>) { self.words = words }

    /// The next word, or nil at the end.
    mutating func next() -> Substring? { words.popFirst() }

    /// The next word.
    mutating func word() throws(AckFormatError) -> Substring {
        guard let word = words.popFirst() else { throw AckFormatError("a word is missing") }
        return word
    }

    /// The next word as a decimal number.
    mutating func number() throws(AckFormatError) -> UInt64 {
        let w = try word()
        guard let n = UInt64(w) else { throw AckFormatError("\(w) is not a number") }
        return n
    }

    /// The next word as an 8-digit hex CRC.
    mutating func crc() throws(AckFormatError) -> UInt32 {
        let w = try word()
        guard w.count == 8, let n = UInt32(w, radix: 16) else { throw AckFormatError("\(w) is not a CRC") }
        return n
    }

    /// A key: its namespace and its hex digits.
    mutating func key() throws(AckFormatError) -> StressKey {
        let namespace = String(try word())
        let hex = try word()
        guard !hex.isEmpty, hex.count % 2 == 0 else { throw AckFormatError("\(hex) is not a hex key") }
        var bytes: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            guard let byte = UInt8(hex[i..<j], radix: 16) else { throw AckFormatError("\(hex) is not a hex key") }
            bytes.append(byte)
            i = j
        }
        return StressKey(namespace: namespace, key: bytes)
    }

    /// A length and a CRC.
    mutating func content() throws(AckFormatError) -> ContentID {
        let length = try number()
        return ContentID(length: Int(clamping: length), crc: try crc())
    }

    /// Throws unless every word was read.
    func finish() throws(AckFormatError) {
        if let extra = words.first { throw AckFormatError("unexpected \(extra)") }
    }
}

/// Writes ACK lines to a file descriptor, each with one `write(2)` under a lock, so lines of
/// concurrent tasks never interleave and a line is either wholly in the file or cut short at
/// its end (by SIGKILL during the write), which the checksum and the missing newline reveal.
/// Thread safety: any task may call ``emit(_:)``.
final class AckWriter: Sendable {
    private let fd: Int32
    private let lock = NSLock()

    /// A writer to `fd` (standard output for `logstore stress`).
    init(fd: Int32) { self.fd = fd }

    /// Writes the lines of `line`, returning once they are in the file (the kernel's page
    /// cache: a SIGKILL after this cannot lose them).
    ///
    /// - Throws: ``CLIFailure`` if the write fails (e.g. the reader of a pipe went away).
    func emit(_ line: AckLine) throws(CLIFailure) {
        var bytes: [UInt8] = []
        for text in line.texts { bytes.append(contentsOf: AckLine.frame(text)) }
        lock.lock()
        defer { lock.unlock() }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIFailure("writing the ACK stream failed: \(String(cString: strerror(errno)))")
            }
            written += n
        }
    }
}
