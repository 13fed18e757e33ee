// MARK: - Model, task and meta-training options (train, bench, demo)
import ArgumentParser
import MAMLCore
import MAMLTasks
import MAMLHost
import MAMLSchema

extension MetaAlgorithm: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}

struct TrainingOptions: ParsableArguments {
    @Option(help: "Model name or id (see `maml-host list`).") var model = "mlp"
    @Option(help: "Task family: \(taskFamilyNames.joined(separator: ", ")).") var task = "sinusoid"
    @Option(help: ArgumentHelp("Model config, a JSON object (see `maml-host info MODEL`).", valueName: "JSON"))
    var config = "{}"
    @Option(name: .customLong("task-config"), help: ArgumentHelp("Task family config, a JSON object.", valueName: "JSON"))
    var taskConfig = "{}"
    @Option(help: "maml (second order), fomaml (first order), pretrain (multi-task baseline), reptile, meta-sgd, anil, imaml or protonet (docs/algorithms.md).")
    var algorithm: MetaAlgorithm = .maml
    @Flag(help: "MAML++: learn a rate per inner step and tensor (maml, fomaml).") var lslr = false
    @Flag(name: .customLong("multi-step-loss"), help: "MAML++: meta-train on the query loss after every inner step, annealed towards the last (maml, fomaml).")
    var multiStepLoss = false
    @Option(name: .customLong("imaml-lambda"), parsing: .unconditional, help: "iMAML: proximal regularisation lambda.")
    var imamlLambda = 1.0
    @Option(name: .customLong("cg-steps"), parsing: .unconditional, help: "iMAML: conjugate-gradient iterations per task.")
    var cgSteps = 5
    @Option(name: .customLong("inner-optimizer"), help: "Reptile: the inner loop's optimiser, sgd or adam (beta1 = 0).")
    var innerOptimizer: OptimizerKind = .sgd
    @Option(name: .customLong("inner-steps"), parsing: .unconditional, help: "Inner SGD steps per task (k).") var innerSteps = 1
    @Option(name: .customLong("inner-lr"), parsing: .unconditional, help: "Inner learning rate (alpha).") var innerLR: Float = 0.01
    @Option(name: .customLong("meta-lr"), parsing: .unconditional, help: "Meta learning rate (beta).") var metaLR = 0.001
    @Option(name: .customLong("meta-batch"), parsing: .unconditional, help: "Tasks per meta-iteration.") var metaBatch = 25
    @Option(parsing: .unconditional, help: "Classes per task (N-way classification families); merged into --task-config.") var ways: Int?
    @Option(help: ArgumentHelp("Dataset folder (omniglot, image-folder); merged into --task-config. With --resume: where the run's folder is now.", valueName: "DIR")) var data: String?
    @Option(parsing: .unconditional, help: "Support examples per task while training (per class for N-way families).") var shots = 10
    @Option(name: [.customLong("query"), .customLong("queries")], parsing: .unconditional,
            help: "Query examples per task while training (per class for N-way families).") var queries = 10
    @Option(help: "Meta-optimiser: adam or sgd.") var optimizer: OptimizerKind = .adam
    @Option(parsing: .unconditional, help: "Seed of initialisation and task sampling.") var seed: UInt64 = 0
    @OptionGroup var threading: ThreadOptions

    /// --task-config with --ways and --data merged in (they win over the same keys).
    func resolvedTaskConfig() throws -> String {
        try mergeTaskConfig(taskConfig, ways: ways, data: data)
    }

    /// The flags these options are given by, for refusing them next to --resume.
    static let flags = ["--model", "--task", "--config", "--task-config", "--algorithm", "--inner-steps", "--inner-lr",
                        "--meta-lr", "--meta-batch", "--ways", "--data", "--shots", "--query", "--queries",
                        "--optimizer", "--seed", "--lslr", "--multi-step-loss", "--imaml-lambda", "--cg-steps",
                        "--inner-optimizer"]

    /// The hyper-parameters checked as the core will check them, with errors naming the flags.
    func check(iterations: Int) throws {
        guard Float(metaLR).isFinite else {
            throw ValidationError("--meta-lr \(metaLR) is not a finite 32-bit float (the parameters are Float)")
        }
        do { try trainerConfig(iterations: iterations).validate() } catch {
            throw ValidationError(flagNames("\(error)"))
        }
    }

    func trainerConfig(iterations: Int) -> TrainerConfig {
        // Schedules (Reptile's outer rate, MAML++'s step weights) span the run as first planned.
        let anneals = algorithm == .reptile || multiStepLoss
        return TrainerConfig(algorithm: algorithm, innerSteps: innerSteps, innerLR: innerLR, metaLR: metaLR,
                             metaBatch: metaBatch, supportShots: shots, queryShots: queries, iterations: iterations,
                             seed: seed, optimizer: optimizer,
                             options: LearnerOptions(lslr: lslr, multiStepLoss: multiStepLoss, imamlLambda: imamlLambda,
                                                     cgSteps: cgSteps, innerOptimizer: innerOptimizer,
                                                     annealIterations: anneals ? iterations : 0))
    }
}

/// A core configuration message with its keys as the flags a user typed
/// ("invalid configuration: metaBatch = 0, expected ..." -> "--meta-batch 0: expected ...").
func flagNames(_ message: String) -> String {
    let keys = [("innerSteps", "--inner-steps"), ("innerLR", "--inner-lr"), ("metaLR", "--meta-lr"),
                ("metaBatch", "--meta-batch"), ("supportShots", "--shots"), ("queryShots", "--query"),
                ("iterations", "--iterations"), ("lslr", "--lslr"), ("multiStepLoss", "--multi-step-loss"),
                ("imamlLambda", "--imaml-lambda"), ("cgSteps", "--cg-steps"), ("innerOptimizer", "--inner-optimizer"),
                // EvaluationConfig's keys, as `eval` and `demo` name them
                ("evaluation tasks", "--tasks"), ("evaluation shots", "--shots"), ("evaluation steps", "--steps"),
                ("evaluation queryShots", "--query"), ("evaluation innerLR", "--inner-lr")]
    var text = message
    if text.hasPrefix("invalid configuration: ") { text = String(text.dropFirst("invalid configuration: ".count)) }
    for (key, flag) in keys where text.hasPrefix(key + " = ") {
        let rest = text.dropFirst(key.count + 3)
        if let comma = rest.range(of: ", expected ") {
            return "\(flag) \(rest[..<comma.lowerBound]): expected \(rest[comma.upperBound...])"
        }
    }
    for (key, flag) in keys where text.hasPrefix(key + " applies to ") {   // LearnerOptions.validate
        return flag + text.dropFirst(key.count)
    }
    if text.hasPrefix("imamlLambda/cgSteps applies to ") { return "--imaml-lambda and --cg-steps apply to " + text.dropFirst(31) }
    return message
}

/// A task config JSON object with the convenience flags merged in.
func mergeTaskConfig(_ json: String, ways: Int?, data: String?) throws -> String {
    guard ways != nil || data != nil else { return json }
    let parsed: JSONValue
    do { parsed = try JSONValue.parse(json.isEmpty ? "{}" : json) }
    catch { throw CLIError("--task-config is not valid JSON: \(error)") }
    guard var object = parsed.objectValue else {
        throw CLIError("--task-config must be a JSON object, found \(parsed.kindDescription) \(parsed.excerpt)")
    }
    if let ways { object["ways"] = .number(Double(ways)) }
    if let data { object["data"] = .string(data) }
    return JSONValue.object(object).serialized()
}

/// A checkpoint's task config pointed at another data folder (`data`), and without its data
/// fingerprint when `allowOtherData` (the family then accepts whatever images the folder holds).
func retargetTaskConfig(_ json: String, family: String, data: String?, allowOtherData: Bool) throws -> String {
    guard data != nil || allowOtherData else { return json }
    guard var object = (try? JSONValue.parse(json))?.objectValue, object["data"] != nil else {
        throw CLIError("\(data != nil ? "--data" : "--allow-other-data") applies to task families with a data folder "
                       + "(omniglot, image-folder); this checkpoint was trained on \(family)")
    }
    if let data { object["data"] = .string(data) }
    if allowOtherData { object["fingerprint"] = nil }
    return JSONValue.object(object).serialized(.compact, sortedKeys: true)
}

/// A loaded model instance and a task family that fit each other.
struct Setup {
    var backbone: PluginBackbone
    var family: any TaskFamily
    var identity: ModelIdentity

    /// Finds `model` in the catalog, builds the task family, creates the model from `config` with
    /// the keys it takes from the task (schema keyword "task") and `config` leaves out set from
    /// the family, and checks they fit.
    /// `algorithm` matters for protonet, whose backbone embeds: its outputs need not match the task's.
    init(catalog: PluginCatalog, model: String, config: String, task: String, taskConfig: String,
         algorithm: MetaAlgorithm = .maml) throws {
        let entry = try catalog.model(named: model)
        Activity.setModel(entry.description)   // for the supervisor's report if the plugin crashes
        family = try makeTaskFamily(name: task, config: taskConfig)
        for note in family.loadNotes { printError("note: \(task): " + note) }
        let fromTask = TaskValues(inputShape: family.inputShape, outputShape: family.outputShape,
                                  loss: family.lossKind.rawValue)
        let filled: String
        do throws(HostError) { filled = try fillConfig(schema: entry.configSchema, config: config, from: fromTask) }
        catch { throw CLIError("model '\(entry.name)' (\(entry.id)) on \(family.name) tasks: invalid config: \(error.message)") }
        backbone = try PluginBackbone(model: entry, config: filled)
        try checkCompatible(backbone: backbone, family: family, algorithm: algorithm)
        identity = ModelIdentity(id: entry.id, version: entry.version, config: backbone.config)
    }
}

extension Setup {
    /// The model a checkpoint was made with, checked against what is installed: the same id
    /// (lookup is by id), parameter count, and major version (a new major may lay out
    /// parameters differently); another minor or patch version only gets a note.
    /// `data` points the task at another folder, `allowOtherData` accepts images other than the
    /// ones trained on (families with a data folder; see retargetTaskConfig).
    init(checkpoint saved: Checkpoint, path: String, catalog: PluginCatalog,
         data: String? = nil, allowOtherData: Bool = false) throws {
        let h = saved.header
        let taskConfig = try retargetTaskConfig(h.task.config, family: h.task.family, data: data, allowOtherData: allowOtherData)
        try self.init(catalog: catalog, model: h.model.id, config: h.model.config,
                      task: h.task.family, taskConfig: taskConfig, algorithm: h.training.algorithm)
        let recorded = (try? JSONValue.parse(h.task.config))?.objectValue?["fingerprint"]?.stringValue
        let now = (try? JSONValue.parse(family.configJSON))?.objectValue?["fingerprint"]?.stringValue
        if allowOtherData, let recorded, let now, recorded != now {
            printError("note: \(path) was trained on other images (fingerprint \(recorded.prefix(12))...) than "
                       + "the folder now holds (\(now.prefix(12))...): evaluating on them anyway (--allow-other-data)")
        }
        try saved.check(modelID: identity.id, parameterCount: backbone.parameterCount, path: path)
        let major = { (v: String) in v.split(separator: ".").first.map(String.init) ?? v }
        if major(h.model.version) != major(identity.version) {
            throw CLIError("\(path): made with \(h.model.id) \(h.model.version), installed is \(identity.version) "
                           + "(another major version may lay out parameters differently); install \(h.model.id) "
                           + "\(major(h.model.version)).x or retrain")
        }
        if h.model.version != identity.version {
            printError("note: \(path) was made with \(h.model.id) \(h.model.version), installed is \(identity.version)")
        }
    }
}

/// Prints notes from the core (e.g. the finite-difference HVP fallback) on stderr.
let noteToStderr: LogHandler = { printError("note: " + $0) }
