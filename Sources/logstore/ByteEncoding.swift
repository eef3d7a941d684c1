import Foundation

/// How keys and values are spelled on the command line and in text output: UTF-8 text (the
/// default) or hexadecimal digits (`--hex`), which can carry any bytes.
enum ByteEncoding: Sendable {
    /// The bytes of the text, as is; printed back as text.
    case utf8
    /// Two hex digits per byte (either case; spaces, tabs and newlines between bytes are
    /// ignored, as is a leading `0x`); printed as lowercase digits.
    case hex

    /// `.hex` when `hex` is set, else `.utf8`.
    init(hex: Bool) { self = hex ? .hex : .utf8 }

    /// The bytes `text` stands for.
    ///
    /// - Parameter what: Names the input in the error, e.g. "key".
    /// - Throws: ``CLIFailure`` (bad input) for malformed hex.
    func decode(_ text: String, what: String) throws(CLIFailure) -> [UInt8] {
        switch self {
        case .utf8: return Array(text.utf8)
        case .hex: return try Self.decodeHex(Array(text.utf8), what: what)
        }
    }

    /// The bytes of standard-input data: as is in UTF-8 mode (binary-safe, nothing trimmed),
    /// hex digits in hex mode.
    func decode(input: [UInt8], what: String) throws(CLIFailure) -> [UInt8] {
        switch self {
        case .utf8: return input
        case .hex: return try Self.decodeHex(input, what: what)
        }
    }

    /// `bytes` as text: UTF-8 (invalid sequences become U+FFFD) or lowercase hex.
    func encode(_ bytes: [UInt8]) -> String {
        switch self {
        case .utf8: return String(decoding: bytes, as: UTF8.self)
        case .hex: return Self.hex(bytes)
        }
    }

    /// `bytes` for a message: quoted text in UTF-8 mode, `0x` and hex digits in hex mode.
    func quoted(_ bytes: [UInt8]) -> String {
        switch self {
        case .utf8: return String(decoding: bytes, as: UTF8.self).debugDescription
        case .hex: return "0x" + Self.hex(bytes)
        }
    }

    /// Lowercase hex digits, two per byte.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Standard base64 with padding.
    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// The text, if `bytes` are valid UTF-8; `nil` otherwise.
    static func utf8Text(_ bytes: [UInt8]) -> String? { String(validating: bytes, as: UTF8.self) }

    private static func decodeHex(_ text: [UInt8], what: String) throws(CLIFailure) -> [UInt8] {
        var digits = text.filter { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }
        if digits.count >= 2, digits[0] == UInt8(ascii: "0"), digits[1] | 0x20 == UInt8(ascii: "x") {
            digits.removeFirst(2)
        }
        guard digits.count % 2 == 0 else {
            throw CLIFailure(badInput: "\(what) has an odd number of hex digits (\(digits.count))")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let high = nibble(digits[i]), let low = nibble(digits[i + 1]) else {
                let bad = nibble(digits[i]) == nil ? digits[i] : digits[i + 1]
                throw CLIFailure(badInput: "\(what) is not hex: unexpected character \(String(UnicodeScalar(bad)).debugDescription)")
            }
            bytes.append(high << 4 | low)
            i += 2
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
