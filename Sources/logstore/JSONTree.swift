/// A JSON value that may nest (objects in arrays in objects), for reports that are one JSON
/// object rather than flat lines (`logstore recover --json`). Scalars and strings are written
/// as ``JSONObject`` writes them; object keys keep the order they were given in.
indirect enum JSONTree: Sendable {
    /// A number, string, boolean or null.
    case scalar(JSONObject.Value)
    /// An array.
    case array([JSONTree])
    /// An object: keys in order.
    case object([(String, JSONTree)])

    /// A string.
    static func string(_ s: String) -> JSONTree { .scalar(.string(s)) }
    /// An unsigned number.
    static func unsigned(_ n: UInt64) -> JSONTree { .scalar(.unsigned(n)) }
    /// A boolean.
    static func bool(_ b: Bool) -> JSONTree { .scalar(.bool(b)) }
    /// `null`.
    static let null = JSONTree.scalar(.null)

    /// The value as one line of JSON, without a trailing newline.
    var serialized: String {
        switch self {
        case .scalar(let value): JSONObject.encode(value)
        case .array(let items): "[" + items.map(\.serialized).joined(separator: ",") + "]"
        case .object(let entries):
            "{" + entries.map { JSONObject.quote($0.0) + ":" + $0.1.serialized }.joined(separator: ",") + "}"
        }
    }
}
