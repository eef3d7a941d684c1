/// The bytes `logstore stress` writes. Each starts with a text header naming what it is and
/// which operation wrote it (the writer id of the run, which is new at every open, makes it
/// unique across runs), followed by pseudo-random filler seeded from the header. Raft
/// payloads and snapshot data are a pure function of their identity, so `logstore check`
/// regenerates them to know their checksums; key-value values carry their length and
/// checksum on the ACK line instead.
enum StressPayloads {
    /// The value that write `item` of operation `op` puts under `key`, with `filler` bytes
    /// after its header.
    static func value(writer: String, op: String, item: Int, key: StressKey, filler: Int) -> [UInt8] {
        bytes(header: "v \(writer) \(op) \(item) \(key.namespace) \(key.hex);", filler: filler)
    }

    /// The payload of Raft entry `index` of `group` at `term`, appended by operation `op`.
    static func entry(writer: String, op: String, group: UInt64, index: UInt64, term: UInt64) -> [UInt8] {
        let header = "e \(writer) \(op) \(group) \(index) \(term);"
        let h = StressRandom.seed(header)
        // Mostly small entries; one in 64 up to 16 KiB, so frames and segments fill unevenly.
        let filler = h & 63 == 0 ? Int((h >> 8) % 16_384) : Int((h >> 8) % 200)
        return bytes(header: header, filler: filler)
    }

    /// The data of a snapshot of `group` at `index`/`term`, saved by operation `op`.
    static func snapshot(writer: String, op: String, group: UInt64, index: UInt64, term: UInt64) -> [UInt8] {
        let header = "s \(writer) \(op) \(group) \(index) \(term);"
        return bytes(header: header, filler: Int((StressRandom.seed(header) >> 8) % 4096))
    }

    /// CRC32C of each payload's CRC32C (little-endian), in order: the digest of a batch of
    /// entries on an ACK line.
    static func digest(_ crcs: [UInt32]) -> UInt32 {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(crcs.count * 4)
        for crc in crcs { withUnsafeBytes(of: crc.littleEndian) { bytes.append(contentsOf: $0) } }
        return StressChecksum.crc32c(bytes)
    }

    private static func bytes(header: String, filler: Int) -> [UInt8] {
        var out = Array(header.utf8)
        out.reserveCapacity(out.count + filler)
        var rng = StressRandom(seed: StressRandom.seed(header))
        var left = filler
        while left > 0 {
            var word = rng.next()
            for _ in 0..<min(8, left) {
                out.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
            left -= min(8, left)
        }
        return out
    }
}
