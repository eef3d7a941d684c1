import CLogStore
import PropertyBased
import Testing

/// A small deterministic generator for test contents (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Record and frame codecs (ls_format.h): round trips, and every single-byte change detected.
@Suite("Codec")
struct CodecTests {
    static func randomBytes(_ count: Int, _ rng: inout SplitMix) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    static func encode(type: UInt8, flags: UInt8, key: [UInt8], value: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ls_record_encoded_size(UInt32(key.count), UInt32(value.count)))
        key.withUnsafeBufferPointer { k in
            value.withUnsafeBufferPointer { v in
                var r = ls_record(type: type, flags: flags, key_len: UInt32(key.count), value_len: UInt32(value.count),
                                  key: k.baseAddress, value: v.baseAddress)
                #expect(ls_record_encode(&r, &out) == out.count)
            }
        }
        return out
    }

    @Test("encoding records together writes the bytes of encoding them one by one")
    func recordsEncodeMatchesOneByOne() async {
        await propertyCheck(count: 200, input: Gen<UInt64>.value(), Gen.int(in: 0...11)) { seed, count in
            var rng = SplitMix(state: seed)
            let records: [(type: UInt8, flags: UInt8, key: [UInt8], value: [UInt8])] = (0..<count).map { _ in
                (UInt8.random(in: 1...255, using: &rng), UInt8.random(in: 0...255, using: &rng),
                 Self.randomBytes(Int.random(in: 0...40, using: &rng), &rng),
                 Self.randomBytes(Int.random(in: 0...600, using: &rng), &rng))
            }
            let expected = records.flatMap { Self.encode(type: $0.type, flags: $0.flags, key: $0.key, value: $0.value) }
            var out = [UInt8](repeating: 0xEE, count: expected.count)
            // The C records point into buffers of their own, alive until after the call.
            let written = { () -> Int in
                var views: [ls_record] = []
                var pinned: [(UnsafeMutableBufferPointer<UInt8>, UnsafeMutableBufferPointer<UInt8>)] = []
                for record in records {
                    let key = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, record.key.count))
                    let value = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, record.value.count))
                    _ = key.initialize(from: record.key)
                    _ = value.initialize(from: record.value)
                    pinned.append((key, value))
                    views.append(ls_record(
                        type: record.type, flags: record.flags, key_len: UInt32(record.key.count),
                        value_len: UInt32(record.value.count), key: key.baseAddress, value: value.baseAddress))
                }
                defer { for (key, value) in pinned { key.deallocate(); value.deallocate() } }
                return views.withUnsafeBufferPointer { ls_records_encode($0.baseAddress, count, &out) }
            }()
            #expect(written == expected.count)
            #expect(out == expected)
        }
    }

    @Test("records round-trip through encode and decode")
    func recordRoundTrip() async {
        await propertyCheck(count: 300, input: Gen<UInt64>.value(), Gen.int(in: 0...300), Gen.int(in: 0...3000)) {
            seed, keyLength, valueLength in
            var rng = SplitMix(state: seed)
            let type = UInt8.random(in: 1...255, using: &rng), flags = UInt8.random(in: 0...255, using: &rng)
            let key = Self.randomBytes(keyLength, &rng), value = Self.randomBytes(valueLength, &rng)
            let encoded = Self.encode(type: type, flags: flags, key: key, value: value)
            var decoded = ls_record()
            var used = 0
            #expect(ls_record_decode(encoded, encoded.count, &decoded, &used) == LS_FMT_OK)
            #expect(used == encoded.count)
            #expect(decoded.type == type && decoded.flags == flags)
            #expect(Array(UnsafeBufferPointer(start: decoded.key, count: Int(decoded.key_len))) == key)
            #expect(Array(UnsafeBufferPointer(start: decoded.value, count: Int(decoded.value_len))) == value)
            // A truncated record never decodes.
            if encoded.count > 0 {
                #expect(ls_record_decode(encoded, encoded.count - 1, &decoded, &used) != LS_FMT_OK)
            }
        }
    }

    @Test("a change to any byte of a record is detected")
    func recordCorruptionDetected() {
        var rng = SplitMix(state: 42)
        let encoded = Self.encode(type: 5, flags: 1, key: Self.randomBytes(9, &rng), value: Self.randomBytes(50, &rng))
        for index in encoded.indices {
            for bit in 0..<8 {
                var damaged = encoded
                damaged[index] ^= UInt8(1 << bit)
                var decoded = ls_record()
                var used = 0
                let status = ls_record_decode(damaged, damaged.count, &decoded, &used)
                #expect(status != LS_FMT_OK || used != encoded.count, "byte \(index) bit \(bit)")
            }
        }
    }

    /// Builds a whole frame (header + body + padding) around `body`.
    static func frame(body: [UInt8], records: UInt32, firstLSN: UInt64, seq: UInt64, flags: UInt16 = 0) -> [UInt8] {
        var h = ls_frame_header(stored_len: UInt32(body.count), record_count: records, first_lsn: firstLSN,
                                segment_seq: seq, flags: flags, raw_len: UInt32(body.count))
        var out = [UInt8](repeating: 0, count: Int(ls_frame_disk_size(UInt32(body.count))))
        ls_frame_header_encode(&h, ls_crc32c_value(body, body.count), &out)
        out.replaceSubrange(Int(LS_FRAME_HEADER_SIZE)..<Int(LS_FRAME_HEADER_SIZE) + body.count, with: body)
        return out
    }

    @Test("frames round-trip and every covered byte is checked")
    func frameRoundTrip() async {
        await propertyCheck(count: 200, input: Gen<UInt64>.value(), Gen.int(in: 0...2000)) { seed, length in
            var rng = SplitMix(state: seed)
            let body = Self.randomBytes(length, &rng)
            let lsn = UInt64.random(in: 1...UInt64.max / 2, using: &rng), seq = rng.next()
            let bytes = Self.frame(body: body, records: 3, firstLSN: lsn, seq: seq)
            #expect(bytes.count % Int(LS_FRAME_ALIGN) == 0)
            var h = ls_frame_header()
            #expect(ls_frame_verify(bytes, bytes.count, &h) == LS_FMT_OK)
            #expect(h.stored_len == UInt32(length) && h.record_count == 3 && h.first_lsn == lsn && h.segment_seq == seq)
            // Flip one random covered byte: the frame no longer verifies.
            let covered = Int(LS_FRAME_HEADER_SIZE) + length
            let index = Int.random(in: 0..<covered, using: &rng)
            var damaged = bytes
            damaged[index] ^= 0x80
            #expect(ls_frame_verify(damaged, damaged.count, &h) != LS_FMT_OK, "byte \(index) of \(covered)")
        }
    }

    @Test("the frame CRC combined from per-append CRCs equals the CRC over the whole body")
    func combinedFrameCRC() {
        var rng = SplitMix(state: 9)
        let parts = (0..<5).map { _ in Self.randomBytes(Int.random(in: 0...500, using: &rng), &rng) }
        let body = parts.flatMap { $0 }
        var combined: UInt32 = 0
        for p in parts { combined = ls_crc32c_combine(combined, ls_crc32c_value(p, p.count), p.count) }
        #expect(combined == ls_crc32c_value(body, body.count))
    }

    @Test("segment headers round-trip; a damaged header is refused")
    func segmentHeader() {
        var h = ls_segment_header(version: LS_FORMAT_VERSION, writer_id: 0xABCD, sequence: 17, base_lsn: 1000, segment_size: 1 << 20)
        var bytes = [UInt8](repeating: 0, count: Int(LS_SEGMENT_HEADER_SIZE))
        ls_segment_header_encode(&h, &bytes)
        var back = ls_segment_header()
        #expect(ls_segment_header_decode(bytes, &back) == LS_FMT_OK)
        #expect(back.writer_id == 0xABCD && back.sequence == 17 && back.base_lsn == 1000 && back.segment_size == 1 << 20)
        for index in bytes.indices {
            var damaged = bytes
            damaged[index] ^= 0x04
            #expect(ls_segment_header_decode(damaged, &back) != LS_FMT_OK, "byte \(index)")
        }
    }
}
