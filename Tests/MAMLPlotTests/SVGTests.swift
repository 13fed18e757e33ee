// MARK: - MAMLPlot: the SVG it writes parses, shows what it was given, and never varies
import Foundation
import MAMLPlot
import Testing
import TestSupport

@Suite struct SVGTests {
    static func sampleFigure(name: String = "maml <run> & \"co\"") -> Figure {
        var chart = Chart(title: "Accuracy after fine-tuning", xLabel: "inner SGD steps", yLabel: "query accuracy (%)")
        let x = [0.0, 1, 2, 3, 5, 10]
        chart.series.append(.band("\(name) CI", x: x, lower: [18, 80, 82, 83, 84, 85], upper: [22, 86, 87, 88, 88, 89], style: 0))
        chart.series.append(.line(name, x: x, y: [20, 83, 84.5, 85.5, 86, 87], style: 0))
        chart.series.append(.line("baseline", x: x, y: [20, 30, .nan, 50, 60, 62], style: 1))
        chart.series.append(.points("support", x: [1, 2], y: [10, 20], colour: Palette.colour(2)))
        chart.markers.append(Marker(x: 3, label: "best at 3"))
        return Figure(title: "Test figure", subtitle: "subtitle", charts: [chart, chart], columns: 2)
    }

    @Test func figureIsWellFormedXMLWithItsSeriesLabelsAndLegend() throws {
        let svg = Self.sampleFigure().svg()
        let doc = XMLElements(svg)
        #expect(doc.error == nil, "not well-formed: \(String(describing: doc.error))")
        let root = try #require(doc.elements.first)
        #expect(root.name == "svg" && root.attributes["xmlns"] == "http://www.w3.org/2000/svg")
        #expect(doc.all("g", where: "class", is: "chart").count == 2)
        // Each chart: the band, two lines, the points, each a group named by its legend text.
        let name = "maml <run> & \"co\""
        let lines = doc.all("g", where: "data-series", is: name).filter { $0.attributes["data-kind"] == "line" }
        #expect(lines.count == 2)
        #expect(doc.inside(lines[0]).filter { $0.name == "polyline" }.count == 1)
        // NaN breaks the baseline into a run of 2 points and a run of 3.
        let baseline = try #require(doc.all("g", where: "data-series", is: "baseline").first)
        let runs = doc.inside(baseline).filter { $0.name == "polyline" }.map { $0.attributes["points"]!.split(separator: " ").count }
        #expect(runs == [2, 3])
        let support = try #require(doc.all("g", where: "data-series", is: "support").first)
        #expect(doc.inside(support).filter { $0.name == "circle" }.count == 2)
        let band = try #require(doc.all("g", where: "data-kind", is: "band").first)
        #expect(doc.inside(band).filter { $0.name == "polygon" }.first?.attributes["points"]?.split(separator: " ").count == 12)
        // Labels: titles, axis labels with units, ticks.
        let texts = doc.all("text").map(\.text)
        #expect(texts.contains("Test figure") && texts.contains("Accuracy after fine-tuning"))
        #expect(doc.all("text", where: "class", is: "x-label").map(\.text) == ["inner SGD steps", "inner SGD steps"])
        #expect(doc.all("text", where: "class", is: "y-label").first?.text == "query accuracy (%)")
        #expect(texts.contains("best at 3"))
        // Legend: every series shown in legends once per chart, the band not among them? (it is: inLegend defaults on)
        let legend = doc.all("g", where: "class", is: "legend-entry").compactMap { $0.attributes["data-series"] }
        #expect(Set(legend) == [name, "\(name) CI", "baseline", "support"])
        #expect(legend.count == 8)
    }

    @Test func sharedLegendIsDrawnOnceBelowTheCharts() {
        var figure = Self.sampleFigure(name: "a")
        figure.sharedLegend = true
        let doc = XMLElements(figure.svg())
        #expect(doc.error == nil)
        #expect(doc.all("g", where: "class", is: "legend").count == 1)
        #expect(doc.all("g", where: "class", is: "legend-entry").count == 4)
    }

    @Test func sameInputsGiveByteIdenticalOutputAndNumbersAreFixed() {
        let a = Self.sampleFigure().svg(), b = Self.sampleFigure().svg()
        #expect(a == b)
        // No exponents, no long float tails, no negative zero in coordinates.
        #expect(a.range(of: #"[ ",(]-?\d+(\.\d+)?[eE][-+]?\d"#, options: .regularExpression) == nil)
        #expect(a.range(of: #"\d\.\d{3,}"#, options: .regularExpression) == nil)
        #expect(!a.contains("\"-0\"") && !a.contains(" -0,") && !a.contains(",-0 "))
        #expect(compactNumber(-0.001) == "0" && compactNumber(12.5) == "12.5" && compactNumber(3) == "3"
                && compactNumber(-0.25) == "-0.25" && compactNumber(1.0 / 3.0) == "0.33")
    }

    @Test func textFromOutsideIsEscapedAndControlCharactersReplaced() {
        #expect(xmlEscaped("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;")
        #expect(xmlEscaped("x\u{1B}[31my\u{7}") == "x\u{FFFD}[31my\u{FFFD}")
        let figure = Figure(title: "</svg><script>alert(1)</script>\u{1}", charts: [Chart(title: "t", xLabel: "x", yLabel: "y")])
        let svg = figure.svg()
        #expect(!svg.contains("<script") && XMLElements(svg).error == nil)
    }

    @Test func ticksAreNiceAndCoverTheData() {
        let a = Axis(label: "x", values: [0.3, 9.7])
        #expect(a.low == 0 && a.high == 10 && a.ticks == [0, 2, 4, 6, 8, 10])
        #expect(a.tickLabels == ["0", "2", "4", "6", "8", "10"])
        let iterations = Axis(label: "it", values: [0, 70_000])
        #expect(iterations.tickLabels == ["0", "20k", "40k", "60k", "80k"])
        let small = Axis(label: "y", values: [0.12, 0.47])
        #expect(small.ticks.first! <= 0.12 && small.ticks.last! >= 0.47 && small.tickLabels.contains("0.2"))
        let log = Axis(label: "loss", kind: .log, values: [0.3, 4.2])
        #expect(log.low == 0.1 && log.high == 10 && log.ticks == [0.1, 0.2, 0.5, 1, 2, 5, 10])
        #expect(log.tickLabels == ["0.1", "0.2", "0.5", "1", "2", "5", "10"])
        // A log axis with nothing positive to show falls back to linear rather than failing.
        #expect(Axis(label: "y", kind: .log, values: [-1, 0]).kind == .linear)
        // One value: a range around it, not a zero-width axis.
        let flat = Axis(label: "y", values: [5, 5])
        #expect(flat.low < 5 && flat.high > 5)
    }

    @Test func inlineSVGHasNoDeclarationAndItsOwnIDs() {
        let inline = Self.sampleFigure().inlineSVG(idPrefix: "p1-")
        #expect(inline.hasPrefix("<svg"))
        #expect(inline.contains("id=\"p1-clip-0\"") && inline.contains("url(#p1-clip-1)"))
    }
}
