// MARK: - Evaluation protocol and statistics

import Testing
import MAMLCore
import MAMLTasks

/// Tasks with x = 0 and every target equal to one constant c ~ U[0, 1] (the first draw).
struct ConstantTasks: TaskFamily {
    var name: String { "constant" }
    var configJSON: String { "{}" }
    var inputShape: [Int] { [1] }
    var outputShape: [Int] { [1] }
    var lossKind: LossKind { .mse }
    func exampleCount(shots: Int) -> Int { shots }
    func sample(split: TaskSplit, supportShots: Int, queryShots: Int,
                rng: inout RandomGenerator, into task: TaskBuffer) throws(MAMLError) {
        try task.prepare(support: supportShots, query: queryShots)
        let c = rng.uniform(Float(0), 1)
        for i in 0..<(supportShots + queryShots) { task.supportX[i] = 0; task.supportY![i] = c }
    }
}

@Suite struct EvaluationTests {
    @Test func meanAndCI95UseTheSampleStandardDeviation() {
        let r = meanAndCI95([1, 2, 3, 4])
        #expect(r.mean == 2.5)
        #expect(abs(r.ci95 - 1.96 * (5.0 / 3).squareRoot() / 2) < 1e-15)
        #expect(meanAndCI95([7]).ci95 == 0)
    }

    @Test func resultsMatchTheKnownPerTaskLosses() throws {
        // f(x) = w x + b at w = b = 0 on x = 0: loss after s SGD steps is c^2 (1 - 2 alpha)^(2 s).
        let alpha: Float = 0.1
        let config = EvaluationConfig(tasks: 50, shots: [2, 3], steps: [5, 0, 1], queryShots: 4,
                                      innerLR: alpha, seed: 77)
        let evaluator = try Evaluator(backbone: TestBackbone(LinearModel(inputs: 1)), family: ConstantTasks(),
                                      config: config)
        var calls = 0
        let results = try evaluator.evaluate(parameters: [0, 0]) { done, total in
            calls += 1; #expect(done == calls && total == 50)
        }
        #expect(calls == 50)
        let cs = (0..<50).map { i -> Double in
            var rng = RandomGenerator(seed: 77, stream: .evaluation, iteration: 0, task: i)
            return Double(rng.uniform(Float(0), 1))
        }
        #expect(results.map(\.shots) == [2, 2, 2, 3, 3, 3] && results.map(\.steps) == [5, 0, 1, 5, 0, 1])
        for r in results {
            let factor = 1 - 2 * Double(alpha)
            let expected = meanAndCI95(cs.map { $0 * $0 * pow(factor, 2 * r.steps) })
            #expect(abs(r.loss - expected.mean) < 1e-6 * expected.mean)
            #expect(abs(r.lossCI95 - expected.ci95) < 1e-5 * expected.ci95)
            #expect(r.tasks == 50 && r.accuracy == nil && r.accuracyCI95 == nil)
        }
    }

    @Test func aTaskWhoseFineTuningDivergesCountsAsInfiniteLossNotAnError() throws {
        // alpha = 2: each step multiplies the error by -3, so after 50 steps the float loss
        // (c^2 9^50 ~ 5e47 c^2) overflows for every task, while steps 0 and 1 stay finite.
        let config = EvaluationConfig(tasks: 20, shots: [2], steps: [0, 1, 50], queryShots: 3, innerLR: 2, seed: 5)
        let evaluator = try Evaluator(backbone: TestBackbone(LinearModel(inputs: 1)), family: ConstantTasks(),
                                      config: config)
        let results = try evaluator.evaluate(parameters: [0, 0])
        #expect(results.map(\.diverged) == [0, 0, 20])
        #expect(results[0].loss.isFinite && results[1].loss.isFinite)
        #expect(abs(results[1].loss - 9 * results[0].loss) < 1e-5 * results[1].loss)
        #expect(results[2].loss == .infinity && results[2].lossCI95 == .infinity)
        #expect(meanAndCI95([1, .infinity]).mean == .infinity)
    }

    @Test func theSameSeedGivesTheSameTasksForEveryEvaluation() throws {
        let backbone = TestBackbone(TanhModel(hidden: 4))
        let config = EvaluationConfig(tasks: 20, shots: [5], steps: [0, 2], innerLR: 0.01, seed: 3)
        let params = randomParameters(backbone.parameterCount, seed: 1)
        let a = try Evaluator(backbone: backbone, family: SinusoidTasks(), config: config).evaluate(parameters: params)
        let b = try Evaluator(backbone: backbone, family: SinusoidTasks(), config: config).evaluate(parameters: params)
        #expect(a == b)
        var other = config; other.seed = 4
        let c = try Evaluator(backbone: backbone, family: SinusoidTasks(), config: other).evaluate(parameters: params)
        #expect(a[0].loss != c[0].loss)
        // Adaptation at a sensible rate lowers the loss.
        #expect(a[1].loss < a[0].loss)
    }

    @Test func badConfigurationsAreRefusedByName() {
        let backbone = TestBackbone(LinearModel(inputs: 1))
        for (config, key) in [(EvaluationConfig(tasks: 1), "tasks"), (EvaluationConfig(shots: []), "shots"),
                              (EvaluationConfig(steps: [-1]), "steps"), (EvaluationConfig(queryShots: 0), "queryShots"),
                              (EvaluationConfig(innerLR: .nan), "innerLR")] {
            #expect {
                try Evaluator(backbone: backbone, family: SinusoidTasks(), config: config)
            } throws: { error in
                guard case MAMLError.invalidConfig(let message) = error else { return false }
                return message.contains(key)
            }
        }
        #expect(throws: MAMLError.self) {
            try Evaluator(backbone: backbone, family: SinusoidTasks(), config: EvaluationConfig())
                .evaluate(parameters: [1, 2, 3])
        }
    }
}

/// x^n for the expected losses.
func pow(_ x: Double, _ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * x } }
