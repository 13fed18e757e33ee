// MARK: - Meta-training configuration
//
// Everything that, with the backbone's and task family's own configs, fixes a
// training run: the results are a pure function of these values. Decoding
// accepts partial JSON objects (missing keys take the defaults below, which
// are the MAML paper's sinusoid settings) and validation names the key.

/// Hyper-parameters of a meta-training run.
public struct TrainerConfig: Sendable, Equatable, Codable {
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

    public init(algorithm: MetaAlgorithm = .maml, innerSteps: Int = 1, innerLR: Float = 0.01,
                metaLR: Double = 0.001, metaBatch: Int = 25, supportShots: Int = 10, queryShots: Int = 10,
                iterations: Int = 70_000, seed: UInt64 = 0, optimizer: OptimizerKind = .adam) {
        self.algorithm = algorithm; self.innerSteps = innerSteps; self.innerLR = innerLR
        self.metaLR = metaLR; self.metaBatch = metaBatch; self.supportShots = supportShots
        self.queryShots = queryShots; self.iterations = iterations; self.seed = seed
        self.optimizer = optimizer
    }

    /// The inner-loop part as a MetaLearner.
    public var learner: MetaLearner {
        MetaLearner(algorithm: algorithm, innerSteps: innerSteps, innerLR: innerLR)
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
    }

    // MARK: Codable with defaults for missing keys

    enum CodingKeys: String, CodingKey {
        case algorithm, innerSteps, innerLR, metaLR, metaBatch, supportShots, queryShots, iterations, seed, optimizer
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainerConfig()
        algorithm = try c.decodeIfPresent(MetaAlgorithm.self, forKey: .algorithm) ?? d.algorithm
        innerSteps = try c.decodeIfPresent(Int.self, forKey: .innerSteps) ?? d.innerSteps
        innerLR = try c.decodeIfPresent(Float.self, forKey: .innerLR) ?? d.innerLR
        metaLR = try c.decodeIfPresent(Double.self, forKey: .metaLR) ?? d.metaLR
        metaBatch = try c.decodeIfPresent(Int.self, forKey: .metaBatch) ?? d.metaBatch
        supportShots = try c.decodeIfPresent(Int.self, forKey: .supportShots) ?? d.supportShots
        queryShots = try c.decodeIfPresent(Int.self, forKey: .queryShots) ?? d.queryShots
        iterations = try c.decodeIfPresent(Int.self, forKey: .iterations) ?? d.iterations
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        optimizer = try c.decodeIfPresent(OptimizerKind.self, forKey: .optimizer) ?? d.optimizer
    }
}
