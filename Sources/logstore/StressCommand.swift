import ArgumentParser
import Foundation
import LogStore

/// `logstore stress`: a mixed key-value and Raft workload from many concurrent tasks that
/// prints one line per acknowledged operation (the ACK stream, docs/TESTING.md), for
/// `logstore check` to verify after a crash.
struct StressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Run a mixed key-value and Raft workload, printing every acknowledged operation (for `logstore check`).",
        discussion: """
            Opens (or creates) the store and first prints what it holds of the workload's \
            state (BASE lines: every key of the stress-* namespaces, every Raft group with its \
            entries, the recovered LSN), then runs --tasks concurrent tasks until --duration \
            ends or the process is killed. Key-value tasks put, delete, compare-and-swap and \
            write atomic batches over --keys keys in each of --namespaces namespaces \
            (stress-0, stress-1, ...), so keys are overwritten, deleted and contended. Raft \
            tasks (half of --tasks, at most one per group) drive --groups groups (ids 1...N) as \
            a Raft node would: appends with hard states, conflicting overwrites with a higher \
            term, suffix and prefix truncations, snapshots that keep the log or replace it, \
            hard-state saves, rare removals.

            Standard output is the ACK stream: a TRY line before each operation, an ACK line \
            after it returned successfully (with its version, or the group's first and last \
            index), a NAK line when a condition refused it. Each line is written whole by one \
            write(2) and ends with ' ~<crc32c>', so a line cut by SIGKILL is recognisable. With \
            --persistence mem-first, Raft writes return once visible and are acknowledged only \
            once durable: a task makes a burst of up to four writes on a group (printing the \
            group's durableIndex after each as a DURABLE line), waits (waitUntilDurable after \
            an append, else flush()), then prints their ACK lines. The format is in \
            docs/TESTING.md, "The ACK stream". The seed goes to standard error at start, a \
            summary at the end.

            Started on an existing store it continues from what recovery found: versions and \
            Raft indexes go on from there. Keep each run's output in its own file and pass \
            them all, in order, to logstore check.

            Examples:
              logstore stress ./store --duration 10 > acks-1.txt
              logstore stress ./store --duration 0 --persistence mem-first > acks-2.txt &
              kill -9 %1
              logstore check ./store --acks acks-1.txt --acks acks-2.txt

            Exit codes: 0 the duration ended and the store closed; 1 an operation failed or a \
            self-check found the store answering what its documentation rules out (stderr \
            says which); 64 command-line usage error.
            """)

    @Argument(help: ArgumentHelp("The store directory (created if missing).", valueName: "store-dir"))
    var storeDirectory: String

    @Option(help: "Seconds to run; 0 runs until killed.")
    var duration: Double = 10

    @Option(help: "Concurrent tasks (key-value and Raft together).")
    var tasks: Int = 8

    @Option(help: "Raft groups (ids 1...N); 0 for none.")
    var groups: Int = 4

    @Option(help: "Key-value namespaces (stress-0...); 0 for none.")
    var namespaces: Int = 3

    @Option(help: "Keys per namespace.")
    var keys: Int = 64

    @Option(help: "The seed of every random choice (default: random; printed on standard error).")
    var seed: UInt64?

    @Option(help: "disk-first (Raft writes return once durable) or mem-first (return once readable; ACKed once durable).")
    var persistence: RaftBenchPersistence = .diskFirst

    @Option(help: "The MemFirst flush policy: immediate, or batch (64 KiB or 2 ms).")
    var flush: StressFlushPolicy = .immediate

    @Option(name: .customLong("segment-size"), help: "Segment file size (K, M, G suffixes; default 1M): small ones rotate often.")
    var segmentSize: ByteCount?

    @Option(help: "The durable-write backend: auto, io_uring or pwritev (default: the store's default).")
    var backend: BackendChoice?

    @Option(name: .customLong("compress-threshold"), help: ArgumentHelp("zstd-compress appends of at least N encoded bytes.", valueName: "N"))
    var compressThreshold: Int?

    @Option(name: .customLong("parent-pid"), help: ArgumentHelp("Kill this run (SIGKILL) once process PID has ended, so a test runner that died leaves no stress run behind.", valueName: "PID"))
    var parentPID: Int32?

    func validate() throws {
        guard duration >= 0, duration.isFinite else { throw ValidationError("--duration must be 0 or a positive number of seconds") }
        guard groups >= 0, namespaces >= 0, groups + namespaces > 0 else {
            throw ValidationError("--groups and --namespaces cannot be negative, nor both 0")
        }
        guard keys >= 1 else { throw ValidationError("--keys must be at least 1") }
        let needed = (groups > 0 ? 1 : 0) + (namespaces > 0 ? 1 : 0)
        guard tasks >= needed else { throw ValidationError("--tasks must be at least \(needed) (one for key-value, one for Raft)") }
        if let compressThreshold, compressThreshold < 1 { throw ValidationError("--compress-threshold must be at least 1") }
    }

    /// Kills this process, as the tests' SIGKILL would, once process `pid` has ended (also if it
    /// had before this call), looking every 100 ms from a thread of its own. With `--duration 0`
    /// nothing else would ever end the run.
    static func kill(whenEnded pid: Int32) {
        let watcher = Thread {
            while !processEnded(pid) { usleep(100_000) }
            Glibc.kill(getpid(), SIGKILL)
        }
        watcher.name = "stress-parent-watch"
        watcher.start()
    }

    /// Whether process `pid` has ended: it no longer exists, or it is a zombie its parent has not
    /// reaped yet.
    static func processEnded(_ pid: Int32) -> Bool {
        if Glibc.kill(pid, 0) != 0 && errno == ESRCH { return true }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        // "pid (comm) state ...": the command may contain spaces and parentheses, so after the last ')'.
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }

    /// The store configuration of the run (also what `logstore check` opens with).
    static func storeConfiguration(
        segmentSize: ByteCount?, backend: BackendChoice?, compressThreshold: Int?, persistence: RaftPersistence
    ) -> StoreConfiguration {
        var configuration = StoreConfiguration()
        configuration.log.segmentSize = segmentSize?.bytes ?? 1 << 20
        // Values are at most ~16.5 KiB; the default bound (16 MiB) would not fit small segments.
        configuration.maxValueSize = 64 << 10
        if let backend { configuration.log.backend = backend.backend }
        configuration.log.compressionThreshold = compressThreshold
        configuration.raft.persistence = persistence
        return configuration
    }

    func run() async throws {
        do throws(CLIFailure) {
            try await stress()
        } catch {
            throw error.report()
        }
    }

    private func stress() async throws(CLIFailure) {
        if let parentPID { Self.kill(whenEnded: parentPID) }
        let seed = seed ?? UInt64.random(in: 0...UInt64.max)
        Console.error("stress: seed \(seed) (rerun with --seed \(seed))\n")
        let raftPersistence: RaftPersistence =
            persistence == .memFirst ? .memFirst(flush.policy) : .diskFirst
        let configuration = Self.storeConfiguration(
            segmentSize: segmentSize, backend: backend, compressThreshold: compressThreshold, persistence: raftPersistence)
        let counts = try await StoreAccess.withStore(at: storeDirectory, create: true, configuration: configuration) {
            (store) throws(CLIFailure) -> StressCounts in try await workload(store, seed: seed)
        }
        let acks = counts.filter { $0.key != "nak" }.values.reduce(0, +)
        try AckWriter(fd: STDOUT_FILENO).emit(.end(acks: acks, naks: counts["nak"] ?? 0))
        Console.error(
            "stress: \(acks) acknowledged ("
                + counts.keys.sorted().filter { $0 != "nak" }.map { "\($0) \(counts[$0]!)" }.joined(separator: ", ")
                + "), \(counts["nak"] ?? 0) refused by a condition; seed \(seed)\n")
    }

    /// Prints START and BASE, then runs the tasks; returns what they acknowledged.
    private func workload(_ store: Store, seed: UInt64) async throws(CLIFailure) -> StressCounts {
        let writer = AckWriter(fd: STDOUT_FILENO)
        let observation: StoreObservation
        do { observation = try StoreObservation(store) } catch { throw CLIFailure("reading the store's state failed: \(error)") }
        let writerHex = String(store.writerID, radix: 16)
        let writerTag = String(repeating: "0", count: 16 - writerHex.count) + writerHex
        try writer.emit(
            .start([
                "seed": "\(seed)", "writer": writerTag, "persistence": persistence.rawValue, "flush": flush.rawValue,
                "tasks": "\(tasks)", "groups": "\(groups)", "namespaces": "\(namespaces)", "keys": "\(keys)",
                "pid": "\(getpid())",
            ]))
        for line in observation.baseLines { try writer.emit(line) }
        if !observation.anomalies.isEmpty {
            throw CLIFailure("the store contradicts itself at open: " + observation.anomalies.joined(separator: "; "))
        }

        var names: [Namespace] = []
        for n in 0..<namespaces {
            do { names.append(try Namespace("\(StoreObservation.namespacePrefix)\(n)")) } catch { throw CLIFailure(error) }
        }
        let raftTasks = groups == 0 ? 0 : namespaces == 0 ? min(tasks, groups) : max(1, min(groups, tasks / 2))
        let kvTasks = namespaces == 0 ? 0 : tasks - raftTasks
        let context = StressContext(
            store: store, writer: writer, writerTag: writerTag, memFirst: persistence == .memFirst,
            deadline: duration > 0 ? ContinuousClock.now + .seconds(duration) : nil, namespaces: names, keysPerNamespace: keys)
        var drivers = [[StressGroupDriver]](repeating: [], count: raftTasks)
        if groups > 0 {
            for g in 1...groups {
                drivers[(g - 1) % raftTasks].append(StressGroupDriver(id: RaftGroupID(UInt64(g)), observed: observation.groups[UInt64(g)]))
            }
        }
        let assigned = drivers
        let outcome = await withTaskGroup(of: Result<StressCounts, CLIFailure>.self) { group -> Result<StressCounts, CLIFailure> in
            for t in 0..<kvTasks {
                group.addTask {
                    var task = StressKVTask(index: t, context: context, seed: seed)
                    do throws(CLIFailure) { return .success(try await task.run()) } catch { return .failure(error) }
                }
            }
            for t in 0..<raftTasks {
                group.addTask {
                    var task = StressRaftTask(index: kvTasks + t, context: context, seed: seed, groups: assigned[t])
                    do throws(CLIFailure) { return .success(try await task.run()) } catch { return .failure(error) }
                }
            }
            var total: StressCounts = [:]
            var failure: CLIFailure?
            for await result in group {
                switch result {
                case .success(let counts): total.merge(counts, uniquingKeysWith: +)
                case .failure(let error):
                    if failure == nil { failure = error }
                    group.cancelAll()
                }
            }
            if let failure { return .failure(failure) }
            return .success(total)
        }
        return try outcome.get()
    }
}

/// `--flush`: the MemFirst flush policy of `logstore stress`.
enum StressFlushPolicy: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Each write is queued for the next group commit at once.
    case immediate
    /// Writes gather until 64 KiB wait or 2 ms passed.
    case batch

    /// The policy.
    var policy: RaftFlushPolicy {
        switch self {
        case .immediate: .immediate
        case .batch: .batch(threshold: 64 << 10, interval: .milliseconds(2))
        }
    }
}
