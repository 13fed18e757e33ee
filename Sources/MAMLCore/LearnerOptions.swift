// MARK: - Algorithm-specific settings
//
// The settings only some meta-learners read. Each defaults to "off" (or to the
// value the algorithm's paper uses), and a checkpoint header lists only those
// that differ from the defaults, so the headers of runs that use none of them
// are byte for byte what they were before these existed.

/// Settings of the meta-learners beyond (algorithm, k, alpha): see docs/algorithms.md.
public struct LearnerOptions: Sendable, Equatable {
    /// MAML++: learned per-step, per-tensor inner rates (maml and fomaml).
    public var lslr = false
    /// MAML++: the query loss after every inner step, weighted, annealed towards the last (maml, fomaml).
    public var multiStepLoss = false
    /// iMAML: the proximal regularisation lambda of the inner problem.
    public var imamlLambda = 1.0
    /// iMAML: conjugate-gradient iterations for (I + H / lambda) x = grad L_Q.
    public var cgSteps = 5
    /// Reptile: the inner loop's optimiser (the paper used Adam with beta1 = 0).
    public var innerOptimizer: OptimizerKind = .sgd
    /// Iterations over which Reptile's outer rate anneals to 0 and MAML++'s step weights
    /// anneal (over the first 15% of it). Set once when a run starts, so a resumed or
    /// extended run keeps its schedule; 0: no annealing.
    public var annealIterations = 0

    public init(lslr: Bool = false, multiStepLoss: Bool = false, imamlLambda: Double = 1.0, cgSteps: Int = 5,
                innerOptimizer: OptimizerKind = .sgd, annealIterations: Int = 0) {
        self.lslr = lslr; self.multiStepLoss = multiStepLoss; self.imamlLambda = imamlLambda
        self.cgSteps = cgSteps; self.innerOptimizer = innerOptimizer; self.annealIterations = annealIterations
    }

    /// Throws `.invalidConfig` naming the setting that does not fit `algorithm`, or its bad value.
    public func validate(algorithm: MetaAlgorithm) throws(MAMLError) {
        func only(_ key: String, _ allowed: Set<MetaAlgorithm>) throws(MAMLError) {
            guard allowed.contains(algorithm) else {
                throw .invalidConfig("\(key) applies to \(allowed.map(\.rawValue).sorted().joined(separator: " and ")), "
                                     + "not to \(algorithm.rawValue)")
            }
        }
        let d = LearnerOptions()
        if lslr { try only("lslr", [.maml, .fomaml]) }
        if multiStepLoss { try only("multiStepLoss", [.maml, .fomaml]) }
        if imamlLambda != d.imamlLambda || cgSteps != d.cgSteps { try only("imamlLambda/cgSteps", [.imaml]) }
        if innerOptimizer != d.innerOptimizer { try only("innerOptimizer", [.reptile]) }
        guard imamlLambda.isFinite && imamlLambda > 0 else {
            throw .invalidConfig("imamlLambda = \(imamlLambda), expected a finite number > 0")
        }
        guard cgSteps >= 1 && cgSteps <= 1000 else { throw .invalidConfig("cgSteps = \(cgSteps), expected 1...1000") }
        guard annealIterations >= 0 else { throw .invalidConfig("annealIterations = \(annealIterations), expected >= 0") }
    }

    // MARK: JSON: only what differs from the defaults

    init(fields f: JSONFields) throws(JSONFieldError) {
        let d = LearnerOptions()
        lslr = try f.read("lslr", "true or false", default: d.lslr) { $0.boolValue }
        multiStepLoss = try f.read("multiStepLoss", "true or false", default: d.multiStepLoss) { $0.boolValue }
        imamlLambda = try f.double("imamlLambda", default: d.imamlLambda)
        cgSteps = try f.int("cgSteps", default: d.cgSteps)
        innerOptimizer = try f.choice("innerOptimizer", default: d.innerOptimizer)
        annealIterations = try f.int("annealIterations", default: d.annealIterations)
    }

    var jsonPairs: [(String, JSONValue)] {
        let d = LearnerOptions()
        var pairs: [(String, JSONValue)] = []
        if lslr != d.lslr { pairs.append(("lslr", .bool(lslr))) }
        if multiStepLoss != d.multiStepLoss { pairs.append(("multiStepLoss", .bool(multiStepLoss))) }
        if imamlLambda != d.imamlLambda { pairs.append(("imamlLambda", JSONValue(shortest: imamlLambda))) }
        if cgSteps != d.cgSteps { pairs.append(("cgSteps", JSONValue(integer: cgSteps))) }
        if innerOptimizer != d.innerOptimizer { pairs.append(("innerOptimizer", .string(innerOptimizer.rawValue))) }
        if annealIterations != d.annealIterations { pairs.append(("annealIterations", JSONValue(integer: annealIterations))) }
        return pairs
    }
}
