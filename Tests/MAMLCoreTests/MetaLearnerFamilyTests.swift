// MARK: - The meta-learner family against finite differences and their definitions, in Double
//
// Each algorithm's per-task meta-gradient is compared with a central finite difference
// of its whole objective (inner loop, then query loss) written out here in Double,
// as a function of theta and, where they are learned, of the inner rates.

import Testing
@testable import MAMLCore
import MAMLTasks

/// The core's per-task output (as Double) and query loss for `learner` on the meta-parameters `meta`.
func familyGradient(_ backbone: any Backbone, _ meta: [Float], _ task: TaskBuffer, _ learner: MetaLearner,
                    iteration: Int = 0) throws -> ([Double], Float) {
    let plan = try MetaPlan(learner: learner, backbone: backbone, taskLoss: .mse)
    #expect(plan.metaCount == meta.count)
    let ws = MetaWorkspace(plan: plan)
    ws.iteration = iteration
    var out = [Float](repeating: .nan, count: meta.count)
    let loss = try meta.withUnsafeBufferPointer { p in
        try out.withUnsafeMutableBufferPointer { o in
            try learner.taskMetaGradient(backbone: backbone, parameters: p, task: task, workspace: ws, output: o)
        }
    }
    return (out.map(Double.init), loss)
}

/// theta_j for j = 0...k with per-step rate vectors `rates[j]` (Double).
func rateInnerLoop(_ m: TanhModel, _ theta: [Double], _ s: (x: [Double], y: [Double]), rates: [[Double]]) -> [[Double]] {
    var iterates = [theta]
    for a in rates {
        let g = m.lossGrad(iterates.last!, s.x, s.y).1
        iterates.append((0..<theta.count).map { iterates.last![$0] - a[$0] * g[$0] })
    }
    return iterates
}

@Suite struct MetaLearnerFamilyTests {
    let model = TanhModel(hidden: 4)
    var backbone: TestBackbone<TanhModel> { TestBackbone(model, layout: model.layout) }
    let task = randomTask(inputs: 1, support: 6, query: 8, seed: 31)
    var s: (x: [Double], y: [Double]) { doubles(task.support, inputs: 1) }
    var q: (x: [Double], y: [Double]) { doubles(task.query, inputs: 1) }

    @Test("Meta-SGD: d/dtheta and d/d(rates) of L_Q(theta - a (.) grad ...) for k = 1, 2", arguments: [1, 2])
    func metaSGD(steps: Int) throws {
        let p = model.count
        var rng = RandomGenerator(seed: 5)
        let rates: [Float] = (0..<p).map { _ in rng.uniform(0.02, 0.15) }
        let meta = randomParameters(p, seed: 32) + rates
        let learner = MetaLearner(algorithm: .metaSGD, innerSteps: steps, innerLR: 0.1)
        let (core, loss) = try familyGradient(backbone, meta, task, learner)
        let objective = { (x: [Double]) -> Double in
            let theta = Array(x[0..<p]), a = Array(x[p...])
            let last = rateInnerLoop(model, theta, s, rates: [[Double]](repeating: a, count: steps)).last!
            return model.lossGrad(last, q.x, q.y).0
        }
        let fd = centralDifference(objective, at: meta.map(Double.init))
        #expect(relativeError(core, fd) < 1e-4, "core \(core)\nfd   \(fd)")
        #expect(relativeError(Array(core[p...]), Array(fd[p...])) < 1e-4)     // the rates' part on its own
        #expect(abs(Double(loss) - objective(meta.map(Double.init))) < 1e-5)
    }

    @Test("ANIL: head-only inner steps, the body's meta-gradient through them (second order)", arguments: [1, 3])
    func anil(steps: Int) throws {
        let p = model.count, alpha = 0.2
        let theta = randomParameters(p, seed: 33)
        let (core, _) = try familyGradient(backbone, theta, task, MetaLearner(algorithm: .anil, innerSteps: steps,
                                                                               innerLR: Float(alpha)))
        let head = (0..<p).map { $0 >= 2 * model.hidden ? alpha : 0 }
        let objective = { (t: [Double]) -> Double in
            model.lossGrad(rateInnerLoop(model, t, s, rates: [[Double]](repeating: head, count: steps)).last!, q.x, q.y).0
        }
        let fd = centralDifference(objective, at: theta.map(Double.init))
        #expect(relativeError(core, fd) < 1e-5, "core \(core)\nfd   \(fd)")
        #expect(core[0..<(2 * model.hidden)].contains { abs($0) > 1e-4 })   // the body learns
        // Without a layout, or without a head, ANIL is refused saying why.
        #expect { _ = try MetaPlan(learner: MetaLearner(algorithm: .anil, innerSteps: 1, innerLR: 0.1),
                                   backbone: TestBackbone(model), taskLoss: .mse) }
            throws: { "\($0)".contains("publishes no layout") }
        let bodyOnly = model.layout.map { LayoutTensor(name: $0.name, offset: $0.offset, shape: $0.shape, role: "body") }
        #expect { _ = try MetaPlan(learner: MetaLearner(algorithm: .anil, innerSteps: 1, innerLR: 0.1),
                                   backbone: TestBackbone(model, layout: bodyOnly), taskLoss: .mse) }
            throws: { "\($0)".contains("roles body") }
    }

    @Test("MAML++: LSLR rates per (step, tensor) and the multi-step loss, at several points of the annealing",
          arguments: [(false, true, 0), (true, false, 0), (true, true, 0), (true, true, 40), (true, true, 500)])
    func mamlPlusPlus(lslr: Bool, multiStep: Bool, iteration: Int) throws {
        let p = model.count, k = 3, groups = model.layout
        let options = LearnerOptions(lslr: lslr, multiStepLoss: multiStep, annealIterations: 1000)
        let learner = MetaLearner(algorithm: .maml, innerSteps: k, innerLR: 0.1, options: options)
        var rng = RandomGenerator(seed: 7)
        let rates: [Float] = lslr ? (0..<(k * groups.count)).map { _ in rng.uniform(0.03, 0.2) } : []
        let meta = randomParameters(p, seed: 34) + rates
        let (core, loss) = try familyGradient(backbone, meta, task, learner, iteration: iteration)
        let weights = learner.stepWeights(iteration: iteration)
        #expect(abs(weights.reduce(0, +) - 1) < 1e-12)
        if multiStep && iteration >= 150 { #expect(abs(weights[0] - 0.01) < 1e-12) }   // floor 0.03 / k reached
        let objective = { (x: [Double]) -> Double in
            let perStep: [[Double]] = (0..<k).map { j in
                guard lslr else { return [Double](repeating: 0.1, count: p) }
                var a = [Double](repeating: 0, count: p)
                for (g, t) in groups.enumerated() { for i in t.offset..<(t.offset + t.count) { a[i] = x[p + j * groups.count + g] } }
                return a
            }
            let iterates = rateInnerLoop(model, Array(x[0..<p]), s, rates: perStep)
            return (1...k).reduce(0.0) { $0 + weights[$1 - 1] * model.lossGrad(iterates[$1], q.x, q.y).0 }
        }
        let fd = centralDifference(objective, at: meta.map(Double.init))
        #expect(relativeError(core, fd) < 1e-4, "core \(core)\nfd   \(fd)")
        // The reported loss is the last step's query loss, whatever the weights.
        var perStepRates: [[Double]] = []
        for j in 0..<k {
            var a = [Double](repeating: 0.1, count: p)
            if lslr {
                for i in 0..<p {
                    let g = groups.lastIndex { $0.offset <= i }!
                    a[i] = Double(meta[p + j * groups.count + g])
                }
            }
            perStepRates.append(a)
        }
        let last = rateInnerLoop(model, meta[0..<p].map(Double.init), s, rates: perStepRates)
        #expect(abs(Double(loss) - model.lossGrad(last.last!, q.x, q.y).0) < 1e-5)
    }

    @Test("Reptile: the output is theta - phi_k, phi from k steps of SGD or of Adam (beta1 = 0)")
    func reptile() throws {
        let p = model.count, k = 4, lr = 0.05
        let theta = randomParameters(p, seed: 35)
        let (sgd, _) = try familyGradient(backbone, theta, task, MetaLearner(algorithm: .reptile, innerSteps: k, innerLR: Float(lr)))
        let phi = innerLoop(model, theta.map(Double.init), s.x, s.y, steps: k, lr: lr).last!
        #expect(relativeError(sgd, zip(theta, phi).map { Double($0) - $1 }) < 1e-5)

        let adam = MetaLearner(algorithm: .reptile, innerSteps: k, innerLR: Float(lr),
                               options: LearnerOptions(innerOptimizer: .adam))
        let (core, _) = try familyGradient(backbone, theta, task, adam)
        var x = theta.map(Double.init), v = [Double](repeating: 0, count: p)
        for t in 1...k {
            let g = model.lossGrad(x, s.x, s.y).1
            for i in 0..<p {
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
                x[i] -= lr * g[i] / ((v[i] / (1 - power(0.999, t))).squareRoot() + 1e-8)
            }
        }
        #expect(relativeError(core, zip(theta, x).map { Double($0) - $1 }) < 1e-4)
    }

    @Test("iMAML: the implicit gradient equals the exact gradient of the proximal problem solved to convergence")
    func implicitMAML() throws {
        let p = model.count, lambda = 2.0, lr = 0.05
        let theta = randomParameters(p, seed: 36, scale: 0.5)
        // phi*(theta) = argmin L_S(phi) + lambda/2 ||phi - theta||^2, by gradient descent to convergence (Double).
        func solve(_ t: [Double]) -> [Double] {
            var phi = t
            for _ in 0..<4000 {
                let g = model.lossGrad(phi, s.x, s.y).1
                for i in 0..<p { phi[i] -= lr * (g[i] + lambda * (phi[i] - t[i])) }
            }
            return phi
        }
        let exact = centralDifference({ model.lossGrad(solve($0), q.x, q.y).0 }, at: theta.map(Double.init), h: 1e-5)
        let learner = MetaLearner(algorithm: .imaml, innerSteps: 600, innerLR: Float(lr),
                                  options: LearnerOptions(imamlLambda: lambda, cgSteps: p))
        let (core, _) = try familyGradient(backbone, theta, task, learner)
        #expect(relativeError(core, exact) < 2e-3, "core \(core)\nexact \(exact)")
        // Memory does not grow with k: one iterate whatever the number of inner steps.
        let plan = try MetaPlan(learner: learner, backbone: backbone, taskLoss: .mse)
        #expect(MetaWorkspace(plan: plan).iterates.count == p)
    }

    @Test("every algorithm gives bit-identical training on 1 and 3 threads, and resumes bit-identically",
          arguments: ["maml-lslr", "meta-sgd", "anil", "reptile", "reptile-adam", "imaml"])
    func threadsAndResume(name: String) throws {
        var config = TrainerConfig(innerSteps: 2, innerLR: 0.05, metaLR: 0.003, metaBatch: 5, supportShots: 5,
                                   queryShots: 5, iterations: 6, seed: 9)
        switch name {
        case "maml-lslr": config.options = LearnerOptions(lslr: true, multiStepLoss: true, annealIterations: 6)
        case "reptile": config.algorithm = .reptile; config.options.annealIterations = 6; config.optimizer = .sgd; config.metaLR = 0.5
        case "reptile-adam": config.algorithm = .reptile; config.options.innerOptimizer = .adam; config.options.annealIterations = 6
        default: config.algorithm = MetaAlgorithm(rawValue: name)!
        }
        func run(threads: Int, stopAt: Int? = nil, from state: TrainerState? = nil) throws -> Trainer {
            let t = try Trainer(backbone: backbone, family: SinusoidTasks(), config: config, resumingFrom: state, threads: threads)
            try t.run(until: stopAt)
            return t
        }
        let one = try run(threads: 1), three = try run(threads: 3)
        #expect(one.state == three.state)
        #expect(one.parameters.count == one.plan.metaCount)
        let half = try run(threads: 2, stopAt: 3)
        #expect(try run(threads: 1, from: half.state).state == one.state)
        #expect(one.state != (try run(threads: 1, stopAt: 5)).state)   // it did move
    }
}

private func power(_ x: Double, _ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * x } }
