// MARK: - Per-task meta-gradients
//
// MetaLearner.taskMetaGradient computes one task's contribution to the
// meta-gradient from (meta-parameters, task) alone, in a per-worker
// MetaWorkspace: tasks are independent, so a meta-batch can run them on any
// number of threads and reduce the results in task order (Trainer.swift).
//
// The meta-parameters are theta (the P model parameters) followed by whatever
// else the algorithm learns (MetaPlan: Meta-SGD's per-parameter rates, MAML++'s
// per-step per-tensor rates). This file holds MAML, first-order MAML and the
// pretraining baseline; the others have a file each (RateLearning.swift:
// Meta-SGD, ANIL, MAML++; Reptile.swift; ImplicitMAML.swift; ProtoNet.swift).

/// The meta-learning algorithm.
public enum MetaAlgorithm: String, Sendable, CaseIterable {
    /// MAML with exact second-order meta-gradient (one HVP per inner step).
    case maml
    /// First-order MAML: v = grad L_Q(theta_k), no HVP.
    case fomaml
    /// The MAML paper's baseline: plain multi-task training on support + query, no adaptation.
    case pretrain
    /// Reptile: the meta-gradient is theta - theta_k (k steps of SGD or Adam on the support set).
    case reptile
    /// Meta-SGD: a learned inner rate per parameter, meta-trained with theta (second order).
    case metaSGD = "meta-sgd"
    /// ANIL: the inner loop adapts only the layout's "head" tensors (second order).
    case anil
    /// Implicit MAML: the implicit gradient of the proximal inner problem, by conjugate gradient.
    case imaml
    /// Prototypical Networks: the backbone embeds; distances to class prototypes classify.
    case protonet

    /// True if the meta-gradient needs Hessian-vector products.
    public var needsHVP: Bool { self == .maml || self == .metaSGD || self == .anil || self == .imaml }
}

// MARK: - Workspace

/// Preallocated buffers for one worker: the k inner iterates theta_1 ... theta_k (theta_0
/// is the shared parameters, read in place), gradient, Hv and finite-difference scratch,
/// all P floats; v is built in the caller's output. Used by one thread at a time.
public final class MetaWorkspace {
    public let parameterCount: Int
    public let innerSteps: Int
    let iterates: FloatBuffer       // innerSteps * P: theta_1 ... theta_k
    let gradient: FloatBuffer
    let hv: FloatBuffer
    let fdTheta: FloatBuffer
    let fdGradient: FloatBuffer
    /// The worker's slot on the activity page (Activity.swift).
    public var activitySlot = 0
    /// The meta-iteration being computed (for schedules such as MAML++'s step weights).
    public var iteration = 0
    /// What the plan's algorithm needs besides the buffers above, sized for it (see MetaPlan).
    let plan: MetaPlan?
    let extra: [FloatBuffer]
    /// Prototypical Networks' embeddings and their gradients (grown on first use).
    let prototypes = PrototypeBuffers()

    /// Buffers for `parameterCount` parameters and up to `innerSteps` inner steps (MAML,
    /// first-order MAML, pretraining).
    public convenience init(parameterCount: Int, innerSteps: Int) {
        self.init(parameterCount: parameterCount, innerSteps: innerSteps, plan: nil)
    }

    /// Buffers for every algorithm of `plan`.
    public convenience init(plan: MetaPlan) {
        self.init(parameterCount: plan.modelCount, innerSteps: plan.learner.innerSteps, plan: plan)
    }

    private init(parameterCount: Int, innerSteps: Int, plan: MetaPlan?) {
        self.parameterCount = parameterCount; self.innerSteps = innerSteps; self.plan = plan
        // Implicit MAML keeps one iterate (memory flat in k); the others keep all k.
        let kept = plan?.learner.algorithm == .imaml ? min(innerSteps, 1) : innerSteps
        iterates = FloatBuffer(kept * parameterCount)
        gradient = FloatBuffer(parameterCount)
        hv = FloatBuffer(parameterCount)
        fdTheta = FloatBuffer(parameterCount); fdGradient = FloatBuffer(parameterCount)
        extra = (0..<(plan?.extraBuffers ?? 0)).map { _ in FloatBuffer(parameterCount) }
    }

    /// theta_j for j in 1...innerSteps.
    @inline(__always) func iterate(_ j: Int) -> UnsafeMutablePointer<Float> {
        iterates.block(j - 1, size: parameterCount)
    }
}

// MARK: - MetaLearner

/// One algorithm with its inner-loop hyper-parameters; computes per-task meta-gradients.
public struct MetaLearner: Sendable, Equatable {
    public var algorithm: MetaAlgorithm
    public var innerSteps: Int
    public var innerLR: Float
    public var options: LearnerOptions

    public init(algorithm: MetaAlgorithm, innerSteps: Int, innerLR: Float, options: LearnerOptions = LearnerOptions()) {
        self.algorithm = algorithm; self.innerSteps = innerSteps; self.innerLR = innerLR; self.options = options
    }

    /// True when the inner loop runs with a rate vector (RateLearning.swift) rather than MAML's scalar.
    var usesRateVectors: Bool {
        algorithm == .metaSGD || algorithm == .anil || options.lslr || options.multiStepLoss
    }

    /// Writes the task's meta-gradient into `output` (as many floats as `parameters`: the plan's
    /// meta-parameters) and returns the query loss after adaptation (for `pretrain`: at theta).
    /// Algorithms other than maml, fomaml and pretrain need a workspace made from a MetaPlan.
    public func taskMetaGradient(backbone: any Backbone, parameters: UnsafeBufferPointer<Float>,
                                 task: TaskBuffer, workspace ws: MetaWorkspace,
                                 output: UnsafeMutableBufferPointer<Float>) throws(MAMLError) -> Float {
        do {
            return try compute(backbone, parameters, task, ws, output)
        } catch {
            throw error.error(at: "this task")
        }
    }

    /// As `taskMetaGradient` but with the fault left for the caller to locate.
    func compute(_ backbone: any Backbone, _ parameters: UnsafeBufferPointer<Float>, _ task: TaskBuffer,
                 _ ws: MetaWorkspace, _ output: UnsafeMutableBufferPointer<Float>) throws(TaskFault) -> Float {
        let n = ws.parameterCount
        if algorithm != .maml && algorithm != .fomaml && algorithm != .pretrain || usesRateVectors {
            guard let plan = ws.plan, plan.learner == self else {
                preconditionFailure("\(algorithm.rawValue) needs a workspace made from its MetaPlan")
            }
            precondition(parameters.count == plan.metaCount && output.count == plan.metaCount)
            switch algorithm {
            case .reptile: return try reptile(backbone, parameters, task, ws, output)
            case .imaml: return try implicitMAML(backbone, parameters, task, ws, output)
            case .protonet: return try protoNet(backbone, parameters, task, ws, output)
            default: return try withRateVectors(backbone, parameters, task, ws, plan, output)
            }
        }
        precondition(parameters.count == n && output.count == n && innerSteps <= ws.innerSteps,
                     "workspace sized for \(ws.parameterCount) parameters / \(ws.innerSteps) steps")
        let out = output.baseAddress!

        let worker = ws.activitySlot
        if algorithm == .pretrain {
            Activity.mark(worker: worker, stage: .supportAndQuery)
            _ = try lossGrad(backbone, parameters.baseAddress!, task.all, out, n, .supportAndQuery)
            Activity.mark(worker: worker, stage: .query)
            return try lossOnly(backbone, parameters.baseAddress!, task.query, n, .query)
        }

        // Inner loop: theta_{j+1} = theta_j - alpha * grad L_S(theta_j). theta_0 is read in
        // place (no copy: tasks only read the shared parameters).
        let theta0 = parameters.baseAddress!
        @inline(__always) func theta(_ j: Int) -> UnsafePointer<Float> { j == 0 ? theta0 : UnsafePointer(ws.iterate(j)) }
        let g = ws.gradient.base
        for j in 0..<innerSteps {
            Activity.mark(worker: worker, stage: .support, step: j)
            _ = try lossGrad(backbone, theta(j), task.support, g, n, .support(step: j))
            addScaled(theta(j), -innerLR, g, into: ws.iterate(j + 1), count: n)
        }

        // v = grad L_Q(theta_k); then v <- (I - alpha H_S(theta_j)) v for j = k-1 ... 0,
        // built in the output itself.
        let v = out
        Activity.mark(worker: worker, stage: .query)
        let queryLoss = try lossGrad(backbone, theta(innerSteps), task.query, v, n, .query)
        if algorithm == .maml {
            let hv = ws.hv.base
            for j in stride(from: innerSteps - 1, through: 0, by: -1) {
                Activity.mark(worker: worker, stage: .hvp, step: j)
                try checkedHVP(backbone, theta(j), task.support, v, into: hv, ws, .hvp(step: j))
                addScaled(v, -innerLR, hv, into: v, count: n)
            }
        }
        return queryLoss
    }
}

// MARK: - Checked backbone calls

/// Where in a task a backbone call happens; turned into text only when reporting an error
/// (so the hot path builds no strings).
enum TaskStage: CustomStringConvertible {
    case support(step: Int), query, supportAndQuery, hvp(step: Int), evalQuery(step: Int), conjugateGradient(step: Int)
    var description: String {
        switch self {
        case .conjugateGradient(let c): return "conjugate-gradient Hessian-vector product \(c)"
        case .support(let j): return "support (inner step \(j))"
        case .query: return "query"
        case .supportAndQuery: return "support+query"
        case .hvp(let j): return "support Hessian-vector product (inner step \(j))"
        case .evalQuery(let s): return "query after \(s) steps"
        }
    }
}

/// Loss and gradient with the result checked for NaN / infinity.
@inline(__always)
func lossGrad(_ backbone: any Backbone, _ params: UnsafePointer<Float>, _ batch: Batch,
                     _ gradient: UnsafeMutablePointer<Float>, _ n: Int, _ what: TaskStage) throws(TaskFault) -> Float {
    let loss: Float
    do {
        loss = try backbone.lossGrad(params: UnsafeBufferPointer(start: params, count: n), batch: batch,
                                            grad: UnsafeMutableBufferPointer(start: gradient, count: n))
    } catch {
        throw .backbone(error, "\(what) gradient")
    }
    guard loss.isFinite else { throw .nonFinite("\(what) loss (\(loss))") }
    guard backbone.checksFiniteness || allFinite(gradient, count: n) else { throw .nonFinite("\(what) gradient") }
    return loss
}

/// `output` = H_S(params) v on `batch` (exact or by finite differences, HessianVectorProduct.swift),
/// checked for NaN / infinity; `what` names the stage in errors.
@inline(__always)
func checkedHVP(_ backbone: any Backbone, _ params: UnsafePointer<Float>, _ batch: Batch, _ vector: UnsafePointer<Float>,
                into output: UnsafeMutablePointer<Float>, _ ws: MetaWorkspace, _ what: TaskStage) throws(TaskFault) {
    let n = ws.parameterCount
    do {
        try hvp(backbone: backbone, params: params, batch: batch, vector: vector, output: output, count: n,
                scratchTheta: ws.fdTheta.base, scratchGradient: ws.fdGradient.base)
    } catch {
        throw .backbone(error, what.description)
    }
    // A finite-difference product can overflow even from finite gradients, so only an
    // exact product from a backbone that checks its results skips this.
    guard (backbone.checksFiniteness && backbone.providesHVP) || allFinite(output, count: n) else {
        throw .nonFinite(what.description)
    }
}

/// Loss without gradient, checked for NaN / infinity.
@inline(__always)
func lossOnly(_ backbone: any Backbone, _ params: UnsafePointer<Float>, _ batch: Batch,
              _ n: Int, _ what: TaskStage) throws(TaskFault) -> Float {
    let loss: Float
    do {
        loss = try backbone.lossGrad(params: UnsafeBufferPointer(start: params, count: n), batch: batch,
                                            grad: nil)
    } catch {
        throw .backbone(error, "\(what) loss")
    }
    guard loss.isFinite else { throw .nonFinite("\(what) loss (\(loss))") }
    return loss
}
