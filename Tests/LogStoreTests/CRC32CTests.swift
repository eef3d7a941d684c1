import CLogStore
import Foundation
import PropertyBased
import LogStore
import Testing

/// Tests of the C core's CRC32C (`ls_crc32c.h`): known answers from RFC 3720, the
/// LevelDB-style mask, and properties tying the hardware path, the portable path and
/// `ls_crc32c_combine` together.
@Suite("CRC32C")
struct CRC32CTests {
    // MARK: Known answers

    /// RFC 3720 appendix B.4 and the customary check value of "123456789".
    static let knownAnswers: [KnownAnswer] = [
        KnownAnswer("32 bytes of 0x00", [UInt8](repeating: 0x00, count: 32), 0x8A91_36AA),
        KnownAnswer("32 bytes of 0xFF", [UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        KnownAnswer("0x00...0x1F ascending", (0..<32).map { UInt8($0) }, 0x46DD_794E),
        KnownAnswer("0x1F...0x00 descending", (0..<32).reversed().map { UInt8($0) }, 0x113F_DB5C),
        KnownAnswer("iSCSI read PDU", iSCSIReadPDU, 0xD996_3A56),
        KnownAnswer("\"123456789\"", Array("123456789".utf8), 0xE306_9283),
    ]

    /// The 48-byte iSCSI SCSI Read (10) command PDU of RFC 3720 B.4.
    static let iSCSIReadPDU: [UInt8] = [
        0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
        0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]

    @Test("RFC 3720 vectors", arguments: Implementation.allCases, knownAnswers)
    func knownAnswer(_ implementation: Implementation, _ vector: KnownAnswer) {
        #expect(implementation.crc(vector.bytes) == vector.crc)
    }

    @Test("Known answers match a bit-at-a-time reference", arguments: knownAnswers)
    func referenceAgreesWithVectors(_ vector: KnownAnswer) {
        #expect(Self.referenceCRC32C(0, vector.bytes[...]) == vector.crc)
    }

    @Test("An empty extension returns the CRC unchanged", arguments: Implementation.allCases)
    func emptyExtension(_ implementation: Implementation) {
        #expect(implementation.crc([]) == 0)
        #expect(implementation.extend(0xE306_9283, []) == 0xE306_9283)
    }

    /// `combine(1, 0, n)` is x^(8n) mod P, since 0x8000_0000 is the polynomial 1 in
    /// reflected order and CRC(empty) = 0. The expected values were computed apart from
    /// this code, with big-integer polynomial arithmetic modulo 0x1_1EDC_6F41.
    static let knownPowers: [(length: UInt, power: UInt32)] = [
        (0, 0x8000_0000),
        (1, 0x0080_0000),
        (9, 0x1C08_B7D6),
        ((1 << 40) + 12_345, 0x7D32_B654),
        (1 << 63, 0x0000_8000),
        (UInt.max, 0x0000_0080),
    ]

    @Test("combine shifts by x^(8n) mod P, up to the largest size_t", arguments: knownPowers)
    func combineKnownPowers(_ length: UInt, _ power: UInt32) {
        #expect(ls_crc32c_combine(0x8000_0000, 0, Int(bitPattern: length)) == power)
    }

    @Test("combine with an empty B returns CRC(A)")
    func combineEmpty() {
        let a = ls_crc32c_value(Self.iSCSIReadPDU, Self.iSCSIReadPDU.count)
        #expect(ls_crc32c_combine(a, 0, 0) == a)
    }

    @Test("is_hardware matches the CPU's flags in /proc/cpuinfo")
    func hardwareDetected() throws {
        #if arch(x86_64) && os(Linux)
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ") ?? []
        let hasInstructions = flags.contains("sse4_2") && flags.contains("pclmulqdq")
        #expect(ls_crc32c_is_hardware() == (hasInstructions ? 1 : 0))
        #else
        #expect([0, 1].contains(ls_crc32c_is_hardware()))
        #endif
    }

    // MARK: Mask

    @Test("mask and unmask round trip, and mask is not the identity")
    func maskKnown() {
        let crc = ls_crc32c_value("foo", 3)
        #expect(ls_crc32c_mask(crc) != crc)
        #expect(ls_crc32c_mask(ls_crc32c_mask(crc)) != crc)
        #expect(ls_crc32c_unmask(ls_crc32c_mask(crc)) == crc)
        #expect(ls_crc32c_unmask(ls_crc32c_unmask(ls_crc32c_mask(ls_crc32c_mask(crc)))) == crc)
    }

    @Test("unmask(mask(x)) == x for any x")
    func maskRoundTrip() async {
        await propertyCheck(count: 1_000, input: Gen<UInt32>.value()) { value in
            #expect(ls_crc32c_unmask(ls_crc32c_mask(value)) == value)
            #expect(ls_crc32c_mask(ls_crc32c_unmask(value)) == value)
        }
    }

    // MARK: Hardware against portable

    /// Every length up to two short blocks plus a tail, and lengths around the block
    /// boundaries of the three-stream loop (3 x 256 and 3 x 8192 bytes), at every
    /// misalignment of an 8-byte word.
    @Test("hardware == portable around every block boundary and misalignment")
    func boundaries() {
        let short = 3 * 256, long = 3 * 8192
        var lengths = Array(0...(2 * short + 64))
        for base in [long, long + short, 2 * long, 2 * long + short, 65_536, 3 * long] {
            lengths += (base - 9)...(base + 9)
        }
        let bytes = Self.randomBytes(count: lengths.max()! + 16, seed: 0x5EED)
        bytes.withUnsafeBytes { buffer in
            for offset in 0..<16 {
                for length in lengths {
                    let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + length)])
                    let hardware = Implementation.dispatched.extend(0x1234_5678, slice)
                    let portable = Implementation.portable.extend(0x1234_5678, slice)
                    #expect(hardware == portable, "offset \(offset), length \(length)")
                }
            }
        }
    }

    @Test("hardware == portable == reference for random bytes, short lengths")
    func agreesWithReference() async {
        await propertyCheck(input: Gen.int(in: 0...4_096), Gen.int(in: 0...15), Gen<UInt64>.value(), Gen<UInt32>.value()) {
            length, offset, seed, start in
            let bytes = Self.randomBytes(count: offset + length, seed: seed)
            let expected = Self.referenceCRC32C(start, bytes[offset...])
            bytes.withUnsafeBytes { buffer in
                let slice = UnsafeRawBufferPointer(rebasing: buffer[offset...])
                #expect(Implementation.dispatched.extend(start, slice) == expected)
                #expect(Implementation.portable.extend(start, slice) == expected)
            }
        }
    }

    @Test("hardware == portable for random bytes, lengths 0...100_000, unaligned starts")
    func hardwareMatchesPortable() async {
        await propertyCheck(input: Self.length, Gen.int(in: 0...15), Gen<UInt64>.value(), Gen<UInt32>.value()) {
            length, offset, seed, start in
            let bytes = Self.randomBytes(count: offset + length, seed: seed)
            bytes.withUnsafeBytes { buffer in
                let slice = UnsafeRawBufferPointer(rebasing: buffer[offset...])
                #expect(
                    Implementation.dispatched.extend(start, slice) == Implementation.portable.extend(start, slice),
                    "offset \(offset), length \(length)")
            }
        }
    }

    // MARK: Composition

    @Test("extend(extend(0, A), B) == extend(0, A || B)", arguments: Implementation.allCases)
    func extendComposes(_ implementation: Implementation) async {
        await propertyCheck(input: Self.length, Gen<UInt64>.value(), Gen.int(in: 0...1_000_000)) {
            length, seed, cut in
            let bytes = Self.randomBytes(count: length, seed: seed)
            let split = length == 0 ? 0 : cut % (length + 1)
            let a = Array(bytes[..<split]), b = Array(bytes[split...])
            #expect(implementation.extend(implementation.crc(a), b) == implementation.crc(bytes))
        }
    }

    @Test("combine(crc(A), crc(B), |B|) == crc(A || B)")
    func combineMatchesConcatenation() async {
        await propertyCheck(input: Self.length, Gen<UInt64>.value(), Gen.int(in: 0...1_000_000)) {
            length, seed, cut in
            let bytes = Self.randomBytes(count: length, seed: seed)
            let split = length == 0 ? 0 : cut % (length + 1)
            let a = Array(bytes[..<split]), b = Array(bytes[split...])
            let combined = ls_crc32c_combine(Implementation.dispatched.crc(a), Implementation.dispatched.crc(b), b.count)
            #expect(combined == Implementation.dispatched.crc(bytes))
        }
    }

    @Test("value3 gives each of three buffers its own CRC, whatever their lengths and alignments")
    func valueOfThreeMatchesEach() async {
        await propertyCheck(
            count: 300, input: Gen<UInt64>.value(), Self.length, Self.length, Self.length
        ) { seed, a, b, c in
            let lengths = [a, b, c]
            // One buffer holding the three back to back at odd offsets, so their alignments differ.
            let bytes = Self.randomBytes(count: a + b + c + 3, seed: seed)
            let starts = [1, a + 2, a + b + 3]
            let expected = (0..<3).map { Implementation.dispatched.crc(Array(bytes[starts[$0]..<starts[$0] + lengths[$0]])) }
            let got = bytes.withUnsafeBytes { raw -> [UInt32] in
                let data: [UnsafeRawPointer?] = starts.map { UnsafeRawPointer(raw.baseAddress! + $0) }
                var out = [UInt32](repeating: 0, count: 3)
                data.withUnsafeBufferPointer { d in
                    lengths.withUnsafeBufferPointer { n in ls_crc32c_value3(d.baseAddress!, n.baseAddress!, &out) }
                }
                return out
            }
            #expect(got == expected)
        }
    }

    /// Lengths 0...100_000, weighted so that short inputs (all the tail paths) are as
    /// likely as long ones (the three-stream blocks).
    static let length = Gen.oneOf(
        Gen.int(in: 0...64).eraseToAnySequence(),
        Gen.int(in: 0...4_096).eraseToAnySequence(),
        Gen.int(in: 0...100_000).eraseToAnySequence())
}

// MARK: - Helpers

// Nested, so that other test files of the module are free to use these names.
extension CRC32CTests {
    /// One of the two entry points that must compute the same function.
    enum Implementation: String, CaseIterable, Sendable, CustomTestStringConvertible {
        /// `ls_crc32c_extend`: the hardware path on CPUs that have one.
        case dispatched
        /// `ls_crc32c_extend_portable`: slicing-by-8 tables.
        case portable

        var testDescription: String { rawValue }

        func extend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
            switch self {
            case .dispatched: ls_crc32c_extend(crc, bytes.baseAddress, bytes.count)
            case .portable: ls_crc32c_extend_portable(crc, bytes.baseAddress, bytes.count)
            }
        }

        func extend(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
            bytes.withUnsafeBytes { extend(crc, $0) }
        }

        func crc(_ bytes: [UInt8]) -> UInt32 {
            extend(0, bytes)
        }
    }

    struct KnownAnswer: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let crc: UInt32

        init(_ name: String, _ bytes: [UInt8], _ crc: UInt32) {
            self.name = name
            self.bytes = bytes
            self.crc = crc
        }

        var testDescription: String { name }
    }

    /// CRC32C one bit at a time, straight from the definition: an oracle that shares no
    /// code or table with the C implementation.
    static func referenceCRC32C(_ crc: UInt32, _ bytes: ArraySlice<UInt8>) -> UInt32 {
        let reflectedPolynomial: UInt32 = 0x82F6_3B78
        var register = ~crc
        for byte in bytes {
            register ^= UInt32(byte)
            for _ in 0..<8 {
                register = register & 1 == 1 ? (register >> 1) ^ reflectedPolynomial : register >> 1
            }
        }
        return ~register
    }

    /// `count` bytes of SplitMix64 output from `seed`: reproducible from the seed that
    /// PropertyBased reports on failure.
    static func randomBytes(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var index = 0
            while index < count {
                state &+= 0x9E37_79B9_7F4A_7C15
                var word = state
                word = (word ^ (word >> 30)) &* 0xBF58_476D_1CE4_E5B9
                word = (word ^ (word >> 27)) &* 0x94D0_49BB_1331_11EB
                word ^= word >> 31
                for _ in 0..<min(8, count - index) {
                    buffer[index] = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                    index += 1
                }
            }
            initialized = count
        }
    }
}

@Suite("CRC32C: the public Swift entry point")
struct PublicCRC32CTests {
    @Test("CRC32C.checksum gives the RFC 3720 answers", arguments: CRC32CTests.knownAnswers)
    func publicChecksum(_ vector: CRC32CTests.KnownAnswer) {
        #expect(CRC32C.checksum(vector.bytes) == vector.crc)
    }
}
