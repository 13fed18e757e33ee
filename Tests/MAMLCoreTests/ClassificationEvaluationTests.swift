// MARK: - Evaluation of a classification family reports accuracy

import Testing
import MAMLCore

/// 2-way tasks on a line: class 0 at x = -1, class 1 at x = +1; the first m query examples
/// (m = the task's first draw, 0...3) carry the wrong label, so a perfect classifier scores 1 - m / n.
struct TwoWayTasks: TaskFamily {
    var name: String { "two-way" }
    var configJSON: String { "{}" }
    var inputShape: [Int] { [1] }
    var outputShape: [Int] { [2] }
    var lossKind: LossKind { .softmaxCrossEntropy }
    func exampleCount(shots: Int) -> Int { 2 * shots }
    func sample(split: TaskSplit, supportShots: Int, queryShots: Int,
                rng: inout RandomGenerator, into task: TaskBuffer) throws(MAMLError) {
        try task.prepare(support: 2 * supportShots, query: 2 * queryShots)
        let mislabeled = rng.int(below: 4)
        func fill(_ x: UnsafeMutablePointer<Float>, _ labels: UnsafeMutablePointer<Int32>, _ n: Int, flip: Int) {
            for i in 0..<n {
                let c = Int32(i % 2)
                x[i] = c == 0 ? -1 : 1
                labels[i] = i < flip ? 1 - c : c
            }
        }
        fill(task.supportX, task.supportLabels!, 2 * supportShots, flip: 0)
        fill(task.queryX, task.queryLabels!, 2 * queryShots, flip: mislabeled)
    }
}

/// Softmax regression with 2 classes: logits_j = w_j x + b_j, parameters [w0, w1, b0, b1].
final class SoftmaxBackbone: Backbone {
    var parameterCount: Int { 4 }
    var inputShape: [Int] { [1] }
    var outputShape: [Int] { [2] }
    var lossKind: LossKind { .softmaxCrossEntropy }
    var layout: [LayoutTensor]? { nil }
    var providesHVP: Bool { false }
    func makeReplica() throws(BackboneError) -> any Backbone { SoftmaxBackbone() }
    func initParameters(seed: UInt64, into params: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        for i in params.indices { params[i] = 0 }
    }
    func forward(params: UnsafeBufferPointer<Float>, batch: Batch, output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        for i in 0..<batch.n {
            for j in 0..<2 { output[2 * i + j] = params[j] * batch.x[i] + params[2 + j] }
        }
    }
    func lossGrad(params: UnsafeBufferPointer<Float>, batch: Batch,
                         grad gradient: UnsafeMutableBufferPointer<Float>?) throws(BackboneError) -> Float {
        var loss = 0.0
        var g = [Double](repeating: 0, count: 4)
        for i in 0..<batch.n {
            let x = Double(batch.x[i]), label = Int(batch.yClass![i])
            let z = (0..<2).map { Double(params[$0]) * x + Double(params[2 + $0]) }
            let m = max(z[0], z[1])
            let e = z.map { expD($0 - m) }
            let p = e.map { $0 / (e[0] + e[1]) }
            loss -= (z[label] - m) - log1pish(e[0] + e[1] - 1)
            for j in 0..<2 {
                let d = (p[j] - (j == label ? 1 : 0)) / Double(batch.n)
                g[j] += d * x; g[2 + j] += d
            }
        }
        if let gradient { for k in 0..<4 { gradient[k] = Float(g[k]) } }
        return Float(loss / Double(batch.n))
    }
    func hvp(params: UnsafeBufferPointer<Float>, batch: Batch, v vector: UnsafeBufferPointer<Float>,
                              output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        throw BackboneError(.unsupported, "no exact HVP")
    }
}

/// log(1 + y) for y >= 0 via the Taylor series of atanh (test-only, no Foundation).
func log1pish(_ y: Double) -> Double {
    let s = y / (2 + y)          // log(1 + y) = 2 atanh(y / (2 + y))
    var term = s, sum = 0.0, k = 1.0
    while abs(term / k) > 1e-17 { sum += term / k; term *= s * s; k += 2 }
    return 2 * sum
}

@Suite struct ClassificationEvaluationTests {
    @Test func accuracyIsReportedWithItsConfidenceInterval() throws {
        let config = EvaluationConfig(tasks: 30, shots: [1, 2], steps: [0, 3], queryShots: 4, innerLR: 0.5, seed: 5)
        let evaluator = try Evaluator(backbone: SoftmaxBackbone(), family: TwoWayTasks(), config: config)
        // w = (-3, 3), b = 0 classifies both classes correctly with margin.
        let results = try evaluator.evaluate(parameters: [-3, 3, 0, 0])
        let mislabeled = (0..<30).map { i -> Double in
            var rng = RandomGenerator(seed: 5, stream: .evaluation, iteration: 0, task: i)
            return Double(rng.int(below: 4))
        }
        let expected = meanAndCI95(mislabeled.map { 1 - $0 / 8 })
        // Before fine-tuning every example has margin 6: loss log(1 + e^-6) if right, log(1 + e^6) if wrong.
        let right = log1pish(expD(-6)), wrong = 6 + log1pish(expD(-6))
        let expectedLoss = meanAndCI95(mislabeled.map { ($0 * wrong + (8 - $0) * right) / 8 })
        #expect(results.count == 4)
        for r in results {
            #expect(abs(r.accuracy! - expected.mean) < 1e-12)
            #expect(abs(r.accuracyCI95! - expected.ci95) < 1e-12)
            #expect(r.loss > 0 && r.lossCI95 > 0)
        }
        #expect(results.map(\.steps) == [0, 3, 0, 3])
        #expect(abs(results[0].loss - expectedLoss.mean) < 1e-6 && abs(results[0].lossCI95 - expectedLoss.ci95) < 1e-6)
        // Fine-tuning on the support set moves the parameters, so the loss after 3 steps differs.
        #expect(results[1].loss != results[0].loss)
    }
}
