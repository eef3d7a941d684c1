/// A logical namespace of keys. Every namespace lives in the store's one log, so writes to
/// all of them share group commit; a key in one namespace never collides with the same key
/// in another.
///
/// Names are 1...``maxLength`` bytes of `A-Z a-z 0-9 . _ -`, and not `.` or `..`: no path
/// separators, no control characters, nothing a tool printing names could misread.
public struct Namespace: Hashable, Sendable, CustomStringConvertible {
    /// The longest name, in bytes.
    public static let maxLength = 64

    /// The validated name.
    public let name: String
    /// The name's UTF-8 bytes (all ASCII), as stored in records.
    let bytes: [UInt8]

    /// Validates `name`.
    ///
    /// - Throws: ``StoreError/Kind/invalidNamespace`` saying which rule it breaks.
    public init(_ name: String) throws(StoreError) {
        let bytes = Array(name.utf8)
        try self.init(validating: bytes)
    }

    /// Validates raw name bytes (as read from a record).
    init(validating bytes: [UInt8]) throws(StoreError) {
        guard !bytes.isEmpty else {
            throw StoreError(kind: .invalidNamespace, message: "a namespace name cannot be empty")
        }
        guard bytes.count <= Self.maxLength else {
            throw StoreError(
                kind: .invalidNamespace,
                message: "namespace name of \(bytes.count) bytes exceeds \(Self.maxLength)")
        }
        guard bytes.allSatisfy(Self.isAllowed) else {
            throw StoreError(
                kind: .invalidNamespace,
                message: "namespace name \(String(decoding: bytes, as: UTF8.self).debugDescription) may only hold A-Z a-z 0-9 . _ -")
        }
        guard bytes != [0x2E] && bytes != [0x2E, 0x2E] else {
            throw StoreError(kind: .invalidNamespace, message: "a namespace cannot be named \".\" or \"..\"")
        }
        self.bytes = bytes
        self.name = String(decoding: bytes, as: UTF8.self)
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    /// The name.
    public var description: String { name }

    /// Equal names are equal namespaces.
    public static func == (a: Namespace, b: Namespace) -> Bool { a.bytes == b.bytes }
    /// Hashes the name.
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }
}
