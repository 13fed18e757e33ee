// MARK: - The per-task meta-gradients against closed forms and finite differences

import Testing
@testable import MAMLCore

/// A task with random inputs in [-2, 2] and targets in [-1, 1].
func randomTask(inputs d: Int, support: Int, query: Int, seed: UInt64) -> TaskBuffer {
    let task = TaskBuffer(inputElements: d, outputElements: 1, lossKind: .mse,
                          supportCapacity: support, queryCapacity: query)
    try! task.prepare(support: support, query: query)
    var rng = RandomGenerator(seed: seed)
    for i in 0..<(support + query) * d { task.supportX[i] = rng.uniform(-2, 2) }
    for i in 0..<(support + query) { task.supportY![i] = rng.uniform(-1, 1) }
    return task
}

func randomParameters(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = RandomGenerator(seed: seed)
    return (0..<n).map { _ in rng.uniform(-scale, scale) }
}

/// The core's meta-gradient (as Double) and query loss for one task.
func coreMetaGradient(_ backbone: any Backbone, _ theta: [Float], _ task: TaskBuffer,
                      _ algorithm: MetaAlgorithm, steps: Int, lr: Float) throws -> ([Double], Float) {
    let learner = MetaLearner(algorithm: algorithm, innerSteps: steps, innerLR: lr)
    let ws = MetaWorkspace(parameterCount: theta.count, innerSteps: steps)
    var out = [Float](repeating: .nan, count: theta.count)
    let loss = try theta.withUnsafeBufferPointer { p in
        try out.withUnsafeMutableBufferPointer { o in
            try learner.taskMetaGradient(backbone: backbone, parameters: p, task: task, workspace: ws, output: o)
        }
    }
    return (out.map(Double.init), loss)
}

@Suite struct MetaGradientTests {
    // MARK: Closed form (linear regression)

    @Test(arguments: [1, 3])
    func linearMAMLEqualsAnalyticProduct(steps: Int) throws {
        let d = 3, alpha: Float = 0.05
        let model = LinearModel(inputs: d)
        let task = randomTask(inputs: d, support: 7, query: 9, seed: 11)
        let theta = randomParameters(model.count, seed: 12)
        let (core, _) = try coreMetaGradient(TestBackbone(model), theta, task, .maml, steps: steps, lr: alpha)

        // Analytic: prod_j (I - alpha H_S) grad L_Q(theta_k), H_S constant for a linear model.
        let s = doubles(task.support, inputs: d), q = doubles(task.query, inputs: d)
        let thetaK = innerLoop(model, theta.map(Double.init), s.x, s.y, steps: steps, lr: Double(alpha)).last!
        var v = model.lossGrad(thetaK, q.x, q.y).1
        let h = model.hessian(s.x)
        for _ in 0..<steps {
            let hv = h.map { row in zip(row, v).reduce(0) { $0 + $1.0 * $1.1 } }
            v = zip(v, hv).map { $0 - Double(alpha) * $1 }
        }
        #expect(relativeError(core, v) < 1e-5, "core \(core) vs analytic \(v)")
        // And the analytic product is the derivative of the whole objective.
        let fd = centralDifference({ mamlObjective(model, $0, support: (s.x, s.y), query: (q.x, q.y),
                                                   steps: steps, lr: Double(alpha)) }, at: theta.map(Double.init))
        #expect(relativeError(v, fd) < 1e-7)
    }

    // MARK: Nonlinear (tanh network)

    @Test(arguments: [1, 2, 4])
    func tanhMAMLEqualsFiniteDifferenceOfObjective(steps: Int) throws {
        let model = TanhModel(hidden: 5), alpha: Float = 0.1
        let task = randomTask(inputs: 1, support: 6, query: 8, seed: 21)
        let theta = randomParameters(model.count, seed: 22)
        let (core, loss) = try coreMetaGradient(TestBackbone(model), theta, task, .maml, steps: steps, lr: alpha)

        let s = doubles(task.support, inputs: 1), q = doubles(task.query, inputs: 1)
        let objective = { (t: [Double]) in
            mamlObjective(model, t, support: (s.x, s.y), query: (q.x, q.y), steps: steps, lr: Double(alpha))
        }
        let fd = centralDifference(objective, at: theta.map(Double.init))
        #expect(relativeError(core, fd) < 1e-5, "core \(core)\nfd   \(fd)")
        #expect(abs(Double(loss) - objective(theta.map(Double.init))) < 1e-5)
        // Second order matters here: first-order MAML is measurably different.
        let (first, _) = try coreMetaGradient(TestBackbone(model), theta, task, .fomaml, steps: steps, lr: alpha)
        #expect(relativeError(first, fd) > 1e-3)
    }

    @Test func fomamlDiffersFromMAMLExactlyByTheHVPTerm() throws {
        let model = TanhModel(hidden: 4), alpha: Float = 0.2
        let task = randomTask(inputs: 1, support: 5, query: 5, seed: 31)
        let theta = randomParameters(model.count, seed: 32)
        let backbone = TestBackbone(model)
        let (second, _) = try coreMetaGradient(backbone, theta, task, .maml, steps: 1, lr: alpha)
        let (first, _) = try coreMetaGradient(backbone, theta, task, .fomaml, steps: 1, lr: alpha)
        // maml = v - alpha H_S(theta_0) v with v = fomaml's gradient.
        let s = doubles(task.support, inputs: 1)
        let hv = model.hvp(theta.map(Double.init), s.x, s.y, first.map { Double(Float($0)) })
        let expected = zip(first, hv).map { $0 - Double(alpha) * $1 }
        #expect(relativeError(second, expected) < 1e-6)
        #expect(relativeError(second, first) > 1e-3)
    }

    @Test func fomamlIsTheQueryGradientAtTheAdaptedParameters() throws {
        let model = TanhModel(hidden: 3), alpha: Float = 0.1
        let task = randomTask(inputs: 1, support: 4, query: 6, seed: 41)
        let theta = randomParameters(model.count, seed: 42)
        let (first, loss) = try coreMetaGradient(TestBackbone(model), theta, task, .fomaml, steps: 3, lr: alpha)
        let s = doubles(task.support, inputs: 1), q = doubles(task.query, inputs: 1)
        let thetaK = innerLoop(model, theta.map(Double.init), s.x, s.y, steps: 3, lr: Double(alpha)).last!
        let (lq, gq) = model.lossGrad(thetaK, q.x, q.y)
        #expect(relativeError(first, gq) < 1e-5)
        #expect(abs(Double(loss) - lq) < 1e-5)
    }

    @Test func pretrainIsTheGradientOnSupportPlusQueryWithoutAdaptation() throws {
        let model = TanhModel(hidden: 3)
        let task = randomTask(inputs: 1, support: 4, query: 6, seed: 51)
        let theta = randomParameters(model.count, seed: 52)
        let backbone = TestBackbone(model)
        let (grad, loss) = try coreMetaGradient(backbone, theta, task, .pretrain, steps: 2, lr: 0.5)
        let all = doubles(task.all, inputs: 1), q = doubles(task.query, inputs: 1)
        let t = theta.map(Double.init)
        #expect(relativeError(grad, model.lossGrad(t, all.x, all.y).1) < 1e-6)
        #expect(abs(Double(loss) - model.lossGrad(t, q.x, q.y).0) < 1e-6)
        #expect(backbone.hvpCalls == 0)
    }

    @Test func zeroInnerStepsMAMLIsTheQueryGradient() throws {
        let model = TanhModel(hidden: 3)
        let task = randomTask(inputs: 1, support: 4, query: 6, seed: 61)
        let theta = randomParameters(model.count, seed: 62)
        let (grad, _) = try coreMetaGradient(TestBackbone(model), theta, task, .maml, steps: 0, lr: 0.5)
        let q = doubles(task.query, inputs: 1)
        #expect(relativeError(grad, model.lossGrad(theta.map(Double.init), q.x, q.y).1) < 1e-6)
    }
}
