import Foundation
import PropertyBased
import Synchronization
import Testing

@testable import LogStore

/// Random damage anywhere in a log's files: opening either refuses with `corrupt`, or
/// yields a prefix of what was written, byte for byte. Never a crash, never altered data.
@Suite("Damage fuzz")
struct DamageFuzzTests {
    /// A closed log of single-record appends over several 64 KiB segments, and its values.
    static let original: (TemporaryDirectory, [[UInt8]]) = {
        let dir = TemporaryDirectory("logstore-fuzz-base")
        let values = (0..<1200).map { testValue(writer: 0, seq: $0, size: 24 + $0 % 80) }
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            let log = try! CommitLog.open(directory: dir.logPath, configuration: smallSegments())
            for v in values { _ = try! await log.append(LogRecord(key: [1], value: v)) }
            try! log.close()
            done.signal()
        }
        done.wait()
        return (dir, values)
    }()

    @Test("random byte damage is refused as corrupt or recovers a byte-exact prefix")
    func randomDamage() async {
        let (base, values) = Self.original
        let files = segmentFiles(base.logPath).map { ($0 as NSString).lastPathComponent }
        let outcomes = Mutex((opened: 0, refused: 0, shortened: 0))
        await propertyCheck(count: 150, input: Gen<UInt64>.value(), Gen.int(in: 1...4)) { seed, damages in
            var rng = SplitMix(state: seed)
            let copy = copyOfDirectory(base.logPath)
            var touched: [String] = []
            for _ in 0..<damages {
                let name = files[Int.random(in: 0..<files.count, using: &rng)]
                let path = segmentsDirectory(copy.logPath) + "/" + name
                // Aim at the written part of the file most of the time.
                let written = (try? frames(inSegment: path).last.map { $0.offset + $0.diskSize }) ?? nil
                try? mutateFile(path) { bytes in
                    let limit = max(1, min(bytes.count, (written ?? bytes.count) + 64))
                    let at = Int.random(in: 0..<limit, using: &rng)
                    bytes[at] ^= UInt8.random(in: 1...255, using: &rng)
                }
                touched.append("\(name)")
            }
            do throws(LogError) {
                let log = try CommitLog.open(directory: copy.logPath, configuration: smallSegments())
                defer { try? log.close() }
                let recovered = try log.readAll().map(\.record.value)
                #expect(recovered.count <= values.count)
                #expect(recovered == Array(values.prefix(recovered.count)), "seed \(seed): altered data after damage to \(touched)")
                outcomes.withLock {
                    $0.opened += 1
                    if recovered.count < values.count { $0.shortened += 1 }
                }
            } catch {
                #expect(error.kind == .corrupt, "seed \(seed): \(error)")
                outcomes.withLock { $0.refused += 1 }
            }
        }
        // Both outcomes must occur, or the damage missed what it was meant to hit.
        let seen = outcomes.withLock { $0 }
        #expect(seen.refused > 0 && seen.opened > 0, "\(seen)")
    }
}
