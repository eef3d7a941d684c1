import LogStore

/// Decides whether a store's state is what a sequence of ACK files (successive
/// `logstore stress` runs on it) allow. The rules are in docs/TESTING.md, "The ACK stream";
/// in short: every acknowledged write is present unless a later acknowledged write of the
/// same key or group replaced it, and anything else found is the effect of an operation
/// that was in flight at the crash (and of it whole).
struct AckChecker {
    /// What a key must hold.
    enum Expected: Equatable {
        /// Present with this version and value.
        case present(version: UInt64, ContentID)
        /// Deleted by an acknowledged delete of this version.
        case deleted(version: UInt64)
        /// Absent when the run started (never written, or deleted earlier).
        case absent

        /// The version (0 when unknown).
        var version: UInt64 {
            switch self {
            case .present(let v, _), .deleted(let v): v
            case .absent: 0
            }
        }
    }

    /// An operation that started (TRY) and neither returned (ACK) nor was refused (NAK):
    /// in flight when the run was killed.
    struct InFlight {
        /// Its id.
        let op: String
        /// What it does.
        let operation: StressOperation
        /// The writer id of its run.
        let writer: String
    }

    /// Every problem found, as sentences.
    private(set) var violations: [String] = []
    /// Acknowledged operations by kind (`kv put`, `raft append`...), for the summary.
    private(set) var acknowledged: [String: Int] = [:]
    /// Operations refused by a condition (NAK).
    private(set) var refusedCount = 0
    /// Operations in flight at a crash whose effect was found after recovery.
    private(set) var inFlightSurvived = 0
    /// Operations in flight at a crash whose effect was not found (lost, or not visible: a
    /// delete of an absent key, a write replaced by a later one).
    private(set) var inFlightLost = 0
    /// Runs killed before `BASE-END` (they wrote nothing).
    private(set) var runsWithoutWrites = 0
    /// Files whose last line was cut short (ignored).
    private(set) var tornLines = 0

    /// Per key: what it must hold and which operation (or run start) said so.
    private var keys: [StressKey: (expected: Expected, source: String)] = [:]
    /// Per group: its model.
    private var groups: [UInt64: RaftGroupModel] = [:]
    /// Operations in flight at the end of the last run read.
    private var inFlight: [InFlight] = []
    /// MemFirst durability claims of the last run read: after each operation, the
    /// `durableIndex` of its group (DURABLE lines).
    private var claims: [String: [UInt64]] = [:]
    /// Every acknowledged version, and by which operation.
    private var versions: [UInt64: String] = [:]
    /// Acknowledged versions of the last run read, not yet checked against a later horizon.
    private var unconfirmedVersions: [(version: UInt64, op: String)] = []
    /// Values of refused writes, per key.
    private var refused: [StressKey: [ContentID: String]] = [:]
    /// The recovered horizon at the last run's start.
    private var horizon: UInt64 = 0
    /// Whether a run with a BASE was read (so there is a model to check against).
    private var started = false
    /// The label of the last run read.
    private var lastRun = ""

    /// Namespaces the ACK files mention (the final observation reads them all).
    var namespaces: Set<String> { Set(keys.keys.map(\.namespace)) }

    /// A checker that has read no run yet.
    init() {}

    // MARK: - reading runs

    /// Reads the next run (in order). Its BASE (the state the run found at open) is checked
    /// against what the previous runs allow, then becomes the model; its ACK lines are applied.
    ///
    /// - Throws: ``AckFormatError`` if the lines contradict each other (an ACK without its
    ///   TRY, two operations of one group in flight...): the stream is not one a stress run
    ///   writes.
    mutating func read(_ run: AckRun, number: Int) throws(AckFormatError) {
        let label = "run \(number) (\(run.file))"
        if run.tornBytes > 0 { tornLines += 1 }
        guard let base = run.base else {
            // Killed before its workload started: it wrote nothing; what was in flight before still is.
            runsWithoutWrites += 1
            return
        }
        if started { resolve(base, at: "at the start of \(label)") }
        started = true
        lastRun = label
        horizon = base.horizon
        adopt(base, source: "the state at the start of \(label)")

        var attempts: [String: (line: Int, StressOperation)] = [:]
        claims = [:]
        // Per group, its operations started and not yet acknowledged, oldest first: they are
        // acknowledged in that order (the model applies ACKs in file order).
        var groupsInFlight: [UInt64: [String]] = [:]
        for (line, event) in run.events {
            func fail(_ message: String) -> AckFormatError { AckFormatError("\(run.file):\(line): \(message)") }
            switch event {
            case .attempt(let op, let operation):
                guard attempts[op] == nil else { throw fail("operation \(op) started twice") }
                if let g = operation.group { groupsInFlight[g, default: []].append(op) }
                attempts[op] = (line, operation)
            case .ack(let op, let operation, let result):
                guard let (_, attempted) = attempts.removeValue(forKey: op), attempted == operation else {
                    throw fail("ACK of \(op) does not match a TRY line")
                }
                if let g = operation.group {
                    guard groupsInFlight[g]?.first == op else {
                        throw fail("ACK of \(op) before the ACK of op \(groupsInFlight[g]?.first ?? "?"), started earlier on group \(g)")
                    }
                    groupsInFlight[g]?.removeFirst()
                }
                acknowledge(op, operation, result: result, writer: run.writer, run: label)
            case .nak(let op, _):
                guard let (_, attempted) = attempts.removeValue(forKey: op) else { throw fail("NAK of \(op) without a TRY line") }
                if attempted.group != nil { throw fail("NAK of Raft operation \(op)") }
                refusedCount += 1
                for write in attempted.writes {
                    if let value = write.value { refused[write.key, default: [:]][value] = op }
                }
            case .durable(let op, let g, let index):
                guard let (_, attempted) = attempts[op], attempted.group == g, groupsInFlight[g]?.last == op else {
                    throw fail("DURABLE for \(op), which is not the last operation in flight on group \(g)")
                }
                claims[op, default: []].append(index)
            default:
                throw fail("unexpected line")
            }
        }
        inFlight = attempts.sorted { $0.value.line < $1.value.line }.map {
            InFlight(op: $0.key, operation: $0.value.1, writer: run.writer)
        }
    }

    /// Checks the final state of the store (read after the last run).
    mutating func checkFinal(_ observed: StoreObservation) {
        guard started else { return }
        resolve(observed, at: "after the last run")
    }

    /// The model becomes `base`: what the store held when a run opened it.
    private mutating func adopt(_ base: StoreObservation, source: String) {
        keys = [:]
        for (key, (version, value)) in base.keys { keys[key] = (.present(version: version, value), source) }
        groups = [:]
        for (id, group) in base.groups { groups[id] = RaftGroupModel(group, source: source) }
        inFlight = []
        unconfirmedVersions = []
    }

    private mutating func acknowledge(_ op: String, _ operation: StressOperation, result: [UInt64], writer: String, run: String) {
        acknowledged[String(operation.body.split(separator: " ").prefix(2).joined(separator: " ")), default: 0] += 1
        if let g = operation.group {
            var model = groups[g] ?? RaftGroupModel(ObservedGroup(group: g), source: "nothing (a new group)")
            if let refusal = model.apply(operation, op: op, writer: writer) {
                violations.append("\(run): op \(op) (\(operation.body)) was acknowledged, but the store should have refused it: \(refusal)")
            }
            if result != [model.state.firstIndex, model.state.lastIndex] {
                violations.append(
                    "\(run): after op \(op) (\(operation.body)) the store reported entries \(result.map(String.init).joined(separator: "..."))"
                        + " but docs/RAFT.md semantics give \(model.state.firstIndex)...\(model.state.lastIndex)")
            }
            groups[g] = model
            return
        }
        guard result.count == 1 else {
            violations.append("\(run): op \(op) (\(operation.body)) acknowledged with \(result.count) results, not a version")
            return
        }
        for (i, write) in operation.writes.enumerated() {
            let version = result[0] + UInt64(i)
            if version <= horizon {
                violations.append(
                    "\(run): op \(op) got version \(version), not above the \(horizon) recovered at the run's start (an LSN was reused)")
            }
            if let other = versions[version] {
                violations.append("\(run): op \(op) and op \(other) were both acknowledged with version \(version)")
            }
            versions[version] = op
            unconfirmedVersions.append((version, op))
            // Concurrent tasks print their ACKs in any order; the highest version is the last write.
            if version > keys[write.key]?.expected.version ?? 0 {
                let expected: Expected = write.value.map { .present(version: version, $0) } ?? .deleted(version: version)
                keys[write.key] = (expected, "op \(op)")
            }
        }
    }

    // MARK: - the rules

    /// Compares `observed` with the model plus the operations in flight, recording violations.
    private mutating func resolve(_ observed: StoreObservation, at when: String) {
        for anomaly in observed.anomalies { violations.append("\(when): \(anomaly)") }
        // Durability of every acknowledged write: the recovered log reaches it.
        if observed.horizon < horizon {
            violations.append(
                "\(when): the recovered log ends at LSN \(observed.horizon), before the \(horizon) recovered at the start of \(lastRun)")
        }
        let beyond = unconfirmedVersions.filter { $0.version > observed.horizon }
        if let first = beyond.min(by: { $0.version < $1.version }) {
            violations.append(
                "\(when): the recovered log ends at LSN \(observed.horizon), but \(beyond.count) acknowledged writes have higher versions (first: op \(first.op) at version \(first.version))")
        }
        var survivors: [String: [(index: Int, version: UInt64?)]] = [:]
        resolveKeys(observed, at: when, survivors: &survivors)
        checkBatchAtomicity(observed, at: when, survivors: survivors)
        resolveGroups(observed, at: when, survivors: &survivors)
        let settled = Set(survivors.keys)
        inFlightSurvived += inFlight.filter { settled.contains($0.op) }.count
        inFlightLost += inFlight.filter { !settled.contains($0.op) }.count
    }

    private mutating func resolveKeys(_ observed: StoreObservation, at when: String, survivors: inout [String: [(index: Int, version: UInt64?)]]) {
        var pending: [StressKey: [(op: String, index: Int, write: StressWrite)]] = [:]
        for flight in inFlight {
            for (i, write) in flight.operation.writes.enumerated() { pending[write.key, default: []].append((flight.op, i, write)) }
        }
        let all = Set(keys.keys).union(observed.keys.keys).union(pending.keys)
        for key in all.sorted() {
            let (expected, source) = keys[key] ?? (.absent, "nothing")
            let found = observed.keys[key]
            switch (expected, found) {
            case (.present(let v, let value), let f?) where f.version == v && f.value == value: continue
            case (.deleted, nil), (.absent, nil): continue
            default: break
            }
            if let (version, value) = found {
                if version > observed.horizon {
                    violations.append("\(when): key \(key) has version \(version), past the recovered log's end \(observed.horizon)")
                }
                if let p = pending[key]?.first(where: { $0.write.value == value }) {
                    if version <= expected.version {
                        violations.append(
                            "\(when): key \(key) holds the value of in-flight op \(p.op) at version \(version), which is not above version \(expected.version) of \(source)")
                    } else if let other = versions[version] {
                        violations.append("\(when): key \(key) holds the value of in-flight op \(p.op) at version \(version), the version of acknowledged op \(other)")
                    } else {
                        survivors[p.op, default: []].append((p.index, version))
                    }
                    continue
                }
                let refusal = refused[key]?[value].map { " (the value of op \($0), refused by its condition)" } ?? ""
                switch expected {
                case .present(let v, let expectedValue):
                    if version < v {
                        violations.append(
                            "\(when): acknowledged write lost: key \(key) has version \(version), but \(source) wrote version \(v)\(refusal)")
                    } else if version == v {
                        violations.append("\(when): key \(key) at version \(v) holds \(value), but \(source) wrote \(expectedValue)")
                    } else {
                        violations.append(
                            "\(when): key \(key) has version \(version) with \(value), which no operation in flight wrote (expected version \(v) of \(source))\(refusal)")
                    }
                case .deleted(let v):
                    violations.append(
                        version <= v
                            ? "\(when): deleted key came back: key \(key) has version \(version), but \(source) deleted it at version \(v)\(refusal)"
                            : "\(when): key \(key) has version \(version) with \(value), which no operation in flight wrote (\(source) deleted it at version \(v))\(refusal)")
                case .absent:
                    violations.append(
                        "\(when): key \(key) appeared with version \(version), \(value), which no operation in flight wrote\(refusal)")
                }
            } else {
                if let p = pending[key]?.first(where: { $0.write.value == nil }) {
                    survivors[p.op, default: []].append((p.index, nil))
                    continue
                }
                violations.append("\(when): acknowledged write lost: key \(key) is absent, but \(source) put version \(expected.version)")
            }
        }
    }

    /// An atomic batch in flight survives whole or not at all: once one of its puts is found
    /// at version V (its i-th write), its first write has version V - i and each write j must
    /// be found at version first + j or replaced by a newer write.
    private mutating func checkBatchAtomicity(_ observed: StoreObservation, at when: String, survivors: [String: [(index: Int, version: UInt64?)]]) {
        for flight in inFlight {
            let writes = flight.operation.writes
            guard writes.count > 1, let found = survivors[flight.op]?.filter({ $0.version != nil }), let anchor = found.first else { continue }
            let first = anchor.version! - UInt64(anchor.index)
            for (j, write) in writes.enumerated() {
                let version = first + UInt64(j)
                let seen = observed.keys[write.key]
                if let seen, seen.version == version {
                    if write.value != seen.value {
                        violations.append("\(when): in-flight batch op \(flight.op): key \(write.key) at version \(version) holds \(seen.value), not what the batch wrote")
                    }
                } else if let seen, seen.version > version {
                    continue  // replaced by a newer write (checked with that key)
                } else if seen == nil, write.value == nil {
                    continue
                } else if seen == nil, case .deleted(let deletedAt)? = keys[write.key]?.expected, deletedAt > version {
                    continue  // an acknowledged delete, newer than this write, removed it
                } else if seen == nil, inFlight.contains(where: { $0.op != flight.op && $0.operation.writes.contains { $0.key == write.key && $0.value == nil } }) {
                    continue  // a newer delete in flight may have removed it
                } else {
                    violations.append(
                        "\(when): in-flight batch op \(flight.op) survived in part: its write \(j) survived at version \(anchor.version!) "
                            + "but key \(write.key) \(seen.map { "has version \($0.version)" } ?? "is absent"), not its write at version \(version)")
                }
            }
        }
    }

    /// How many of a group's in-flight operations (in order) its DURABLE claims require to
    /// have survived: a claim `durableIndex = d` after operation j says every entry up to d
    /// of the state after j is durable, so the operation that wrote each of them survived, and
    /// with it every operation before it. Returns the count and the strongest claim, as a sentence.
    private func requiredPrefix(_ start: RaftGroupModel, _ flights: [InFlight]) -> (Int, String?) {
        var model = start
        var required = 0
        var strongest: String?
        let positions = Dictionary(uniqueKeysWithValues: flights.enumerated().map { ("op \($0.element.op)", $0.offset) })
        for flight in flights {
            guard model.apply(flight.operation, op: flight.op, writer: flight.writer) == nil else { break }
            for d in claims[flight.op] ?? [] where d >= model.state.firstIndex {
                for index in model.state.firstIndex...min(d, model.state.lastIndex) {
                    let source = model.sources[Int(index - model.state.firstIndex)]
                    if let p = positions[source], p + 1 > required {
                        required = p + 1
                        strongest = "after op \(flight.op) durableIndex was \(d), so entry \(index), written by \(source), was durable"
                    }
                }
            }
        }
        return (required, strongest)
    }

    private mutating func resolveGroups(_ observed: StoreObservation, at when: String, survivors: inout [String: [(index: Int, version: UInt64?)]]) {
        // Per group, its operations in flight in the order they started (MemFirst bursts
        // queue several): the log received them in that order, so a prefix of them survived.
        var pending: [UInt64: [InFlight]] = [:]
        for flight in inFlight { if let g = flight.operation.group { pending[g, default: []].append(flight) } }
        let all = Set(groups.keys).union(observed.groups.keys).union(pending.keys)
        for g in all.sorted() {
            let model = groups[g] ?? RaftGroupModel(ObservedGroup(group: g), source: "nothing (a new group)")
            let found = observed.groups[g] ?? ObservedGroup(group: g)
            let flights = pending[g] ?? []
            // Every k for which the model plus the first k operations in flight is what was found.
            var matches: [Int] = []
            var after = model
            if after.difference(from: found) == nil { matches.append(0) }
            for (k, flight) in flights.enumerated() {
                guard after.apply(flight.operation, op: flight.op, writer: flight.writer) == nil else { break }
                if after.difference(from: found) == nil { matches.append(k + 1) }
            }
            let (required, claim) = requiredPrefix(model, flights)
            if let k = matches.first(where: { $0 >= required }) ?? matches.last {
                for survivor in flights.prefix(k) { survivors[survivor.op, default: []].append((0, nil)) }
                if k < required, let claim {
                    violations.append("\(when): group \(g): \(claim), but only the first \(k) of its operations in flight survived")
                }
                continue
            }
            let difference = model.difference(from: found) ?? "differs"
            let alternative =
                flights.isEmpty
                ? ""
                : " (nor is it the state after the first \(flights.count == 1 ? "" : "1...\(flights.count) of the ")operations in flight at the crash: "
                    + flights.map { "op \($0.op), \($0.operation.body)" }.joined(separator: "; ") + ")"
            violations.append("\(when): group \(g): \(difference)\(alternative)")
        }
    }
}
