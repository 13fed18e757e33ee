// MARK: - Meta-optimisers against hand-computed steps

import Testing
import Foundation   // pow
import MAMLCore

func apply(_ o: inout MetaOptimizer, _ g: [Float], _ p: inout [Float]) {
    g.withUnsafeBufferPointer { gb in p.withUnsafeMutableBufferPointer { o.apply(gradient: gb, to: $0) } }
}

@Suite struct OptimizerTests {
    @Test func sgdStepsAgainstTheGradient() {
        var o = MetaOptimizer(state: .fresh(.sgd, parameterCount: 2), learningRate: 0.1)
        var p: [Float] = [1, -2]
        apply(&o, [0.5, 0.25], &p)
        #expect(p == [Float(1) - Float(0.1) * 0.5, Float(-2) - Float(0.1) * 0.25])
        #expect(o.state.step == 1 && o.state.m.isEmpty)
    }

    @Test func adamMatchesTheTextbookUpdateForTwoSteps() {
        // Reference in Double: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
        // p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
        let lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8
        let grads: [[Double]] = [[0.5, -2, 1e-3, 0], [0.1, -1, 2e-3, 4]]
        var pRef: [Double] = [1, -1, 0.5, 2], m = [Double](repeating: 0, count: 4), v = m
        var o = MetaOptimizer(state: .fresh(.adam, parameterCount: 4), learningRate: lr)
        var p = pRef.map(Float.init)
        for (t, g) in grads.enumerated() {
            for i in 0..<4 {
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                let mHat = m[i] / (1 - pow(b1, Double(t + 1))), vHat = v[i] / (1 - pow(b2, Double(t + 1)))
                pRef[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
            apply(&o, g.map(Float.init), &p)
            for i in 0..<4 { #expect(abs(Double(p[i]) - pRef[i]) < 1e-6, "step \(t + 1), parameter \(i)") }
        }
        #expect(o.state.step == 2)
        #expect(abs(o.state.m[1] - Float(0.9 * 0.1 * -2 + 0.1 * -1)) < 1e-7)
    }

    @Test func adamFirstStepIsLearningRateTimesSign() {
        var o = MetaOptimizer(state: .fresh(.adam, parameterCount: 3), learningRate: 0.001)
        var p: [Float] = [0, 0, 0]
        apply(&o, [3, -0.02, 0], &p)
        #expect(abs(p[0] + 0.001) < 1e-8 && abs(p[1] - 0.001) < 1e-8 && p[2] == 0)
    }

    @Test(arguments: [OptimizerKind.adam, .sgd])
    func exportedStateResumesBitExactly(kind: OptimizerKind) {
        var a = MetaOptimizer(state: .fresh(kind, parameterCount: 3), learningRate: 0.003)
        var pa: [Float] = [0.3, -0.2, 0.1]
        var rng = RandomGenerator(seed: 1)
        let grads = (0..<6).map { _ in (0..<3).map { _ in rng.uniform(Float(-1), 1) } }
        for g in grads.prefix(3) { apply(&a, g, &pa) }
        var b = MetaOptimizer(state: a.state, learningRate: 0.003)
        var pb = pa
        for g in grads.suffix(3) { apply(&a, g, &pa); apply(&b, g, &pb) }
        #expect(pa == pb && a.state == b.state && a.state.step == 6)
    }
}
