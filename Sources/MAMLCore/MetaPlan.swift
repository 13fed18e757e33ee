// MARK: - A meta-learner resolved against a backbone
//
// What an algorithm learns besides theta and what it asks of the backbone are
// settled once per run: the meta-parameter vector is theta (P floats) followed
// by `rateCount` learned inner rates, laid out as
//   meta-sgd: one rate per parameter (P floats, used at every inner step);
//   lslr:     one rate per (inner step, rate group), step-major (k x G floats),
//             the groups being the layout's tensors (one group without a layout);
// and every other algorithm learns theta alone. Requirements a backbone does not
// meet are refused here with a message that says what is missing.

/// A MetaLearner with the backbone-dependent facts it needs: sizes, rate groups, the head.
public struct MetaPlan: Sendable, Equatable {
    public let learner: MetaLearner
    /// P: the backbone's parameters.
    public let modelCount: Int
    /// LSLR's rate groups: the layout's tensors as ranges of theta (one group without a layout).
    public let groups: [Range<Int>]
    /// ANIL's adapted part: the layout tensors whose role is "head".
    public let head: [Range<Int>]

    /// Learned inner rates after theta.
    public var rateCount: Int {
        if learner.algorithm == .metaSGD { return modelCount }
        if learner.options.lslr { return learner.innerSteps * groups.count }
        return 0
    }
    /// Meta-parameters: theta and the learned rates.
    public var metaCount: Int { modelCount + rateCount }

    /// Resolves `learner` for `backbone` on tasks with loss `taskLoss`; throws `.incompatible`
    /// naming what the backbone or the tasks lack.
    public init(learner: MetaLearner, backbone: any Backbone, taskLoss: LossKind) throws(MAMLError) {
        self.learner = learner
        modelCount = backbone.parameterCount
        let layout = backbone.layout ?? []
        groups = layout.isEmpty ? [0..<modelCount] : layout.map { $0.offset ..< $0.offset + $0.count }
        head = layout.filter { $0.role == "head" }.map { $0.offset ..< $0.offset + $0.count }
        switch learner.algorithm {
        case .anil:
            guard !layout.isEmpty else {
                throw .incompatible("anil adapts the tensors whose maml.layout/1 role is \"head\", "
                                    + "and this model publishes no layout")
            }
            guard !head.isEmpty else {
                let roles = Set(layout.map(\.role)).sorted().joined(separator: ", ")
                throw .incompatible("anil adapts the tensors whose maml.layout/1 role is \"head\"; this model's "
                                    + "tensors have the roles \(roles)")
            }
        case .protonet:
            guard backbone.providesVJP else {
                throw .incompatible("protonet needs the gradient of a loss computed on the model's outputs: "
                                    + "the plugin must offer \"maml.vjp/1\" (ABI 1.1), and this one does not")
            }
            guard taskLoss == .softmaxCrossEntropy else {
                throw .incompatible("protonet classifies by distance to class prototypes: it needs classification "
                                    + "tasks (softmax-ce), not \(taskLoss.rawValue) tasks")
            }
        default: break
        }
    }

    /// The learned rates' starting values: the inner learning rate everywhere.
    public func initialRates() -> [Float] { [Float](repeating: learner.innerLR, count: rateCount) }

    /// Per-worker buffers of P floats the algorithm needs beyond MetaWorkspace's own.
    var extraBuffers: Int {
        switch learner.algorithm {
        case .reptile: return learner.options.innerOptimizer == .adam ? 2 : 0   // Adam's m and v
        case .imaml: return 4                                                    // b, r, p, Ap (x is the output)
        case .protonet: return 0
        default:
            guard learner.usesRateVectors else { return 0 }
            // rate vector, rate (.) v, a query gradient; the k support gradients when rates are learned
            return 3 + (rateCount > 0 ? learner.innerSteps : 0)
        }
    }
}
