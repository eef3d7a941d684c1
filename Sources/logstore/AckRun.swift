import Foundation
import LogStore

/// One ACK file, parsed: the output of one `logstore stress` run (docs/TESTING.md, "The ACK
/// stream").
struct AckRun {
    /// The file's path, for messages.
    let file: String
    /// The run's START fields (nil: killed before it printed any line).
    var start: [String: String]?
    /// The store's state when the run opened it (nil: killed before `BASE-END`, so the run
    /// wrote nothing).
    var base: StoreObservation?
    /// TRY, ACK, NAK and DURABLE lines in file order, with their line numbers.
    var events: [(line: Int, AckLine)] = []
    /// Whether the run ended normally (`END`).
    var ended = false
    /// Bytes after the last newline: a line cut short by SIGKILL, ignored.
    var tornBytes = 0
    /// Complete lines read.
    var lines = 0

    /// The writer id of the run (part of every payload it wrote).
    var writer: String { start?["writer"] ?? "" }

    /// Reads and parses `path`.
    ///
    /// - Throws: ``AckFormatError`` for an unreadable file or a complete line that is
    ///   malformed or fails its checksum (only the unterminated last line may be cut short).
    init(path: String) throws(AckFormatError) {
        file = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AckFormatError("\(path): cannot read the file")
        }
        let bytes = [UInt8](data)
        var lineStart = 0
        var lineNumber = 0
        var base = StoreObservation()
        var baseStarted = false
        var group: ObservedGroup?
        var expectedLast: UInt64 = 0

        func fail(_ message: String) -> AckFormatError { AckFormatError("\(path):\(lineNumber): \(message)") }
        func finishGroup() throws(AckFormatError) {
            guard let g = group else { return }
            guard g.lastIndex == expectedLast else {
                throw fail("BASE group \(g.group) says last index \(expectedLast) but lists entries up to \(g.lastIndex)")
            }
            base.groups[g.group] = g
            group = nil
        }

        while let newline = bytes[lineStart...].firstIndex(of: 0x0A) {
            lineNumber += 1
            let line = bytes[lineStart..<newline]
            lineStart = newline + 1
            lines += 1
            // "<text> ~<8 hex digits>"
            guard line.count >= 11, line[line.endIndex - 10] == 0x20, line[line.endIndex - 9] == 0x7E,
                let crc = UInt32(String(decoding: line.suffix(8), as: UTF8.self), radix: 16)
            else { throw fail("no line checksum: \(String(decoding: line.prefix(80), as: UTF8.self))") }
            let textBytes = line.dropLast(10)
            guard StressChecksum.crc32c(textBytes) == crc else { throw fail("the line fails its checksum") }
            let text = String(decoding: textBytes, as: UTF8.self)
            let words = text.split(separator: " ")
            var w = AckWords(words[...])
            do throws(AckFormatError) {
                let tag = try w.word()
                if ended { throw AckFormatError("a line after END") }
                if tag != "START" && start == nil { throw AckFormatError("the first line is not START") }
                switch tag {
                case "START":
                    guard start == nil, try w.word() == "1" else { throw AckFormatError("a second START, or an unknown format version") }
                    var fields: [String: String] = [:]
                    while let field = w.next() {
                        let parts = field.split(separator: "=", maxSplits: 1)
                        guard parts.count == 2 else { throw AckFormatError("malformed field \(field)") }
                        fields[String(parts[0])] = String(parts[1])
                    }
                    start = fields
                case "BASE":
                    guard self.base == nil else { throw AckFormatError("BASE after BASE-END") }
                    let kind = try w.word()
                    if kind != "entry" { try finishGroup() }
                    switch kind {
                    case "lsn":
                        guard !baseStarted else { throw AckFormatError("BASE lsn is not the first BASE line") }
                        base.horizon = try w.number()
                    case "kv":
                        let key = try w.key()
                        let version = try w.number()
                        base.keys[key] = (version, try w.content())
                    case "group":
                        var g = ObservedGroup(group: try w.number())
                        g.firstIndex = try w.number()
                        expectedLast = try w.number()
                        g.previousTerm = try w.number()
                        g.hardState = RaftHardState(term: try w.number(), vote: try w.number(), commit: try w.number())
                        let index = try w.number(), term = try w.number(), data = try w.content()
                        if index > 0 { g.snapshot = (index, term, data) }
                        guard g.firstIndex >= 1, expectedLast + 1 >= g.firstIndex else { throw AckFormatError("impossible indexes") }
                        group = g
                    case "entry":
                        guard var g = group, try w.number() == g.group, try w.number() == g.lastIndex + 1 else {
                            throw AckFormatError("BASE entry out of place")
                        }
                        g.entries.append((try w.number(), try w.content()))
                        group = g
                    default:
                        throw AckFormatError("unknown BASE line")
                    }
                    baseStarted = true
                case "BASE-END":
                    try finishGroup()
                    guard self.base == nil, baseStarted else { throw AckFormatError("BASE-END without BASE lines") }
                    let keys = try w.number(), groups = try w.number(), entries = try w.number()
                    let listed = base.groups.values.reduce(0) { $0 + $1.entries.count }
                    guard keys == base.keys.count, groups == base.groups.count, entries == listed else {
                        throw AckFormatError("BASE-END counts \(keys) \(groups) \(entries) do not match the BASE lines")
                    }
                    self.base = base
                case "TRY", "ACK", "NAK":
                    guard self.base != nil else { throw AckFormatError("\(tag) before BASE-END") }
                    let op = String(try w.word())
                    let rest = Array(words.dropFirst(2))
                    if tag == "NAK" {
                        events.append((lineNumber, .nak(op: op, reason: rest.joined(separator: " "))))
                        break
                    }
                    let equals = rest.firstIndex(of: "=")
                    if tag == "TRY" {
                        guard equals == nil else { throw AckFormatError("a TRY line with a result") }
                        events.append((lineNumber, .attempt(op: op, try StressOperation(words: rest[...]))))
                    } else {
                        guard let equals else { throw AckFormatError("an ACK line without a result") }
                        var result: [UInt64] = []
                        for word in rest[(equals + 1)...] {
                            guard let n = UInt64(word) else { throw AckFormatError("\(word) is not a number") }
                            result.append(n)
                        }
                        events.append((lineNumber, .ack(op: op, try StressOperation(words: rest[..<equals]), result: result)))
                    }
                case "DURABLE":
                    guard self.base != nil else { throw AckFormatError("DURABLE before BASE-END") }
                    let op = String(try w.word())
                    events.append((lineNumber, .durable(op: op, group: try w.number(), index: try w.number())))
                    try w.finish()
                case "END":
                    guard self.base != nil else { throw AckFormatError("END before BASE-END") }
                    ended = true
                default:
                    throw AckFormatError("unknown line \(tag)")
                }
            } catch {
                throw fail(error.description)
            }
        }
        tornBytes = bytes.count - lineStart
    }
}
