// MARK: - Prototypical Networks: loss and gradient against finite differences, eval, threads

import Testing
@testable import MAMLCore
import MAMLTasks
#if canImport(Glibc)
import Glibc
#endif

/// f(x) = W x + b, W [D x d]: an embedding network with an exact VJP (and no loss of its own).
final class LinearEmbedding: Backbone {
    let d: Int, dims: Int, shape: [Int]
    init(inputs d: Int, dimensions: Int, shape: [Int]? = nil) { self.d = d; dims = dimensions; self.shape = shape ?? [d] }
    var parameterCount: Int { dims * d + dims }
    var inputShape: [Int] { shape }
    var outputShape: [Int] { [dims] }
    var lossKind: LossKind { .softmaxCrossEntropy }
    var layout: [LayoutTensor]? { nil }
    var providesHVP: Bool { false }
    var providesVJP: Bool { true }
    func makeReplica() throws(BackboneError) -> any Backbone { LinearEmbedding(inputs: d, dimensions: dims, shape: shape) }
    func initParameters(seed: UInt64, into params: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        var rng = RandomGenerator(seed: seed)
        for i in params.indices { params[i] = rng.uniform(-0.3, 0.3) }
    }
    func forward(params: UnsafeBufferPointer<Float>, batch: Batch, output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        for e in 0..<batch.n {
            for o in 0..<dims {
                var s = params[dims * d + o]
                for i in 0..<d { s += params[o * d + i] * batch.x[e * d + i] }
                output[e * dims + o] = s
            }
        }
    }
    func lossGrad(params: UnsafeBufferPointer<Float>, batch: Batch, grad: UnsafeMutableBufferPointer<Float>?) throws(BackboneError) -> Float {
        throw BackboneError(.unsupported, "an embedding has no loss")
    }
    func hvp(params: UnsafeBufferPointer<Float>, batch: Batch, v: UnsafeBufferPointer<Float>,
             output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        throw BackboneError(.unsupported, "no HVP")
    }
    func vjp(params: UnsafeBufferPointer<Float>, batch: Batch, outputGrad: UnsafeBufferPointer<Float>,
             grad: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        for i in grad.indices { grad[i] = 0 }
        for e in 0..<batch.n {
            for o in 0..<dims {
                let u = outputGrad[e * dims + o]
                grad[dims * d + o] += u
                for i in 0..<d { grad[o * d + i] += u * batch.x[e * d + i] }
            }
        }
    }
}

/// The ProtoNet loss in Double for embedding parameters `t` (the test's reference).
func protoLossD(_ t: [Double], _ task: TaskBuffer, d: Int, dims: Int, ways: Int) -> Double {
    func embed(_ x: UnsafePointer<Float>, _ e: Int) -> [Double] {
        (0..<dims).map { o in (0..<d).reduce(t[dims * d + o]) { $0 + t[o * d + $1] * Double(x[e * d + $1]) } }
    }
    let s = task.support, q = task.query
    var protos = [[Double]](repeating: [Double](repeating: 0, count: dims), count: ways), counts = [Double](repeating: 0, count: ways)
    for e in 0..<s.n {
        let y = Int(s.yClass![e]), f = embed(s.x, e)
        counts[y] += 1
        for k in 0..<dims { protos[y][k] += f[k] }
    }
    for n in 0..<ways { for k in 0..<dims { protos[n][k] /= counts[n] } }
    var loss = 0.0
    for e in 0..<q.n {
        let f = embed(q.x, e)
        let scores = protos.map { c in -zip(f, c).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }
        let top = scores.max()!
        loss += top + log(scores.reduce(0.0) { $0 + exp($1 - top) }) - scores[Int(q.yClass![e])]
    }
    return loss / Double(q.n)
}

@Suite struct ProtoNetTests {
    /// A 3-way task with 2 support and 3 query examples per class, inputs in [-1, 1]^4.
    func task(seed: UInt64) throws -> TaskBuffer {
        let ways = 3, d = 4
        let t = TaskBuffer(inputElements: d, outputElements: ways, lossKind: .softmaxCrossEntropy,
                           supportCapacity: 2 * ways, queryCapacity: 3 * ways)
        try t.prepare(support: 2 * ways, query: 3 * ways)
        var rng = RandomGenerator(seed: seed)
        for i in 0..<(5 * ways * d) { t.supportX[i] = rng.uniform(-1, 1) }
        for e in 0..<(2 * ways) { t.supportLabels![e] = Int32(e % ways) }
        for e in 0..<(3 * ways) { t.queryLabels![e] = Int32((e + 1) % ways) }
        return t
    }

    @Test("the prototype loss and its gradient through the VJP against finite differences of the whole loss")
    func gradientAgainstFiniteDifferences() throws {
        let net = LinearEmbedding(inputs: 4, dimensions: 5), task = try task(seed: 41)
        let theta = randomParameters(net.parameterCount, seed: 42, scale: 0.5)
        let learner = MetaLearner(algorithm: .protonet, innerSteps: 0, innerLR: 0)
        let plan = try MetaPlan(learner: learner, backbone: net, taskLoss: .softmaxCrossEntropy)
        var out = [Float](repeating: .nan, count: theta.count)
        let loss = try theta.withUnsafeBufferPointer { p in
            try out.withUnsafeMutableBufferPointer { o in
                try learner.taskMetaGradient(backbone: net, parameters: p, task: task, workspace: MetaWorkspace(plan: plan), output: o)
            }
        }
        let objective = { (t: [Double]) in protoLossD(t, task, d: 4, dims: 5, ways: 3) }
        #expect(abs(Double(loss) - objective(theta.map(Double.init))) < 1e-5)
        let fd = centralDifference(objective, at: theta.map(Double.init))
        #expect(relativeError(out.map(Double.init), fd) < 1e-4, "core \(out)\nfd   \(fd)")
    }

    @Test("protonet is refused without maml.vjp/1 and on regression tasks, saying why")
    func requirements() throws {
        let learner = MetaLearner(algorithm: .protonet, innerSteps: 0, innerLR: 0)
        #expect { _ = try MetaPlan(learner: learner, backbone: TestBackbone(TanhModel(hidden: 2)), taskLoss: .softmaxCrossEntropy) }
            throws: { "\($0)".contains("must offer \"maml.vjp/1\" (ABI 1.1)") }
        #expect { _ = try MetaPlan(learner: learner, backbone: LinearEmbedding(inputs: 1, dimensions: 2), taskLoss: .mse) }
            throws: { "\($0)".contains("needs classification tasks") }
    }

    @Test("a class without support examples and a label outside the ways are task errors, not divergence")
    func badTasks() throws {
        let net = LinearEmbedding(inputs: 4, dimensions: 5)
        let learner = MetaLearner(algorithm: .protonet, innerSteps: 0, innerLR: 0)
        let plan = try MetaPlan(learner: learner, backbone: net, taskLoss: .softmaxCrossEntropy)
        let theta = randomParameters(net.parameterCount, seed: 43)
        for (edit, words) in [({ (t: TaskBuffer) in t.supportLabels![1] = 0; t.supportLabels![4] = 0 }, "class 1 has no support example"),
                              ({ (t: TaskBuffer) in t.queryLabels![2] = 7 }, "query label 7 outside 0..<3")] {
            let t = try task(seed: 44)
            edit(t)
            var out = [Float](repeating: 0, count: theta.count)
            #expect {
                try theta.withUnsafeBufferPointer { p in
                    try out.withUnsafeMutableBufferPointer { o in
                        _ = try learner.taskMetaGradient(backbone: net, parameters: p, task: t, workspace: MetaWorkspace(plan: plan), output: o)
                    }
                }
            } throws: { error in
                guard let e = error as? MAMLError, !e.isDivergence else { return false }
                return "\(e)".contains(words)
            }
        }
    }

    @Test("training on glyphs is bit-identical on 1 and 3 threads; evaluation reports the same metrics at every step count")
    func trainingAndEvaluation() throws {
        let family = try GlyphTasks(config: GlyphConfig(ways: 3, classes: 30, size: 8))
        let net = LinearEmbedding(inputs: 64, dimensions: 6, shape: family.inputShape)
        let config = TrainerConfig(algorithm: .protonet, innerSteps: 0, metaLR: 0.01, metaBatch: 4, supportShots: 2,
                                   queryShots: 3, iterations: 5, seed: 3)
        var states: [TrainerState] = []
        for threads in [1, 3] {
            let t = try Trainer(backbone: net, family: family, config: config, threads: threads)
            try t.run()
            states.append(t.state)
        }
        #expect(states[0] == states[1])
        let evaluator = try Evaluator(backbone: net, family: family,
                                      config: EvaluationConfig(tasks: 20, shots: [1, 2], steps: [0, 3], queryShots: 3,
                                                               learner: config.learner), threads: 2)
        let results = try evaluator.evaluate(parameters: states[0].parameters)
        #expect(results.count == 4)
        #expect(results[0].accuracy == results[1].accuracy && results[0].loss == results[1].loss)   // no fine-tuning
        #expect(results.allSatisfy { ($0.accuracy ?? 0) > 1.0 / 3 - 0.2 && $0.diverged == 0 })
    }
}
