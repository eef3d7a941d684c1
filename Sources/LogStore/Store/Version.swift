/// The version of a key's value: the LSN of the record that wrote it. Versions of one key
/// only grow; ``absent`` (0) stands for "the key does not exist".
public struct Version: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The LSN of the record that wrote the value (0 for ``absent``).
    public let lsn: LSN

    /// A version from an LSN, e.g. one printed earlier.
    public init(lsn: LSN) { self.lsn = lsn }

    /// "Must not exist": as the expected version of ``Store/compareAndSwap(_:in:expected:newValue:)``
    /// or a batch condition it requires that the key is absent.
    public static let absent = Version(lsn: 0)

    /// Orders by LSN.
    public static func < (a: Version, b: Version) -> Bool { a.lsn < b.lsn }

    /// "absent" or "v<lsn>".
    public var description: String { lsn == 0 ? "absent" : "v\(lsn)" }
}

/// A value read from the store, with its version.
public struct VersionedValue: Sendable, Hashable {
    /// The value's bytes (checksum-verified when read).
    public let value: [UInt8]
    /// The version to pass to a compare-and-swap.
    public let version: Version

    /// Creates a versioned value.
    public init(value: [UInt8], version: Version) {
        self.value = value
        self.version = version
    }
}
