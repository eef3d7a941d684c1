import Foundation

/// Number formatting shared by the table and the progress line.
enum Format {
    /// `value` with exactly `decimals` digits after the point ("-" for a non-finite value).
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        value.isFinite ? String(format: "%.\(decimals)f", value) : "-"
    }

    /// A byte count in the largest binary unit that divides it: "64 MiB", "4 KiB", "100 B".
    static func bytes(_ count: UInt64) -> String {
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] where count >= 1 << shift && count % (1 << shift) == 0 {
            return "\(count >> shift) \(unit)"
        }
        return "\(count) B"
    }
}
