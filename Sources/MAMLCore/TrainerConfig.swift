// MARK: - Meta-training configuration
//
// Everything that, with the backbone's and task family's own configs, fixes a
// training run: the results are a pure function of these values. Reading JSON
// accepts partial objects (missing keys take the defaults below, which are the
// MAML paper's sinusoid settings) and validation names the key.

/// Hyper-parameters of a meta-training run.
public struct TrainerConfig: Sendable, Equatable {
    public var algorithm: MetaAlgorithm = .maml
    /// Inner-loop gradient steps k.
    public var innerSteps: Int = 1
    /// Inner-loop learning rate alpha.
    public var innerLR: Float = 0.01
    /// Meta (outer) learning rate beta.
    public var metaLR: Double = 0.001
    /// Tasks per meta-iteration.
    public var metaBatch: Int = 25
    /// Support set size K in shots, and query set size in shots.
    public var supportShots: Int = 10
    public var queryShots: Int = 10
    /// Meta-iterations of the whole run.
    public var iterations: Int = 70_000
    /// The run's seed: initial parameters and every task derive from it.
    public var seed: UInt64 = 0
    public var optimizer: OptimizerKind = .adam
    /// The algorithm-specific settings (learned rates, iMAML's lambda, Reptile's inner optimiser, ...);
    /// all default to "off", and only keys that differ from the defaults are written.
    public var options = LearnerOptions()

    public init(algorithm: MetaAlgorithm = .maml, innerSteps: Int = 1, innerLR: Float = 0.01,
                metaLR: Double = 0.001, metaBatch: Int = 25, supportShots: Int = 10, queryShots: Int = 10,
                iterations: Int = 70_000, seed: UInt64 = 0, optimizer: OptimizerKind = .adam,
                options: LearnerOptions = LearnerOptions()) {
        self.algorithm = algorithm; self.innerSteps = innerSteps; self.innerLR = innerLR
        self.metaLR = metaLR; self.metaBatch = metaBatch; self.supportShots = supportShots
        self.queryShots = queryShots; self.iterations = iterations; self.seed = seed
        self.optimizer = optimizer; self.options = options
    }

    /// The inner-loop part as a MetaLearner.
    public var learner: MetaLearner {
        MetaLearner(algorithm: algorithm, innerSteps: innerSteps, innerLR: innerLR, options: options)
    }

    /// The meta learning rate of meta-iteration `i`: Reptile anneals it linearly to 0 over
    /// `options.annealIterations` (the paper's outer-rate schedule); the others keep `metaLR`.
    public func metaLR(iteration i: Int) -> Double {
        guard algorithm == .reptile, options.annealIterations > 0 else { return metaLR }
        return metaLR * max(0, 1 - Double(i) / Double(options.annealIterations))
    }

    /// Throws `.invalidConfig` naming the first bad key, its value and what is expected.
    public func validate() throws(MAMLError) {
        func bad(_ key: String, _ value: Any, _ expected: String) -> MAMLError {
            .invalidConfig("\(key) = \(value), expected \(expected)")
        }
        guard innerSteps >= 0 && innerSteps <= 10_000 else { throw bad("innerSteps", innerSteps, "0...10000") }
        guard innerLR.isFinite && innerLR >= 0 else { throw bad("innerLR", innerLR, "a finite number >= 0") }
        guard metaLR.isFinite && metaLR > 0 else { throw bad("metaLR", metaLR, "a finite number > 0") }
        try checkCount("metaBatch", metaBatch)
        try checkCount("supportShots", supportShots)
        try checkCount("queryShots", queryShots)
        guard iterations >= 0 else { throw bad("iterations", iterations, "at least 0") }
        try options.validate(algorithm: algorithm)
        if options.lslr && innerSteps < 1 { throw bad("innerSteps", innerSteps, "at least 1 with lslr (it learns a rate per step)") }
    }

    // MARK: JSON (the checkpoint header's "training"), with defaults for missing keys

    /// The config from a JSON object: a missing (or null) key takes the default above,
    /// an unknown key is ignored; `name` is the object's key path in messages.
    init(json: JSONValue, name: String = "") throws(JSONFieldError) {
        let f = try JSONFields(json, name: name)
        let d = TrainerConfig()
        algorithm = try f.choice("algorithm", default: d.algorithm)
        innerSteps = try f.int("innerSteps", default: d.innerSteps)
        innerLR = try f.float("innerLR", default: d.innerLR)
        metaLR = try f.double("metaLR", default: d.metaLR)
        metaBatch = try f.int("metaBatch", default: d.metaBatch)
        supportShots = try f.int("supportShots", default: d.supportShots)
        queryShots = try f.int("queryShots", default: d.queryShots)
        iterations = try f.int("iterations", default: d.iterations)
        seed = try f.uint64("seed", default: d.seed)
        optimizer = try f.choice("optimizer", default: d.optimizer)
        options = try LearnerOptions(fields: f)
    }

    /// Every key, the innerLR with a Float's own digits.
    var json: JSONValue {
        .object(JSONObject([
            ("algorithm", .string(algorithm.rawValue)), ("innerSteps", JSONValue(integer: innerSteps)),
            ("innerLR", JSONValue(shortest: innerLR)), ("metaLR", JSONValue(shortest: metaLR)),
            ("metaBatch", JSONValue(integer: metaBatch)), ("supportShots", JSONValue(integer: supportShots)),
            ("queryShots", JSONValue(integer: queryShots)), ("iterations", JSONValue(integer: iterations)),
            ("seed", JSONValue(integer: seed)), ("optimizer", .string(optimizer.rawValue)),
        ] + options.jsonPairs))
    }
}
