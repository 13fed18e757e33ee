// MARK: - maml-host plot: a run's pictures as SVG (and PNG when a converter is installed)
import ArgumentParser
import MAMLCore
import MAMLHost
import MAMLPlot
import MAMLTasks
#if canImport(Glibc)
import Glibc     // sin
#endif

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw run folders or checkpoints as SVG: the meta-training curve, adaptation to unseen tasks (regression: the MAML paper's Figure 2), accuracy or loss against inner steps.",
        discussion: "Several inputs are overlaid. docs/plots.md shows each picture.")

    @OptionGroup var plugins: PluginOptions
    @Argument(help: ArgumentHelp("Run folders (train --run-dir) or checkpoints.", valueName: "RUN_DIR|CKPT"))
    var inputs: [String]
    @Option(name: .customLong("output-dir"), help: ArgumentHelp("Folder for the pictures (default: the run folder when it is the only input, else the current folder).", valueName: "DIR"))
    var outputDir: String?
    @OptionGroup var pictures: PictureOptions
    @Flag(help: "Also write each picture as PNG (needs rsvg-convert: apt-get install librsvg2-bin).") var png = false
    @OptionGroup var threading: ThreadOptions
    @OptionGroup var verbosity: OutputOptions

    func validate() throws { try pictures.check() }

    func run() throws {
        verbosity.apply()
        let sources = try loadSources(inputs)
        let folder = outputDir ?? (sources.count == 1 && sources[0].run != nil ? sources[0].path : ".")
        do { try AtomicFile.probeWritable(folder + "/training.svg") } catch {
            throw CLIError("--output-dir \(folder): cannot be written: \(error)")
        }
        let drawn = try pictures.draw(sources, plugins: plugins, threads: threading.threads)
        var written: [String] = []
        for picture in drawn {
            let path = folder + "/" + picture.file
            do { try AtomicFile.write(Array(picture.figure.svg().utf8), to: path) }
            catch { throw CLIError("\(path): cannot write: \(error)") }
            say("wrote \(path): \(picture.caption)")
            written.append(path)
        }
        if png { try convertToPNG(written) }
    }
}

/// The settings of the pictures (plot and report).
struct PictureOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Support size K of the adaptation pictures (default: the first input's training K).")
    var shots: Int?
    @Option(parsing: .unconditional, help: "Unseen tasks scored for the steps picture when a run folder has no eval.json at K, or a checkpoint is given.")
    var tasks = 100
    @Option(name: .customLong("max-steps"), parsing: .unconditional, help: "Fine-tuning steps of the steps picture (0 to N).")
    var maxSteps = 10
    @Option(parsing: .unconditional, help: "Unseen tasks drawn in the adaptation picture (regression), per input.")
    var panels = 3
    @Option(name: .customLong("eval-seed"), parsing: .unconditional, help: "Seed of the unseen tasks (eval's: the same seed draws the same tasks).")
    var evalSeed: UInt64 = 0

    func check() throws {
        guard tasks >= 2 else { throw ValidationError("--tasks must be at least 2 (for a confidence interval), got \(tasks)") }
        guard (1...12).contains(panels) else { throw ValidationError("--panels must be 1 to 12, got \(panels)") }
        guard (1...1000).contains(maxSteps) else { throw ValidationError("--max-steps must be 1 to 1000, got \(maxSteps)") }
        if let shots, shots < 1 { throw ValidationError("--shots must be at least 1, got \(shots)") }
    }

    /// One written picture: file name, what it shows, the SVG text.
    struct Picture { var file: String; var caption: String; var figure: Figure }

    /// The pictures of `sources`: training.svg when any has a metrics log, adaptation.svg for
    /// sinusoid regression, steps.svg always. Plugins load only when something must be computed.
    func draw(_ sources: [PlotSource], plugins: PluginOptions, threads: Int) throws -> [Picture] {
        var out: [Picture] = []
        if let figure = trainingFigure(sources) {
            out.append(Picture(file: "training.svg", caption: "meta-training curve", figure: figure))
        }
        let k = shots ?? sources[0].header.training.supportShots
        var models = ModelCache(plugins: plugins)
        var curves: [StepCurve] = []
        var panels: [AdaptationPanel] = []
        for (i, source) in sources.enumerated() {
            if let e = source.evaluation, let curve = StepCurve(label: source.label, evaluation: e, shots: k, flat: !source.fineTunes) {
                detail("\(source.label): steps picture from \(source.run!.evaluation)")
                curves.append(curve)
            } else {
                curves.append(try evaluateSteps(source, setup: try models.setup(i, source), shots: k, threads: threads))
            }
            if source.header.task.family == "sinusoid" {
                panels += try adaptationPanels(label: source.label, parameters: source.checkpoint.parameters,
                                               training: source.header.training, setup: try models.setup(i, source),
                                               shots: k, count: self.panels, evalSeed: evalSeed)
            }
        }
        if Set(curves.map(\.classification)).count > 1 {
            throw CLIError("cannot overlay classification and regression runs in one picture: plot them separately")
        }
        if !panels.isEmpty {
            let columns = sources.count == 1 ? min(self.panels, 3) : self.panels
            out.append(Picture(file: "adaptation.svg", caption: "adaptation to unseen tasks, K = \(k) (Figure 2)",
                               figure: adaptationFigure(panels, columns: columns, shots: k, about: subtitle(sources))))
        }
        let kind = curves[0].classification ? "accuracy" : "MSE"
        out.append(Picture(file: "steps.svg", caption: "\(kind) against inner steps with 95% CIs, K = \(k)",
                           figure: stepsFigure(curves, sources: sources)))
        return out
    }

    /// Scores `source` on `tasks` unseen tasks at K after 0...maxSteps steps (eval's protocol).
    private func evaluateSteps(_ source: PlotSource, setup: Setup, shots: Int, threads: Int) throws -> StepCurve {
        let training = source.header.training
        let classification = setup.family.lossKind != .mse
        let config = EvaluationConfig(tasks: tasks, shots: [shots], steps: source.fineTunes ? Array(0...maxSteps) : [0],
                                      queryShots: classification ? 15 : 100, innerLR: training.innerLR, seed: evalSeed,
                                      learner: training.learner)
        say("evaluating \(source.label) on \(tasks) unseen tasks, K = \(shots)")
        let results = try evaluate(setup: setup, parameters: source.checkpoint.parameters, config: config, threads: threads)
        return StepCurve(label: source.label, results: results, shots: shots, classification: classification,
                         flat: !source.fineTunes)
    }
}

/// Figure 2's panels for one sinusoid model: evaluation tasks 0..<count (the tasks eval scores
/// first, drawn from `evalSeed`), predictions on 201 points across the input range before and
/// after 1 and 10 steps of the training's own inner step. Empty for other task families.
func adaptationPanels(label: String, parameters: [Float], training: TrainerConfig, setup: Setup, shots: Int,
                      count: Int, evalSeed: UInt64) throws -> [AdaptationPanel] {
    guard let family = setup.family as? SinusoidTasks else { return [] }
    let steps = training.algorithm == .protonet ? [0] : [0, 1, 10]
    // queryShots 100 as eval's: the sinusoid draws the query set before the support set.
    let config = EvaluationConfig(tasks: max(count, 2), shots: [shots], steps: steps, queryShots: 100,
                                  innerLR: training.innerLR, seed: evalSeed, learner: training.learner)
    let evaluator = try Evaluator(backbone: setup.backbone, family: family, config: config)
    let lo = Double(family.inputRange.lowerBound), hi = Double(family.inputRange.upperBound)
    let grid = (0...120).map { lo + (hi - lo) * Double($0) / 120 }
    return try (0..<count).map { task in
        let trace = try evaluator.traceAdaptation(task: task, shots: shots, parameters: parameters,
                                                  inputs: grid.map { Float($0) })
        let f = family.function(rng: RandomGenerator(seed: evalSeed, stream: .evaluation, iteration: 0, task: task))
        return AdaptationPanel(source: label, task: task, amplitude: f.amplitude, phase: f.phase, gridX: grid,
                               truth: grid.map { f.amplitude * sin($0 - f.phase) },
                               supportX: trace.supportX.map(Double.init), supportY: trace.supportY.map(Double.init),
                               steps: trace.steps, predictions: trace.predictions.map { $0?.map(Double.init) })
    }
}

/// Opens every input (errors name the file) and makes their labels distinct.
func loadSources(_ paths: [String]) throws -> [PlotSource] {
    guard !paths.isEmpty else { throw CLIError("give at least one run folder or checkpoint") }
    var sources = try paths.map { try PlotSource(path: $0) }
    distinctLabels(&sources)
    return sources
}

/// Loads plugins once, and each source's model once, only when a picture needs them.
struct ModelCache {
    let plugins: PluginOptions
    private var catalog: PluginCatalog?
    private var setups: [Int: Setup] = [:]

    init(plugins: PluginOptions) { self.plugins = plugins }

    mutating func setup(_ index: Int, _ source: PlotSource) throws -> Setup {
        if let s = setups[index] { return s }
        if catalog == nil { catalog = plugins.catalog(quiet: Verbosity.level == .quiet) }
        if let bad = source.checkpoint.parameters.firstIndex(where: { !$0.isFinite }) {
            throw CLIError("\(source.checkpointPath): parameter \(bad) is \(source.checkpoint.parameters[bad]): the run that wrote it diverged")
        }
        let s = try Setup(checkpoint: source.checkpoint, path: source.checkpointPath, catalog: catalog!)
        setups[index] = s
        return s
    }
}
