import CLogStore

/// CRC32C (Castagnoli), the checksum of every frame, record and file of the store, computed by
/// the C core (hardware instructions where the CPU has them). Public so tools and tests check
/// bytes the way the store does.
public enum CRC32C {
    /// The standard CRC32C of `bytes` (initial value and final XOR 0xFFFFFFFF: "123456789"
    /// gives 0xE3069283), unmasked.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { ls_crc32c_value($0.baseAddress, $0.count) }
    }
}
