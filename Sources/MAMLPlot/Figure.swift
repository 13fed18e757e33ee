// MARK: - A figure: a titled grid of charts with an optional shared legend, as one SVG file

public struct Figure: Sendable {
    public var title: String
    /// A line under the title (what was plotted, from which command).
    public var subtitle: String
    public var charts: [Chart]
    public var columns: Int
    public var chartWidth: Double
    public var chartHeight: Double
    /// One legend below the grid instead of one per chart (the charts' series share names).
    public var sharedLegend: Bool
    /// Prefix of the ids inside the picture (clip paths): several SVGs inlined in one HTML page
    /// need different ones.
    public var idPrefix = ""

    public init(title: String, subtitle: String = "", charts: [Chart], columns: Int = 1,
                chartWidth: Double = 640, chartHeight: Double = 360, sharedLegend: Bool = false) {
        self.title = title; self.subtitle = subtitle; self.charts = charts; self.columns = max(1, columns)
        self.chartWidth = chartWidth; self.chartHeight = chartHeight; self.sharedLegend = sharedLegend
    }

    /// The shared legend's rows: every chart's entries, first occurrence of each name.
    var sharedEntries: [LegendEntry] {
        var seen = Set<String>(), out: [LegendEntry] = []
        for e in charts.flatMap(\.legendEntries) where seen.insert(e.name).inserted { out.append(e) }
        return out
    }

    /// The whole figure as an SVG document (UTF-8 text, deterministic).
    public func svg() -> String {
        let rows = (charts.count + columns - 1) / columns
        let width = Double(min(columns, max(charts.count, 1))) * chartWidth
        let subtitleLines = wrapped(subtitle, width: width - 40, size: 12)
        let header = 40.0 + 16 * Double(subtitleLines.count) + (subtitleLines.isEmpty ? 0 : 2)
        let entries = sharedLegend ? sharedEntries : []
        let columnWidth = 44 + (entries.map { textWidth($0.name, size: 12) }.max() ?? 0)
        let legendColumns = max(1, min(entries.count, Int((width - 40) / max(columnWidth, 1))))
        let legendRows = entries.isEmpty ? 0 : (entries.count + legendColumns - 1) / legendColumns
        let legendHeight = legendRows == 0 ? 0 : Double(legendRows) * 20 + 16
        let height = header + Double(rows) * chartHeight + legendHeight + 8

        var children: [SVGNode] = [
            SVGNode("title", text: title),
            SVGNode("desc", text: subtitle.isEmpty ? title : subtitle),
            rect(0, 0, width, height, [("fill", "white")]),
            text(title, x: width / 2, y: 26, size: 17, anchor: "middle", extra: [("class", "figure-title"), ("font-weight", "bold")]),
        ]
        for (i, line) in subtitleLines.enumerated() {
            children.append(text(line, x: width / 2, y: 46 + 16 * Double(i), size: 12, anchor: "middle",
                                 extra: [("class", "figure-subtitle"), ("fill", "#555555")]))
        }
        for (i, chart) in charts.enumerated() {
            var c = chart
            if sharedLegend { c.legend = false }
            children.append(c.render(x: Double(i % columns) * chartWidth, y: header + Double(i / columns) * chartHeight,
                                     width: chartWidth, height: chartHeight, id: "\(idPrefix)clip-\(i)"))
        }
        if !entries.isEmpty {
            let used = Double(legendColumns) * columnWidth
            children.append(legendNode(entries, x: max(20, (width - used) / 2), y: header + Double(rows) * chartHeight + 6,
                                       columns: legendColumns, columnWidth: columnWidth))
        }
        let root = SVGNode("svg", [("xmlns", "http://www.w3.org/2000/svg"), ("version", "1.1"),
                                   ("width", num(width)), ("height", num(height)),
                                   ("viewBox", "0 0 \(num(width)) \(num(height))"), ("role", "img"),
                                   ("font-family", "DejaVu Sans, Helvetica, Arial, sans-serif"), ("fill", Palette.ink)],
                           children: children)
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + root.render()
    }

    /// The figure as an <svg> element to inline in an HTML page (no XML declaration).
    public func inlineSVG(idPrefix prefix: String) -> String {
        var copy = self
        copy.idPrefix = prefix
        let text = copy.svg()
        return String(text.drop { $0 != "\n" }.dropFirst())   // the XML declaration is the first line
    }
}
