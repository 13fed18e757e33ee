// MARK: - The three pictures, from data to MAMLPlot figures (no files, no plugins here)
import MAMLPlot

/// Meta-training: the query loss over meta-iterations and, when validation ran, the validation
/// score with the best iteration marked; one line per source. nil when no source has metrics.
func trainingFigure(_ sources: [PlotSource]) -> Figure? {
    let logged = sources.enumerated().filter { !$0.element.metric("query_loss").x.isEmpty }
    guard !logged.isEmpty else { return nil }
    var loss = Chart(title: "Meta-training query loss", xLabel: "meta-iteration",
                     yLabel: "query loss after adaptation (\(lossName(logged[0].element)))", yScale: .log)
    var validation = Chart(title: "Validation: mean query loss over the scored steps", xLabel: "meta-iteration",
                           yLabel: "validation loss (\(lossName(logged[0].element)))", yScale: .log)
    for (style, source) in logged {
        let q = source.metric("query_loss")
        loss.series.append(.line(source.label, x: q.x, y: q.y, style: style, width: 1.5))
        let v = source.metric("validation_score")
        guard !v.x.isEmpty else { continue }
        validation.series.append(.line(source.label, x: v.x, y: v.y, style: style))
        if let best = source.bestValidation {
            var point = Series.points("best iteration", x: [best.iteration], y: [best.score], colour: Palette.colour(style))
            point.inLegend = style == logged[0].offset
            validation.series.append(point)
            let tag = logged.count > 1 ? source.label + ": " : ""
            let marker = Marker(x: best.iteration, label: "\(tag)best at \(compactNumber(best.iteration, digits: 0))",
                                colour: Palette.colour(style))
            validation.markers.append(marker)
            loss.markers.append(marker)
        }
    }
    // One iteration axis for both charts, from 0, so they line up.
    let last = logged.flatMap { $0.element.metric("query_loss").x }.max() ?? 1
    loss.xRange = 0...last
    validation.xRange = 0...last
    let charts = validation.series.isEmpty ? [loss] : [loss, validation]
    return Figure(title: "Meta-training", subtitle: subtitle(logged.map(\.element)), charts: charts,
                  chartWidth: 760, chartHeight: 330, sharedLegend: true)
}

/// Accuracy (classification) or MSE (regression) against inner steps with 95% CI bands, one
/// curve per source, at one K.
func stepsFigure(_ curves: [StepCurve], sources: [PlotSource]) -> Figure {
    let classification = curves.first?.classification ?? false
    let shots = curves.first?.shots ?? 0
    let maxStep = Double(curves.flatMap(\.steps).max() ?? 1)
    var chart = Chart(title: (classification ? "Accuracy" : "Query MSE") + " after fine-tuning, K = \(shots)",
                      xLabel: "inner SGD steps on the support set",
                      yLabel: classification ? "query accuracy (%)" : "query MSE")
    chart.yIncludesZero = true
    if classification { chart.yRange = 0...100 }
    for (style, c) in curves.enumerated() {
        // A learner that does not fine-tune scores the same at every step count: a flat line.
        let x = c.flat ? [0, maxStep] : c.steps.map(Double.init)
        let mean = c.flat ? [c.mean[0], c.mean[0]] : c.mean, ci = c.flat ? [c.ci95[0], c.ci95[0]] : c.ci95
        var band = Series.band("\(c.label) 95% CI", x: x, lower: zip(mean, ci).map { $0 - $1 },
                               upper: zip(mean, ci).map { $0 + $1 }, style: style)
        band.inLegend = false
        chart.series.append(band)
        let name = c.label + (c.flat ? " (no fine-tuning)" : "") + " (\(c.tasks) tasks)"
        chart.series.append(.line(name, x: x, y: mean, style: style))
        if !c.flat { chart.series.append(pointsInLegendOff(name, x: x, y: mean, style: style)) }
    }
    return Figure(title: classification ? "Accuracy against inner steps" : "Loss against inner steps",
                  subtitle: "mean over unseen tasks; shaded: 95% confidence interval; " + subtitle(sources),
                  charts: [chart], chartWidth: 760, chartHeight: 400, sharedLegend: true)   // below: long names keep the plot wide
}

private func pointsInLegendOff(_ name: String, x: [Double], y: [Double], style: Int) -> Series {
    var s = Series.points(name, x: x, y: y, colour: Palette.colour(style))
    s.inLegend = false
    return s
}

/// One panel of Figure 2: an unseen sinusoid task, its K support points, and the model's
/// predictions on a grid before and after fine-tuning.
struct AdaptationPanel {
    var source: String
    var task: Int
    var amplitude: Double
    var phase: Double
    var gridX: [Double]
    var truth: [Double]
    var supportX: [Double]
    var supportY: [Double]
    var steps: [Int]
    var predictions: [[Double]?]
}

/// The MAML paper's Figure 2: a grid of unseen tasks (one row per source), each with the true
/// function, the K support points and the predictions before adaptation and after each step count.
func adaptationFigure(_ panels: [AdaptationPanel], columns: Int, shots: Int, about: String) -> Figure {
    let styles = [("pre-update", "#56B4E9", "2 3"), ("after 1 step", "#E69F00", "7 3"), ("after 10 steps", "#0072B2", "")]
    let charts: [Chart] = panels.map { p in
        var chart = Chart(title: "\(p.source): task \(p.task) (A = \(fixedPoint(p.amplitude, 2)), φ = \(fixedPoint(p.phase, 2)))",
                          xLabel: "x (input)", yLabel: "y = A sin(x − φ)")
        let reach = (p.truth + p.supportY).map(abs).max() ?? 1
        chart.yRange = -(reach * 1.3 + 0.2)...(reach * 1.3 + 0.2)
        chart.xRange = (p.gridX.first ?? -5)...(p.gridX.last ?? 5)
        chart.series.append(Series(name: "true function", kind: .line, x: p.gridX, y: p.truth, colour: "#000000", width: 2.5))
        for (i, steps) in p.steps.enumerated() {
            guard let prediction = p.predictions[i] else { continue }
            let style = steps == 0 ? styles[0] : steps == 1 ? styles[1] : steps == 10 ? styles[2]
                : ("after \(steps) steps", Palette.colour(3 + i), "4 2")
            chart.series.append(Series(name: style.0, kind: .line, x: p.gridX, y: prediction, colour: style.1, dash: style.2))
        }
        chart.series.append(.points("K = \(shots) support points", x: p.supportX, y: p.supportY, colour: "#D55E00"))
        return chart
    }
    return Figure(title: "Sinusoid regression: adaptation to unseen tasks (MAML paper, Figure 2)",
                  subtitle: "K = \(shots), fine-tuning with the training's inner step; " + about,
                  charts: charts, columns: columns, chartWidth: 420, chartHeight: 320, sharedLegend: true)
}

/// "mlp-sinusoid-maml: org.mamlzoo.mlp, maml, iteration 32000; ..." for figure subtitles.
func subtitle(_ sources: [PlotSource]) -> String {
    sources.map { "\($0.label): \($0.header.model.id), \($0.header.training.algorithm.rawValue), iteration \($0.header.iteration)" }
        .joined(separator: "; ")
}

private func lossName(_ source: PlotSource) -> String {
    source.header.task.family == "sinusoid" || source.header.task.family == "sine-sequences" ? "MSE" : "cross-entropy"
}
