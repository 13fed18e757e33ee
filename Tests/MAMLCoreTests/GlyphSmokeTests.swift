// MARK: - Trainer and Evaluator on glyphs with a pure-Swift linear softmax classifier

import Testing
import MAMLCore
import MAMLTasks

/// logits = W x + b on flattened pixels; mean softmax cross-entropy, gradient exact (accumulated in Double).
/// Parameters: W (classes x inputs, row-major), then b (classes).
final class LinearSoftmaxBackbone: Backbone {
    let inputs: Int, classes: Int
    let inputShape: [Int]
    /// Initial parameters are uniform in [-initScale, initScale].
    let initScale: Float
    init(inputShape: [Int], classes: Int, initScale: Float = 0.01) {
        self.inputShape = inputShape; self.inputs = inputShape.reduce(1, *); self.classes = classes
        self.initScale = initScale
    }
    var parameterCount: Int { classes * (inputs + 1) }
    var outputShape: [Int] { [classes] }
    var lossKind: LossKind { .softmaxCrossEntropy }
    var layout: [LayoutTensor]? { nil }
    var providesHVP: Bool { false }

    func initParameters(seed: UInt64, into params: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        var rng = RandomGenerator(seed: seed)
        for i in params.indices { params[i] = rng.uniform(-initScale, initScale) }
    }

    /// Logits of example e in Double.
    func logits(_ p: UnsafeBufferPointer<Float>, _ x: UnsafePointer<Float>, into z: inout [Double]) {
        for c in 0..<classes {
            var s = Double(p[classes * inputs + c])
            let w = p.baseAddress! + c * inputs
            for i in 0..<inputs { s += Double(w[i]) * Double(x[i]) }
            z[c] = s
        }
    }

    func forward(params: UnsafeBufferPointer<Float>, batch: Batch, output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        var z = [Double](repeating: 0, count: classes)
        for e in 0..<batch.n {
            logits(params, batch.x + e * inputs, into: &z)
            for c in 0..<classes { output[e * classes + c] = Float(z[c]) }
        }
    }

    func lossGrad(params: UnsafeBufferPointer<Float>, batch: Batch,
                         grad gradient: UnsafeMutableBufferPointer<Float>?) throws(BackboneError) -> Float {
        var z = [Double](repeating: 0, count: classes)
        var g = [Double](repeating: 0, count: gradient == nil ? 0 : parameterCount)
        var loss = 0.0
        for e in 0..<batch.n {
            let x = batch.x + e * inputs, label = Int(batch.yClass![e])
            logits(params, x, into: &z)
            let m = z.max()!
            var sum = 0.0
            for c in 0..<classes { z[c] = expD(z[c] - m); sum += z[c] }
            loss -= logD(z[label] / sum)
            if gradient != nil {
                for c in 0..<classes {
                    let d = (z[c] / sum - (c == label ? 1 : 0)) / Double(batch.n)
                    for i in 0..<inputs { g[c * inputs + i] += d * Double(x[i]) }
                    g[classes * inputs + c] += d
                }
            }
        }
        if let gradient { for k in 0..<parameterCount { gradient[k] = Float(g[k]) } }
        return Float(loss / Double(batch.n))
    }

    func hvp(params: UnsafeBufferPointer<Float>, batch: Batch, v vector: UnsafeBufferPointer<Float>,
                              output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        throw BackboneError(.unsupported, "no exact HVP")
    }
}

/// Natural log for positive x (test-only, no Foundation): log(m * 2^e) = log1pish(m - 1) + e log 2.
func logD(_ x: Double) -> Double {
    let e = x.exponent, m = x.significand            // m in [1, 2)
    return log1pish(m - 1) + Double(e) * 0.693_147_180_559_945_3
}

@Suite struct GlyphSmokeTests {
    @Test func linearSoftmaxGradientMatchesFiniteDifferences() throws {
        let family = try GlyphTasks(config: GlyphConfig(ways: 3, classes: 30, size: 8))
        let backbone = LinearSoftmaxBackbone(inputShape: family.inputShape, classes: 3)
        let task = TaskBuffer(family: family, supportShots: 2, queryShots: 1)
        var rng = RandomGenerator(seed: 4)
        try family.sample(split: .train, supportShots: 2, queryShots: 1, rng: &rng, into: task)
        var p = [Float](repeating: 0, count: backbone.parameterCount), g = p
        var init_ = RandomGenerator(seed: 1)
        for i in p.indices { p[i] = init_.uniform(-0.3, 0.3) }
        _ = try p.withUnsafeBufferPointer { (pp) throws(BackboneError) in
            try g.withUnsafeMutableBufferPointer { (gg) throws(BackboneError) in
                try backbone.lossGrad(params: pp, batch: task.support, grad: gg)
            }
        }
        // Central differences in Float are noisy; a step of 1e-2 on a smooth loss is accurate to ~1e-4.
        for k in stride(from: 0, to: p.count, by: 7) {
            var plus = p, minus = p
            plus[k] += 1e-2; minus[k] -= 1e-2
            let lp = try plus.withUnsafeBufferPointer { (b) throws(BackboneError) in try backbone.lossGrad(params: b, batch: task.support, grad: nil) }
            let lm = try minus.withUnsafeBufferPointer { (b) throws(BackboneError) in try backbone.lossGrad(params: b, batch: task.support, grad: nil) }
            let fd = (Double(lp) - Double(lm)) / 2e-2
            #expect(abs(fd - Double(g[k])) < 2e-3, "parameter \(k): analytic \(g[k]), finite difference \(fd)")
        }
    }

    @Test func firstOrderMAMLOnGlyphsBeatsChanceByFar() throws {
        // 5-way, 28x28, 1623 classes; half the default variation (the family's first version), which a
        // linear model can learn in 200 iterations: this tests the pipeline, not the family's difficulty.
        let family = try GlyphTasks(config: GlyphConfig(distortion: 0.5))
        // A deliberately bad start: random class rows bias the logits more than one inner step corrects.
        let backbone = LinearSoftmaxBackbone(inputShape: family.inputShape, classes: 5, initScale: 0.1)
        let config = TrainerConfig(algorithm: .fomaml, innerSteps: 1, innerLR: 0.1, metaLR: 0.1, metaBatch: 4,
                                   supportShots: 1, queryShots: 5, iterations: 200, seed: 11, optimizer: .sgd)
        let trainer = try Trainer(backbone: backbone, family: family, config: config)
        let evaluator = try Evaluator(backbone: backbone, family: family, config: EvaluationConfig(
            tasks: 100, shots: [1], steps: [0, 1, 5], queryShots: 5, innerLR: 0.1, seed: 3, split: .test))
        let before = try evaluator.evaluate(parameters: trainer.parameters)
        try trainer.run()
        let after = try evaluator.evaluate(parameters: trainer.parameters)
        let acc = after.map { $0.accuracy! }
        print("glyphs 5-way 1-shot, linear softmax + FOMAML: accuracy before \(before.map { $0.accuracy! }), after \(acc)")
        // Measured (debug build): before [0.20, 0.41, 0.72], after [0.21, 0.51, 0.76] at 0 / 1 / 5 steps.
        #expect(abs(after[0].accuracy! - 0.2) < 0.1, "0 steps: no information about the task's labels")
        #expect(acc[1] > 0.4 && acc[2] > 0.6, "after 1 / 5 steps: \(acc[1]) / \(acc[2]) (chance 0.2)")
        #expect(acc[1] > before[1].accuracy! + 0.05, "meta-training improved 1-step accuracy only from \(before[1].accuracy!)")
    }
}
