// MARK: - Plain-text tables for terminal output
import MAMLHost
import MAMLPlot

/// A left-aligned text table; numeric-looking columns are right-aligned. Cells often hold
/// plugin text (names, versions, help): control characters are shown escaped (`displaySafe`),
/// so every row is one line and nothing in a cell acts on the terminal.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }
    init(header: [String]) { self.header = header }

    mutating func add(_ cells: String...) { rows.append(cells.map { displaySafe($0) }) }
    mutating func add(_ cells: [String]) { rows.append(cells.map { displaySafe($0) }) }

    func render() -> String {
        let all = [header] + rows
        let columns = header.count
        var width = [Int](repeating: 0, count: columns)
        for row in all { for (i, cell) in row.enumerated() where i < columns { width[i] = max(width[i], cell.count) } }
        let numeric = (0..<columns).map { c in
            !rows.isEmpty && rows.allSatisfy { c < $0.count && Self.looksNumeric($0[c]) }
        }
        func line(_ row: [String]) -> String {
            (0..<columns).map { c in
                let cell = c < row.count ? row[c] : ""
                let pad = String(repeating: " ", count: width[c] - cell.count)
                return numeric[c] ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        let rule = width.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }

    static func looksNumeric(_ s: String) -> Bool {
        !s.isEmpty && s.allSatisfy { "0123456789.-+e%±x ".contains($0) } && s.contains(where: \.isNumber)
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

/// Fixed-point formatting without Foundation's locale machinery (MAMLPlot's, shared with the pictures).
func fmt(_ x: Double, _ digits: Int = 3) -> String { fixedPoint(x, digits) }

/// "1m 05s", "2h 03m", "12s".
func fmtDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m \(s % 60 < 10 ? "0" : "")\(s % 60)s" }
    return "\(s / 3600)h \((s % 3600) / 60 < 10 ? "0" : "")\((s % 3600) / 60)m"
}
