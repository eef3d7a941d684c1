import CLogStore
import Foundation
import LogStore
import Testing

/// The process-kill test: `logstore stress` runs as a child process on one store and is
/// killed with SIGKILL at a random moment, round after round, in DiskFirst and MemFirst;
/// after each round `logstore check` verifies every operation acknowledged in every round so
/// far against the recovered store (docs/TESTING.md, "The ACK stream").
///
/// `LOGSTORE_CRASH_ROUNDS` sets the number of rounds (default 20; `make crash` runs 200),
/// `LOGSTORE_CRASH_SEED` the seed (default random, printed). A failing round prints the seed
/// and keeps the store and ACK files for inspection.
@Suite("Process kill", .serialized)
struct ProcessKillTests {
    /// What one child process did.
    struct Exit {
        /// Whether SIGKILL ended it (else it exited on its own).
        let killed: Bool
        /// Its exit status or signal number.
        let status: Int32
    }

    /// When to kill a child process.
    enum Kill {
        /// Never: wait for it to exit.
        case never
        /// This long after it started (possibly while the store is still opening).
        case afterStart(Duration)
        /// This long after its standard output shows `BASE-END` (its workload began), or
        /// when it exits.
        case afterWorkloadStarts(Duration)
    }

    /// Runs `logstore <arguments>` with standard output and error going to files; kills it
    /// with SIGKILL as `kill` says.
    static func run(_ arguments: [String], stdout: String, stderr: String, kill when: Kill) async throws -> Exit {
        let binary = try CLITests.binaryPath()
        _ = FileManager.default.createFile(atPath: stdout, contents: nil)
        _ = FileManager.default.createFile(atPath: stderr, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdout))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderr))
        try process.run()
        var killed = false
        var delay: Duration? = nil
        switch when {
        case .never: break
        case .afterStart(let d): delay = d
        case .afterWorkloadStarts(let d):
            // The BASE lines come first; BASE-END is within the first lines of a run's output.
            func workloadStarted() -> Bool {
                FileManager.default.contents(atPath: stdout)?.range(of: Data("BASE-END".utf8)) != nil
            }
            while process.isRunning, !workloadStarted() {
                try await Task.sleep(for: .milliseconds(5))
            }
            delay = d
        }
        if let delay {
            let deadline = ContinuousClock.now + delay
            while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                killed = true
            }
        }
        while process.isRunning { try await Task.sleep(for: .milliseconds(2)) }
        if killed, process.terminationReason == .exit {
            killed = false  // it exited on its own just before the signal
        }
        return Exit(killed: killed, status: process.terminationStatus)
    }

    static func environmentNumber(_ name: String) -> UInt64? {
        ProcessInfo.processInfo.environment[name].flatMap { UInt64($0) }
    }

    @Test("SIGKILL at random moments loses no acknowledged operation (DiskFirst and MemFirst, one store, many rounds)")
    func killRounds() async throws {
        let rounds = Int(Self.environmentNumber("LOGSTORE_CRASH_ROUNDS") ?? 20)
        let seed = Self.environmentNumber("LOGSTORE_CRASH_SEED") ?? UInt64.random(in: 0...UInt64.max)
        print("ProcessKillTests: \(rounds) rounds, seed \(seed) (LOGSTORE_CRASH_SEED=\(seed) reproduces the choices)")
        var rng = SplitMix(state: seed)
        let dir = TemporaryDirectory("logstore-kill")
        let store = dir.path + "/store"
        var ackFiles: [String] = []
        var killedRounds = 0, cleanRounds = 0, checkedLines = 0
        var planned = [0, 0, 0]  // rounds planned to end by themselves, be killed from start, be killed in their workload
        let started = ContinuousClock.now
        for round in 1...rounds {
            // Alternate the persistence so both modes write, recover and continue each other's store.
            let persistence = round % 2 == 1 ? "disk-first" : "mem-first"
            var arguments = [
                "stress", store, "--parent-pid", "\(getpid())", "--seed", "\(rng.next())", "--persistence", persistence,
                "--tasks", "\(Int.random(in: 3...8, using: &rng))", "--groups", "\(Int.random(in: 1...6, using: &rng))",
                "--namespaces", "\(Int.random(in: 1...3, using: &rng))", "--keys", "\(Int.random(in: 8...64, using: &rng))",
                "--segment-size", "256K", "--backend", Bool.random(using: &rng) ? "auto" : "pwritev",
            ]
            if persistence == "mem-first" { arguments += ["--flush", Bool.random(using: &rng) ? "immediate" : "batch"] }
            if Int.random(in: 0..<4, using: &rng) == 0 { arguments += ["--compress-threshold", "512"] }
            // One round in six ends by itself (and closes the store); one in six is killed at a
            // random moment from its start, often while the store is still opening (recovery);
            // the others at a random moment of their workload.
            let fate = Int.random(in: 0..<6, using: &rng)
            let kill: Kill =
                switch fate {
                case 0: .never
                case 1: .afterStart(.milliseconds(Int.random(in: 0...400, using: &rng)))
                default: .afterWorkloadStarts(.milliseconds(Int.random(in: 0...500, using: &rng)))
                }
            planned[min(fate, 2)] += 1
            arguments += ["--duration", fate == 0 ? "0.3" : "0"]
            let acks = dir.path + "/acks-\(round).txt", errors = dir.path + "/stress-\(round).err"
            let exit = try await Self.run(arguments, stdout: acks, stderr: errors, kill: kill)
            ackFiles.append(acks)
            let context = "round \(round) of seed \(seed) (`logstore \(arguments.joined(separator: " "))`)"
            if exit.killed {
                killedRounds += 1
            } else {
                cleanRounds += 1
                let stderr = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
                guard exit.status == 0 else {
                    Issue.record("stress exited with status \(exit.status) in \(context): \(stderr)")
                    Self.keep(dir, seed: seed)
                    return
                }
            }
            let check = try await Self.run(
                ["check", store, "--segment-size", "256K"] + ackFiles.flatMap { ["--acks", $0] },
                stdout: dir.path + "/check-\(round).out", stderr: dir.path + "/check-\(round).err", kill: .never)
            let output = (try? String(contentsOfFile: dir.path + "/check-\(round).out", encoding: .utf8)) ?? ""
            let checkErrors = (try? String(contentsOfFile: dir.path + "/check-\(round).err", encoding: .utf8)) ?? ""
            guard check.status == 0 else {
                Issue.record("check failed after \(context):\n\(output)\(checkErrors)")
                Self.keep(dir, seed: seed)
                return
            }
            if let line = output.split(separator: "\n").first, let n = line.split(separator: " ").dropFirst(3).first.flatMap({ Int($0) }) {
                checkedLines = n
            }
        }
        let elapsed = ContinuousClock.now - started
        print(
            "ProcessKillTests: \(rounds) rounds (\(killedRounds) killed, \(cleanRounds) ended by themselves; planned: "
                + "\(planned[0]) to end, \(planned[1]) killed counting from start, \(planned[2]) killed in the workload), "
                + "\(checkedLines) ACK-stream lines checked in the last round, \(elapsed), seed \(seed)")
        #expect(killedRounds > 0)
    }

    /// Copies the store and ACK files of a failed run to a directory that outlives the test.
    static func keep(_ dir: TemporaryDirectory, seed: UInt64) {
        let kept = FileManager.default.temporaryDirectory.path + "/logstore-kill-failure-\(seed)-\(UUID().uuidString.prefix(8))"
        do {
            try FileManager.default.copyItem(atPath: dir.path, toPath: kept)
            print("ProcessKillTests: the store and ACK files of the failed run are in \(kept)")
        } catch {
            print("ProcessKillTests: could not keep the failed run's files: \(error)")
        }
    }

    /// Runs `logstore stress` with `arguments` on a new store in `dir` (256 KiB segments) and
    /// returns its ACK lines, without newlines and without the END line, as if it was killed.
    static func stressLines(_ dir: TemporaryDirectory, _ arguments: [String]) async throws -> [String] {
        let acks = dir.path + "/acks.txt"
        let exit = try await run(
            ["stress", dir.path + "/store", "--parent-pid", "\(getpid())", "--segment-size", "256K"] + arguments, stdout: acks, stderr: dir.path + "/stress.err",
            kill: .never)
        try #require(exit.status == 0, "\((try? String(contentsOfFile: dir.path + "/stress.err", encoding: .utf8)) ?? "")")
        var lines = try String(contentsOfFile: acks, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("START 1 ") == true)
        #expect(lines.last?.hasPrefix("END ") == true)
        lines.removeLast()
        return lines
    }

    /// Runs `logstore check` on the store of `stressLines(dir, …)` with `content` as its one ACK
    /// file: its exit status, and its standard output followed by its standard error.
    static func check(_ dir: TemporaryDirectory, _ content: String) async throws -> (status: Int32, output: String) {
        let path = dir.path + "/variant.txt"
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        let exit = try await run(
            ["check", dir.path + "/store", "--segment-size", "256K", "--acks", path], stdout: dir.path + "/check.out",
            stderr: dir.path + "/check.err", kill: .never)
        let output = try String(contentsOfFile: dir.path + "/check.out", encoding: .utf8)
        return (exit.status, output + (try String(contentsOfFile: dir.path + "/check.err", encoding: .utf8)))
    }

    /// An ACK stream line with its checksum (the C core's CRC32C, which must agree with the
    /// command-line tool's own).
    static func frame(_ text: String) -> String {
        let bytes = Array(text.utf8)
        let crc = ls_crc32c_value(bytes, bytes.count)
        let hex = String(crc, radix: 16)
        return text + " ~" + String(repeating: "0", count: 8 - hex.count) + hex + "\n"
    }

    static func crcHex(_ bytes: [UInt8]) -> String {
        let hex = String(ls_crc32c_value(bytes, bytes.count), radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// The payload `logstore stress` writes for an entry (docs/TESTING.md, "The ACK stream"):
    /// the header, then SplitMix64 filler seeded from the header's FNV-1a hash.
    static func stressEntryPayload(writer: String, op: String, group: UInt64, index: UInt64, term: UInt64) -> [UInt8] {
        let header = "e \(writer) \(op) \(group) \(index) \(term);"
        func finish(_ x: UInt64) -> UInt64 {
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var fnv: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in header.utf8 { fnv = (fnv ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        let seed = finish(fnv &+ 0x9E37_79B9_7F4A_7C15)
        var filler = seed & 63 == 0 ? Int((seed >> 8) % 16_384) : Int((seed >> 8) % 200)
        var bytes = Array(header.utf8)
        var state = seed
        while filler > 0 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var word = finish(state)
            for _ in 0..<min(8, filler) {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
            filler -= min(8, filler)
        }
        return bytes
    }

    @Test("a stress run given --parent-pid runs while that process does and kills itself once it has ended")
    func stressEndsWithItsParent() async throws {
        let dir = TemporaryDirectory("logstore-orphan")
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: "/bin/sleep")
        parent.arguments = ["60"]
        try parent.run()
        let stress = Process()
        stress.executableURL = URL(fileURLWithPath: try CLITests.binaryPath())
        stress.arguments = ["stress", dir.path + "/store", "--duration", "0", "--parent-pid", "\(parent.processIdentifier)", "--groups", "1", "--namespaces", "1"]
        stress.standardOutput = FileHandle.nullDevice
        stress.standardError = FileHandle.nullDevice
        try stress.run()
        defer { if stress.isRunning { kill(stress.processIdentifier, SIGKILL) } }
        try await Task.sleep(for: .milliseconds(500))
        #expect(stress.isRunning, "the run ended while its parent process was alive")
        // SIGKILL: children of the test runner's threads may start with SIGTERM blocked.
        kill(parent.processIdentifier, SIGKILL)
        parent.waitUntilExit()
        // It looks every 100 ms; allow 10 s.
        let deadline = ContinuousClock.now + .seconds(10)
        while stress.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!stress.isRunning, "the run went on after its parent process ended")
        if !stress.isRunning {
            #expect(stress.terminationReason == .uncaughtSignal && stress.terminationStatus == SIGKILL)
        }
    }

    @Test("check finds a lost acknowledged write, a wrong Raft hard state, a false durability claim and malformed lines; ignores a torn last line")
    func checkDetectsViolations() async throws {
        let dir = TemporaryDirectory("logstore-check")
        let lines = try await Self.stressLines(dir, ["--duration", "0.3", "--seed", "7", "--groups", "2", "--tasks", "4"])
        func check(_ content: String) async throws -> (status: Int32, output: String) { try await Self.check(dir, content) }
        let original = try await check(lines.map { $0 + "\n" }.joined())
        #expect(original.status == 0, "\(original.output)")

        // A torn last line (no newline, cut in the middle) is ignored.
        let torn = try await check(lines.map { $0 + "\n" }.joined() + "ACK 0.99 kv put stress-0 6b")
        #expect(torn.status == 0, "\(torn.output)")

        // An acknowledged put that the store does not have: lost, and past the recovered log's end.
        let lost = lines.map { $0 + "\n" }.joined() + Self.frame("TRY 99.1 kv put stress-0 6b65792d30 10 deadbeef")
            + Self.frame("ACK 99.1 kv put stress-0 6b65792d30 10 deadbeef = 999999999")
        let lostRun = try await check(lost)
        #expect(lostRun.status == 1, "\(lostRun.output)")
        #expect(lostRun.output.contains("acknowledged write lost: key stress-0/6b65792d30"), "\(lostRun.output)")
        #expect(lostRun.output.contains("past") || lostRun.output.contains("higher versions"), "\(lostRun.output)")

        // A Raft hard state acknowledged after everything else that the store does not hold.
        let lastOfGroup = try #require(lines.lastIndex { line in
            let w = line.split(separator: " ")  // ACK <op> raft <operation> <group> ...
            return w.count > 4 && w[0] == "ACK" && w[2] == "raft" && w[4] == "1"
        })
        let result = try #require(lines[lastOfGroup].components(separatedBy: " = ").last?.components(separatedBy: " ~").first)
        let hs = lines.map { $0 + "\n" }.joined() + Self.frame("TRY 99.2 raft hs 1 999999 1 0")
            + Self.frame("ACK 99.2 raft hs 1 999999 1 0 = \(result)")
        let hsRun = try await check(hs)
        #expect(hsRun.status == 1, "\(hsRun.output)")
        #expect(hsRun.output.contains("group 1: hard state"), "\(hsRun.output)")

        // A MemFirst durability claim for an append in flight that the store does not hold.
        let writer = try #require(lines[0].split(separator: " ").first { $0.hasPrefix("writer=") }?.dropFirst(7))
        let last = try #require(UInt64(result.split(separator: " ")[1]))
        let payload = Self.stressEntryPayload(writer: String(writer), op: "99.3", group: 1, index: last + 1, term: 999_999)
        let digest = Self.crcHex(withUnsafeBytes(of: ls_crc32c_value(payload, payload.count).littleEndian) { Array($0) })
        let claimed = lines.map { $0 + "\n" }.joined() + Self.frame("TRY 99.3 raft append 1 \(last + 1) 1 999999 \(digest) -")
            + Self.frame("DURABLE 99.3 1 \(last + 1)")
        let claimRun = try await check(claimed)
        #expect(claimRun.status == 1, "\(claimRun.output)")
        #expect(claimRun.output.contains("durableIndex was \(last + 1)"), "\(claimRun.output)")
        // Without the claim, the same append in flight may simply have been lost.
        let unclaimed = try await check(lines.map { $0 + "\n" }.joined() + Self.frame("TRY 99.3 raft append 1 \(last + 1) 1 999999 \(digest) -"))
        #expect(unclaimed.status == 0, "\(unclaimed.output)")

        // A complete line that fails its checksum is not an ACK stream (exit 2).
        var damaged = lines
        damaged[1] = damaged[1].replacingOccurrences(of: "BASE", with: "BASF")
        let damagedRun = try await check(damaged.map { $0 + "\n" }.joined())
        #expect(damagedRun.status == 2, "\(damagedRun.output)")
    }

    @Test("check accepts an in-flight batch whose key an acknowledged delete, issued after it, removed; and refuses one that survived in part")
    func checkInFlightBatchThenAcknowledgedDelete() async throws {
        // The state a kill once left (5d5ee43): batch {put a, put b} durable but killed before its
        // ACK line, then b deleted by a delete that was acknowledged. b is absent because of the
        // delete, not because the batch survived in part.
        let dir = TemporaryDirectory("logstore-check-batch")
        let store = dir.path + "/store"
        let lines = try await Self.stressLines(dir, ["--duration", "0.2", "--seed", "11", "--groups", "1", "--tasks", "2"])
            .map { $0 + "\n" }

        let namespace = try Namespace("stress-0")
        let keyA = bytes("late-a"), keyB = bytes("late-b")
        let valueA = bytes("value of late-a"), valueB = bytes("value of late-b")
        let opened = try Store.open(at: store, configuration: smallStore())
        var batch = WriteBatch()
        batch.put(valueA, for: keyA, in: namespace)
        batch.put(valueB, for: keyB, in: namespace)
        let batchVersion = try await opened.write(batch)[0].lsn
        var deletion = WriteBatch()
        deletion.delete(keyB, in: namespace)
        let deleteVersion = try await opened.write(deletion)[0].lsn
        try opened.close()
        #expect(deleteVersion == batchVersion + 2)

        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        func item(_ key: [UInt8], _ value: [UInt8]) -> String { "put:stress-0:\(hex(key)):\(value.count):\(Self.crcHex(value))" }
        let tryBatch = Self.frame("TRY 99.1 kv batch 2 \(item(keyA, valueA)) \(item(keyB, valueB))")
        let tryDelete = Self.frame("TRY 99.2 kv del stress-0 \(hex(keyB))")

        func check(_ extra: String) async throws -> (status: Int32, output: String) { try await Self.check(dir, lines.joined() + extra) }
        let acknowledged = try await check(tryBatch + tryDelete + Self.frame("ACK 99.2 kv del stress-0 \(hex(keyB)) = \(deleteVersion)"))
        #expect(acknowledged.status == 0, "\(acknowledged.output)")
        let inFlight = try await check(tryBatch + tryDelete)
        #expect(inFlight.status == 0, "\(inFlight.output)")
        // No delete of b anywhere: b's absence contradicts the batch's surviving put of a.
        let partial = try await check(tryBatch)
        #expect(partial.status == 1, "\(partial.output)")
        #expect(partial.output.contains("in-flight batch op 99.1 survived in part"), "\(partial.output)")
    }
}
