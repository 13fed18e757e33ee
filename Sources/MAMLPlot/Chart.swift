// MARK: - One chart: axes, series (lines, points, bands), markers and a legend
//
// Every drawn series is a <g class="series"> carrying data-series (its legend
// name) and data-kind, so tests and tools can find what a picture shows without
// reading coordinates.

/// A data series as drawn.
public struct Series: Sendable {
    public enum Kind: String, Sendable { case line, points, band }
    /// Legend text, also the data-series attribute.
    public var name: String
    public var kind: Kind
    public var x: [Double]
    /// The values; for a band, its lower edge.
    public var y: [Double]
    /// A band's upper edge.
    public var upper: [Double] = []
    public var colour: String
    public var dash: String = ""
    public var width: Double = 2
    public var inLegend = true

    public init(name: String, kind: Kind, x: [Double], y: [Double], upper: [Double] = [], colour: String,
                dash: String = "", width: Double = 2, inLegend: Bool = true) {
        self.name = name; self.kind = kind; self.x = x; self.y = y; self.upper = upper; self.colour = colour
        self.dash = dash; self.width = width; self.inLegend = inLegend
    }

    /// A line in style `style` (palette colour and dash); non-finite values break it.
    public static func line(_ name: String, x: [Double], y: [Double], style: Int, width: Double = 2) -> Series {
        Series(name: name, kind: .line, x: x, y: y, colour: Palette.colour(style), dash: Palette.dash(style), width: width)
    }
    /// Unconnected points (support sets, marked iterations).
    public static func points(_ name: String, x: [Double], y: [Double], colour: String) -> Series {
        Series(name: name, kind: .points, x: x, y: y, colour: colour)
    }
    /// A shaded band between `lower` and `upper` (a confidence interval), in style `style`'s colour.
    public static func band(_ name: String, x: [Double], lower: [Double], upper: [Double], style: Int) -> Series {
        Series(name: name, kind: .band, x: x, y: lower, upper: upper, colour: Palette.colour(style))
    }
}

/// A vertical line at `x` with a label (the best iteration).
public struct Marker: Sendable {
    public var x: Double
    public var label: String
    public var colour: String
    public init(x: Double, label: String, colour: String = Palette.ink) { self.x = x; self.label = label; self.colour = colour }
}

/// A legend row.
public struct LegendEntry: Sendable, Equatable {
    public var name: String, kind: Series.Kind, colour: String, dash: String
}

public struct Chart: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var yScale: ScaleKind = .linear
    public var xRange: ClosedRange<Double>?
    public var yRange: ClosedRange<Double>?
    public var yIncludesZero = false
    public var series: [Series] = []
    public var markers: [Marker] = []
    /// Draw this chart's own legend at its right (a figure with a shared legend turns it off).
    public var legend = true

    public init(title: String, xLabel: String, yLabel: String, yScale: ScaleKind = .linear) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.yScale = yScale
    }

    /// The legend rows: one per series name shown in legends, in order.
    public var legendEntries: [LegendEntry] {
        var seen = Set<String>(), out: [LegendEntry] = []
        for s in series where s.inLegend && seen.insert(s.name).inserted {
            out.append(LegendEntry(name: s.name, kind: s.kind, colour: s.colour, dash: s.dash))
        }
        return out
    }

    /// Width the right-hand legend needs (0 without one).
    var legendWidth: Double {
        guard legend, !legendEntries.isEmpty else { return 0 }
        return 40 + legendEntries.map { textWidth($0.name, size: 12) }.max()!
    }

    /// The chart drawn in the box (x, y, width, height); `id` names its clip path.
    func render(x x0: Double, y y0: Double, width: Double, height: Double, id: String) -> SVGNode {
        let left = x0 + 64, right = x0 + width - 14 - legendWidth, top = y0 + 34, bottom = y0 + height - 48
        let xs = series.flatMap(\.x) + markers.map(\.x)
        let ys = series.flatMap { $0.y + $0.upper }
        let xAxis = Axis(label: xLabel, values: xs, fixed: xRange)
        let yAxis = Axis(label: yLabel, kind: yScale, values: ys, fixed: yRange, includeZero: yIncludesZero)
        let px = { (v: Double) in xAxis.position(v, from: left, to: right) }
        let py = { (v: Double) in yAxis.position(v, from: bottom, to: top) }

        var nodes: [SVGNode] = [
            SVGNode("clipPath", [("id", id)], children: [rect(left, top, right - left, bottom - top, [])]),
            // A long title is set smaller rather than running past the chart.
            text(title, x: (left + right) / 2, y: y0 + 20, size: min(14, (width - 16) / (Double(max(title.count, 1)) * 0.62)),
                 anchor: "middle", extra: [("class", "chart-title"), ("font-weight", "bold")]),
        ]
        nodes.append(axes(xAxis, yAxis, left: left, right: right, top: top, bottom: bottom, px: px, py: py))
        var plotted: [SVGNode] = []
        for s in series {
            plotted.append(draw(s, px: px, py: py))
        }
        var labels: [SVGNode] = []
        for (i, m) in markers.enumerated() {
            guard let x = px(m.x), x >= left - 0.5, x <= right + 0.5 else { continue }
            // The label on the side with room, stacked when there are several markers.
            let onLeft = x > (left + right) / 2
            labels.append(SVGNode("g", [("class", "marker"), ("data-x", compactNumber(m.x, digits: 6))], children: [
                line(x, top, x, bottom, stroke: m.colour, width: 1.5, dash: "5 4"),
                text(m.label, x: onLeft ? x - 5 : x + 5, y: top + 14 + Double(i) * 14, size: 11,
                     anchor: onLeft ? "end" : "start", extra: [("fill", m.colour)]),
            ]))
        }
        nodes.append(SVGNode("g", [("class", "plot-area"), ("clip-path", "url(#\(id))")], children: plotted))
        nodes += labels
        if legend, !legendEntries.isEmpty {
            nodes.append(legendNode(legendEntries, x: right + 14, y: top, columns: 1))
        }
        return SVGNode("g", [("class", "chart"), ("data-title", title)], children: nodes)
    }

    private func axes(_ xAxis: Axis, _ yAxis: Axis, left: Double, right: Double, top: Double, bottom: Double,
                      px: (Double) -> Double?, py: (Double) -> Double?) -> SVGNode {
        var nodes: [SVGNode] = []
        for (v, label) in zip(xAxis.ticks, xAxis.tickLabels) {
            guard let x = px(v) else { continue }
            nodes.append(line(x, top, x, bottom, stroke: Palette.grid, width: 1))
            nodes.append(text(label, x: x, y: bottom + 16, size: 11, anchor: "middle", extra: [("class", "tick")]))
        }
        for (v, label) in zip(yAxis.ticks, yAxis.tickLabels) {
            guard let y = py(v) else { continue }
            nodes.append(line(left, y, right, y, stroke: Palette.grid, width: 1))
            nodes.append(text(label, x: left - 6, y: y + 4, size: 11, anchor: "end", extra: [("class", "tick")]))
        }
        nodes.append(rect(left, top, right - left, bottom - top, [("fill", "none"), ("stroke", Palette.ink), ("stroke-width", "1")]))
        nodes.append(text(xAxis.label, x: (left + right) / 2, y: bottom + 36, size: 12, anchor: "middle",
                          extra: [("class", "x-label")]))
        let yMid = (top + bottom) / 2
        nodes.append(text(yAxis.label, x: left - 48, y: yMid, size: 12, anchor: "middle",
                          extra: [("class", "y-label"), ("transform", "rotate(-90 \(num(left - 48)) \(num(yMid)))")]))
        return SVGNode("g", [("class", "axes"), ("data-y-scale", yAxis.kind == .log ? "log" : "linear")], children: nodes)
    }

    private func draw(_ s: Series, px: (Double) -> Double?, py: (Double) -> Double?) -> SVGNode {
        var children: [SVGNode] = []
        switch s.kind {
        case .line:
            // Non-finite values (a diverged step) break the line into runs.
            var run: [String] = []
            func flush() {
                if run.count >= 2 {
                    var attributes = [("points", run.joined(separator: " ")), ("fill", "none"), ("stroke", s.colour),
                                      ("stroke-width", num(s.width)), ("stroke-linejoin", "round")]
                    if !s.dash.isEmpty { attributes.append(("stroke-dasharray", s.dash)) }
                    children.append(SVGNode("polyline", attributes))
                } else if run.count == 1 {
                    let xy = run[0].split(separator: ",")
                    children.append(SVGNode("circle", [("cx", String(xy[0])), ("cy", String(xy[1])), ("r", "2.5"), ("fill", s.colour)]))
                }
                run = []
            }
            for (x, y) in zip(s.x, s.y) {
                if let a = px(x), let b = py(y) { run.append("\(num(a)),\(num(b))") } else { flush() }
            }
            flush()
        case .points:
            for (x, y) in zip(s.x, s.y) {
                guard let a = px(x), let b = py(y) else { continue }
                children.append(SVGNode("circle", [("cx", num(a)), ("cy", num(b)), ("r", "4"), ("fill", s.colour),
                                                   ("stroke", "white"), ("stroke-width", "1")]))
            }
        case .band:
            var upper: [String] = [], lower: [String] = []
            for (i, x) in s.x.enumerated() where i < s.y.count && i < s.upper.count {
                guard let a = px(x), let lo = py(s.y[i]), let hi = py(s.upper[i]) else { continue }
                upper.append("\(num(a)),\(num(hi))"); lower.append("\(num(a)),\(num(lo))")
            }
            if upper.count >= 2 {
                children.append(SVGNode("polygon", [("points", (upper + lower.reversed()).joined(separator: " ")),
                                                    ("fill", s.colour), ("fill-opacity", "0.18"), ("stroke", "none")]))
            }
        }
        return SVGNode("g", [("class", "series"), ("data-series", s.name), ("data-kind", s.kind.rawValue),
                             ("data-count", String(s.x.count))], children: children)
    }
}

// MARK: - Drawing helpers

/// A coordinate or size in picture units (one decimal at most: a tenth of a pixel is plenty).
func num(_ v: Double) -> String { compactNumber(v, digits: 1) }

func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, _ extra: [(String, String)]) -> SVGNode {
    SVGNode("rect", [("x", num(x)), ("y", num(y)), ("width", num(w)), ("height", num(h))] + extra)
}

func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double, dash: String = "") -> SVGNode {
    var attributes = [("x1", num(x1)), ("y1", num(y1)), ("x2", num(x2)), ("y2", num(y2)), ("stroke", stroke), ("stroke-width", num(width))]
    if !dash.isEmpty { attributes.append(("stroke-dasharray", dash)) }
    return SVGNode("line", attributes)
}

func text(_ content: String, x: Double, y: Double, size: Double, anchor: String, extra: [(String, String)] = []) -> SVGNode {
    SVGNode("text", [("x", num(x)), ("y", num(y)), ("font-size", num(size)), ("text-anchor", anchor)] + extra, text: content)
}

/// `text` broken at spaces into lines of at most `width` at `size`.
func wrapped(_ text: String, width: Double, size: Double) -> [String] {
    var lines: [String] = [], current = ""
    for word in text.split(separator: " ") {
        let candidate = current.isEmpty ? String(word) : current + " " + word
        if textWidth(candidate, size: size) > width && !current.isEmpty { lines.append(current); current = String(word) }
        else { current = candidate }
    }
    if !current.isEmpty { lines.append(current) }
    return lines
}

/// Approximate width of `text` at `size` (average glyph of a sans-serif face), for layout.
func textWidth(_ text: String, size: Double) -> Double { Double(text.count) * size * 0.58 }

/// Legend rows (or a grid of `columns`) starting at (x, y): a swatch in the series' style, then its name.
func legendNode(_ entries: [LegendEntry], x: Double, y: Double, columns: Int, columnWidth: Double = 0) -> SVGNode {
    var rows: [SVGNode] = []
    for (i, e) in entries.enumerated() {
        let cx = x + Double(i % columns) * columnWidth, cy = y + 8 + Double(i / columns) * 20
        let swatch: SVGNode
        switch e.kind {
        case .line: swatch = line(cx, cy, cx + 26, cy, stroke: e.colour, width: 2.5, dash: e.dash)
        case .points: swatch = SVGNode("circle", [("cx", num(cx + 13)), ("cy", num(cy)), ("r", "4"), ("fill", e.colour)])
        case .band: swatch = rect(cx, cy - 6, 26, 12, [("fill", e.colour), ("fill-opacity", "0.18")])
        }
        rows.append(SVGNode("g", [("class", "legend-entry"), ("data-series", e.name)], children: [
            swatch, text(e.name, x: cx + 32, y: cy + 4, size: 12, anchor: "start"),
        ]))
    }
    return SVGNode("g", [("class", "legend")], children: rows)
}
