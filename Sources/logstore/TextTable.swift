/// Renders rows of cells as an aligned text table: a header row, a rule under it, the leading
/// text columns left-aligned and the others (numbers) right-aligned.
enum TextTable {
    /// `rows[0]` is the header; every row has the same number of cells. The first
    /// `leftAligned` columns are left-aligned (default 2: the text columns of the bench tables).
    static func render(_ rows: [[String]], leftAligned: Int = 2) -> String {
        guard let header = rows.first else { return "" }
        var widths = [Int](repeating: 0, count: header.count)
        for line in rows {
            for (i, cell) in line.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        var text = ""
        for (n, line) in rows.enumerated() {
            let padded = line.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i < leftAligned ? cell + pad : pad + cell  // text left, numbers right
            }
            text += padded.joined(separator: "  ") + "\n"
            if n == 0 { text += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" }
        }
        return text
    }
}
