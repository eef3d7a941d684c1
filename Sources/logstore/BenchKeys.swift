import LogStore

/// Keys and values of the key-value store benchmarks.
///
/// Keys are 16 bytes: two little-endian 64-bit words. Loaded key number `i` is
/// (`mix(i)`, `i`), so keys spread over the hash space and any of them can be rebuilt from its
/// number; `bench put` writes (writer, counter) instead, distinct per put. Values are a fixed
/// pseudo-random pattern whose first 8 bytes (when there are 8) hold the key's number, so a
/// read can check that it got its own key's value.
enum BenchKeys {
    /// Key bytes.
    static let keySize = 16
    /// The namespace every benchmark writes to.
    static let namespaceName = "bench"

    /// The benchmarks' namespace.
    static var namespace: Namespace {
        // A constant, valid name: failing here is a programming error.
        do throws(StoreError) { return try Namespace(namespaceName) } catch { fatalError("\(error)") }
    }

    /// Writes key (`high`, `low`) into `key` (``keySize`` bytes) in place.
    @inline(__always)
    static func fill(_ key: inout [UInt8], high: UInt64, low: UInt64) {
        key.withUnsafeMutableBytes { bytes in
            bytes.storeBytes(of: high.littleEndian, toByteOffset: 0, as: UInt64.self)
            bytes.storeBytes(of: low.littleEndian, toByteOffset: 8, as: UInt64.self)
        }
    }

    /// Writes loaded key number `index` into `key` in place.
    @inline(__always)
    static func fill(_ key: inout [UInt8], index: UInt64) {
        fill(&key, high: mix(index), low: index)
    }

    /// Loaded key number `index`.
    static func key(_ index: UInt64) -> [UInt8] {
        var key = [UInt8](repeating: 0, count: keySize)
        fill(&key, index: index)
        return key
    }

    /// The value of loaded key number `index`: `pattern` with its first 8 bytes set to `index`.
    static func value(_ index: UInt64, pattern: [UInt8]) -> [UInt8] {
        var value = pattern
        if value.count >= 8 {
            value.withUnsafeMutableBytes { $0.storeBytes(of: index.littleEndian, as: UInt64.self) }
        }
        return value
    }

    /// Whether `value` is the value of loaded key number `index` (by length and stamp).
    static func matches(_ value: [UInt8], index: UInt64, valueSize: Int) -> Bool {
        guard value.count == valueSize else { return false }
        guard valueSize >= 8 else { return true }
        return value.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } == index
    }

    /// SplitMix64's finalizer: a bijection that spreads consecutive numbers.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The store configuration of a benchmark: the bench options' log configuration, defaults otherwise.
    static func storeConfiguration(_ settings: BenchSettings) -> StoreConfiguration {
        var configuration = StoreConfiguration()
        configuration.log = settings.configuration
        return configuration
    }
}
