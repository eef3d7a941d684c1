/// A flat JSON object whose keys keep the order they were set in, serialized on one line.
///
/// Numbers are written as JSON numbers (non-finite ones as `null`), strings escaped per
/// RFC 8259.
struct JSONObject: Sendable {
    /// A JSON value of the kinds the reports use.
    enum Value: Sendable {
        case string(String)
        case integer(Int64)
        case unsigned(UInt64)
        /// A number rounded to `decimals` digits after the point.
        case number(Double, decimals: Int)
        case bool(Bool)
        case null
    }

    private var entries: [(key: String, value: Value)] = []

    /// Sets `key` (appending it if new, replacing its value in place if not).
    subscript(key: String) -> Value? {
        get { entries.first { $0.key == key }?.value }
        set {
            let index = entries.firstIndex { $0.key == key }
            switch (index, newValue) {
            case (let i?, let v?): entries[i].value = v
            case (let i?, nil): entries.remove(at: i)
            case (nil, let v?): entries.append((key, v))
            case (nil, nil): break
            }
        }
    }

    /// The object as one line of JSON, without a trailing newline.
    var serialized: String {
        "{" + entries.map { Self.quote($0.key) + ":" + Self.encode($0.value) }.joined(separator: ",") + "}"
    }

    /// `value` as JSON text (also for ``JSONTree``).
    static func encode(_ value: Value) -> String {
        switch value {
        case .string(let s): return quote(s)
        case .integer(let n): return String(n)
        case .unsigned(let n): return String(n)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .number(let x, let decimals):
            guard x.isFinite else { return "null" }
            if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
            return Format.fixed(x, decimals)
        }
    }

    /// `s` as a JSON string literal, escaped per RFC 8259 (also for ``JSONTree``).
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
