import MAMLCore
import MAMLTasks
import Testing
@testable import MAMLHost

// MARK: - The bundled MLP plugin, loaded from the build folder through the real loader
//
// The kit's tests check the dense network's math in Double; these check the
// whole path a user runs: dlopen of libmaml_mlp.so, the C thunks, the adapter,
// and MAMLCore's second-order meta-gradient on top of them, each against
// central finite differences of what the plugin itself computes.

/// The MLP from the build folder (next to the test bundle), with `config`.
func bundledMLP(_ config: String) throws -> PluginBackbone {
    let catalog = PluginCatalog.discover()
    return try catalog.instantiate("org.mamlzoo.mlp", config: config)
}

/// A deterministic pseudo-random vector in [-scale, scale].
func randomVector(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = RandomGenerator(seed: seed, stream: .auxiliary, iteration: 0, task: 0)
    return (0..<n).map { _ in rng.uniform(-scale, scale) }
}

/// Loss (and optionally gradient) at `params` on a fixed batch.
func loss(_ b: PluginBackbone, _ params: [Float], _ x: [Float], _ y: [Float], _ labels: [Int32], n: Int,
          gradient: inout [Float]) throws -> Float {
    try x.withUnsafeBufferPointer { xb in
        try y.withUnsafeBufferPointer { yb in
            try labels.withUnsafeBufferPointer { lb in
                let batch = Batch(n: n, x: xb.baseAddress!, yFloat: yb.baseAddress, yClass: lb.baseAddress)
                return try params.withUnsafeBufferPointer { p in
                    try gradient.withUnsafeMutableBufferPointer { try b.lossGrad(params: p, batch: batch, grad: $0) }
                }
            }
        }
    }
}

func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
func norm(_ a: [Float]) -> Double { dot(a, a).squareRoot() }
func axpy(_ a: [Float], _ s: Float, _ d: [Float]) -> [Float] { zip(a, d).map { $0 + s * $1 } }

@Suite("Bundled MLP plugin")
struct BundledMLPTests {
    static let configs = [
        #"{"hidden": [6, 5], "activation": "tanh"}"#,
        #"{"hidden": [7], "activation": "relu"}"#,
        #"{"input": [3], "hidden": [6], "output": 4, "activation": "tanh", "loss": "softmax-ce"}"#,
        #"{"input": [2, 2], "hidden": [5, 5], "output": 3, "activation": "relu", "loss": "softmax-ce"}"#,
    ]

    @Test("gradient and HVP match central finite differences of the plugin's own loss", arguments: configs)
    func derivatives(config: String) throws {
        let b = try bundledMLP(config)
        #expect(b.providesHVP)
        let p = b.parameterCount, n = 6, d = b.inputElements, k = b.outputElements
        var params = [Float](repeating: 0, count: p)
        try params.withUnsafeMutableBufferPointer { try b.initParameters(seed: 3, into: $0) }
        let x = randomVector(n * d, seed: 11, scale: 2)
        let y = b.lossKind == .mse ? randomVector(n * k, seed: 12, scale: 2) : []
        let labels: [Int32] = b.lossKind == .mse ? [] : (0..<n).map { Int32($0 % k) }
        var g = [Float](repeating: 0, count: p), scratch = g
        _ = try loss(b, params, x, y, labels, n: n, gradient: &g)

        for trial in 0..<3 {
            let v = randomVector(p, seed: 100 + UInt64(trial))
            let h: Float = 1e-3
            // d/dh L(theta + h v) = g . v
            let lp = try loss(b, axpy(params, h, v), x, y, labels, n: n, gradient: &scratch)
            let lm = try loss(b, axpy(params, -h, v), x, y, labels, n: n, gradient: &scratch)
            let fd = (Double(lp) - Double(lm)) / (2 * Double(h))
            #expect(abs(fd - dot(g, v)) <= 2e-2 * max(abs(fd), 1e-2), "directional derivative \(dot(g, v)) vs FD \(fd)")

            // (g(theta + h v) - g(theta - h v)) / 2h = H v
            var gp = scratch, gm = scratch, hv = scratch
            _ = try loss(b, axpy(params, h, v), x, y, labels, n: n, gradient: &gp)
            _ = try loss(b, axpy(params, -h, v), x, y, labels, n: n, gradient: &gm)
            let fdHv = zip(gp, gm).map { ($0 - $1) / (2 * h) }
            try x.withUnsafeBufferPointer { xb in
                try y.withUnsafeBufferPointer { yb in
                    try labels.withUnsafeBufferPointer { lb in
                        let batch = Batch(n: n, x: xb.baseAddress!, yFloat: yb.baseAddress, yClass: lb.baseAddress)
                        try params.withUnsafeBufferPointer { pb in
                            try v.withUnsafeBufferPointer { vb in
                                try hv.withUnsafeMutableBufferPointer {
                                    try b.hvp(params: pb, batch: batch, v: vb, output: $0)
                                }
                            }
                        }
                    }
                }
            }
            let err = norm(zip(hv, fdHv).map { $0 - $1 })
            #expect(err <= 2e-2 * max(norm(fdHv), 1e-2), "HVP error \(err) vs |Hv| \(norm(fdHv))")
        }
    }

    @Test("second-order MAML meta-gradient through the plugin equals a finite difference of the MAML objective")
    func metaGradient() throws {
        let b = try bundledMLP(#"{"hidden": [8, 8], "activation": "tanh"}"#)
        let task = try sinusoidTask(seed: 5)
        let p = b.parameterCount, steps = 2, alpha: Float = 0.05
        let theta = try initialParameters(b)

        // The objective F(theta) = L_Q(theta_k), theta_{j+1} = theta_j - alpha grad L_S(theta_j).
        func objective(_ start: [Float]) throws -> Double {
            var t = start, g = [Float](repeating: 0, count: p)
            for _ in 0..<steps {
                _ = try t.withUnsafeBufferPointer { tb in
                    try g.withUnsafeMutableBufferPointer { try b.lossGrad(params: tb, batch: task.support, grad: $0) }
                }
                t = axpy(t, -alpha, g)
            }
            return Double(try t.withUnsafeBufferPointer { try b.lossGrad(params: $0, batch: task.query, grad: nil) })
        }

        for algorithm in [MetaAlgorithm.maml, .fomaml] {
            let learner = MetaLearner(algorithm: algorithm, innerSteps: steps, innerLR: alpha)
            var meta = [Float](repeating: 0, count: p)
            let workspace = MetaWorkspace(parameterCount: p, innerSteps: steps)
            _ = try theta.withUnsafeBufferPointer { t in
                try meta.withUnsafeMutableBufferPointer {
                    try learner.taskMetaGradient(backbone: b, parameters: t, task: task, workspace: workspace, output: $0)
                }
            }
            var worst = 0.0
            for trial in 0..<3 {
                let v = randomVector(p, seed: 200 + UInt64(trial))
                let h: Float = 2e-3
                let fd = (try objective(axpy(theta, h, v)) - objective(axpy(theta, -h, v))) / (2 * Double(h))
                worst = max(worst, abs(fd - dot(meta, v)) / max(abs(fd), 1e-2))
            }
            if algorithm == .maml {
                #expect(worst < 1e-2, "second-order meta-gradient off by \(worst) relative")
            } else {
                #expect(worst > 1e-2, "first-order MAML should differ from the exact meta-gradient (got \(worst))")
            }
        }
    }

    @Test("iMAML's implicit gradient through the plugin equals a finite difference of L_Q(phi*(theta))")
    func implicitGradient() throws {
        let b = try bundledMLP(#"{"hidden": [8, 8], "activation": "tanh"}"#)
        let task = try sinusoidTask(seed: 6)
        let p = b.parameterCount, steps = 400, alpha: Float = 0.02, lambda = 2.0
        let theta = try initialParameters(b)
        /// L_Q at phi*(start), the proximal problem solved by the same gradient steps.
        func objective(_ start: [Float]) throws -> Double {
            var phi = start, g = [Float](repeating: 0, count: p)
            for _ in 0..<steps {
                _ = try phi.withUnsafeBufferPointer { t in
                    try g.withUnsafeMutableBufferPointer { try b.lossGrad(params: t, batch: task.support, grad: $0) }
                }
                for i in 0..<p { phi[i] -= alpha * (g[i] + Float(lambda) * (phi[i] - start[i])) }
            }
            return Double(try phi.withUnsafeBufferPointer { try b.lossGrad(params: $0, batch: task.query, grad: nil) })
        }
        let learner = MetaLearner(algorithm: .imaml, innerSteps: steps, innerLR: alpha,
                                  options: LearnerOptions(imamlLambda: lambda, cgSteps: 40))
        let plan = try MetaPlan(learner: learner, backbone: b, taskLoss: .mse)
        var meta = [Float](repeating: 0, count: p)
        _ = try theta.withUnsafeBufferPointer { t in
            try meta.withUnsafeMutableBufferPointer {
                try learner.taskMetaGradient(backbone: b, parameters: t, task: task, workspace: MetaWorkspace(plan: plan), output: $0)
            }
        }
        var worst = 0.0
        for trial in 0..<3 {
            let v = randomVector(p, seed: 300 + UInt64(trial))
            let h: Float = 2e-3
            let fd = (try objective(axpy(theta, h, v)) - objective(axpy(theta, -h, v))) / (2 * Double(h))
            worst = max(worst, abs(fd - dot(meta, v)) / max(abs(fd), 1e-2))
        }
        #expect(worst < 2e-2, "implicit gradient off by \(worst) relative")
    }

    /// Task 0 of meta-iteration 0 of a sinusoid run with `seed`, 5 support and 5 query points.
    private func sinusoidTask(seed: UInt64) throws -> TaskBuffer {
        let family = SinusoidTasks()
        let task = TaskBuffer(family: family, supportShots: 5, queryShots: 5)
        var rng = RandomGenerator(seed: seed, stream: .metaTrain, iteration: 0, task: 0)
        try family.sample(split: .train, supportShots: 5, queryShots: 5, rng: &rng, into: task)
        return task
    }

    private func initialParameters(_ b: any Backbone) throws -> [Float] {
        var theta = [Float](repeating: 0, count: b.parameterCount)
        try theta.withUnsafeMutableBufferPointer { try b.initParameters(seed: 1, into: $0) }
        return theta
    }
}
