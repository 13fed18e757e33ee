// MARK: - Trainer determinism, resume and errors

import Testing
import Foundation   // temporary directory
@testable import MAMLCore
import MAMLTasks
import TestSupport

/// A backbone that turns the `nanAt`-th loss/gradient call into NaN.
final class FaultyBackbone: Backbone {
    let inner = TestBackbone(TanhModel(hidden: 3))
    let nanAt: Int
    var calls = 0
    init(nanAt: Int) { self.nanAt = nanAt }
    var parameterCount: Int { inner.parameterCount }
    var inputShape: [Int] { inner.inputShape }
    var outputShape: [Int] { inner.outputShape }
    var lossKind: LossKind { .mse }
    var layout: [LayoutTensor]? { nil }
    var providesHVP: Bool { true }
    func initParameters(seed: UInt64, into params: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        try inner.initParameters(seed: seed, into: params)
    }
    func forward(params: UnsafeBufferPointer<Float>, batch: Batch, output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        try inner.forward(params: params, batch: batch, output: output)
    }
    func lossGrad(params: UnsafeBufferPointer<Float>, batch: Batch,
                         grad gradient: UnsafeMutableBufferPointer<Float>?) throws(BackboneError) -> Float {
        calls += 1
        let loss = try inner.lossGrad(params: params, batch: batch, grad: gradient)
        return calls == nanAt ? .nan : loss
    }
    func hvp(params: UnsafeBufferPointer<Float>, batch: Batch, v vector: UnsafeBufferPointer<Float>,
                              output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        try inner.hvp(params: params, batch: batch, v: vector, output: output)
    }
}

func temporaryDirectory() throws -> String { try Scratch.directory("core") }

let smallConfig = TrainerConfig(algorithm: .maml, innerSteps: 2, innerLR: 0.02, metaLR: 0.005, metaBatch: 4,
                                supportShots: 5, queryShots: 6, iterations: 8, seed: 123, optimizer: .adam)

func makeTrainer(_ config: TrainerConfig = smallConfig, state: TrainerState? = nil) throws -> Trainer {
    try Trainer(backbone: TestBackbone(TanhModel(hidden: 6)), family: SinusoidTasks(), config: config,
                resumingFrom: state)
}

@Suite struct TrainerTests {
    @Test func theSameSeedGivesTheSameParametersAndAnotherSeedDoesNot() throws {
        let a = try makeTrainer(), b = try makeTrainer()
        var other = smallConfig; other.seed = 124
        let c = try makeTrainer(other)
        try a.run(); try b.run(); try c.run()
        #expect(a.iteration == 8 && a.isFinished)
        #expect(a.parameters == b.parameters && a.state == b.state)
        #expect(a.parameters != c.parameters)
        // The tasks differ too, not only the initialisation.
        var sameInit = smallConfig; sameInit.seed = 124
        let d = try makeTrainer(sameInit, state: TrainerState(iteration: 0, parameters: try makeTrainer().parameters,
                                                               optimizer: .fresh(.adam, parameterCount: 19)))
        try d.run()
        #expect(d.parameters != a.parameters)
    }

    @Test(arguments: [(MetaAlgorithm.maml, OptimizerKind.adam), (.fomaml, .sgd), (.pretrain, .adam)])
    func resumingFromACheckpointIsBitIdentical(algorithm: MetaAlgorithm, optimizer: OptimizerKind) throws {
        var config = smallConfig
        config.algorithm = algorithm; config.optimizer = optimizer
        let whole = try makeTrainer(config)
        var losses: [Double] = []
        try whole.run { losses.append($0.queryLoss); return true }

        let first = try makeTrainer(config)
        try first.run(until: 3)
        #expect(first.iteration == 3)
        let path = try temporaryDirectory() + "/resume.mamlckpt"
        try Checkpoint(trainer: first, model: ModelIdentity(id: "test.tanh", version: "1.0.0")).write(to: path)

        let saved = try Checkpoint.read(from: path)
        let resumed = try makeTrainer(saved.header.training, state: try saved.resumeState(family: SinusoidTasks()))
        var resumedLosses: [Double] = []
        try resumed.run { resumedLosses.append($0.queryLoss); return $0.iteration < 100 }
        #expect(resumed.iteration == 8)
        #expect(resumed.parameters == whole.parameters)
        #expect(resumed.optimizer.state == whole.optimizer.state)
        #expect(resumedLosses == Array(losses.suffix(5)))
    }

    @Test func stepReportsTheMeanQueryLossAfterAdaptation() throws {
        let trainer = try makeTrainer()
        let before = trainer.parameters
        let result = try trainer.step()
        #expect(result.iteration == 1 && result.queryLoss.isFinite && result.queryLoss > 0)
        // Recompute: mean over the meta-batch of L_Q(theta_k) for the tasks of iteration 0.
        let backbone = TestBackbone(TanhModel(hidden: 6))
        let task = TaskBuffer(family: SinusoidTasks(), supportShots: 5, queryShots: 6)
        var sum = 0.0
        for t in 0..<4 {
            var rng = RandomGenerator(seed: 123, stream: .metaTrain, iteration: 0, task: t)
            try SinusoidTasks().sample(split: .train, supportShots: 5, queryShots: 6, rng: &rng, into: task)
            sum += Double(try coreMetaGradient(backbone, before, task, .maml, steps: 2, lr: 0.02).1)
        }
        #expect(result.queryLoss == sum / 4)
    }

    @Test func aNonFiniteLossNamesTheIterationAndTask() throws {
        // maml, 1 inner step, exact HVP: two loss/gradient calls per task, so call 7 is task 3's support.
        var config = smallConfig; config.innerSteps = 1
        let trainer = try Trainer(backbone: FaultyBackbone(nanAt: 7), family: SinusoidTasks(), config: config)
        #expect {
            try trainer.step()
        } throws: { error in
            guard case MAMLError.nonFinite(let message) = error else { return false }
            return message.contains("meta-iteration 0, task 3") && message.contains("support")
        }
        #expect(trainer.iteration == 0)
    }

    @Test func badConfigurationsAndMismatchesAreRefused() throws {
        var bad = smallConfig; bad.metaBatch = 0
        #expect { try makeTrainer(bad) } throws: { error in
            (error as? MAMLError) == .invalidConfig("metaBatch = 0, expected 1...1000000")
        }
        bad = smallConfig; bad.innerLR = -1
        #expect(throws: MAMLError.self) { try makeTrainer(bad) }
        #expect { try Trainer(backbone: TestBackbone(LinearModel(inputs: 2)), family: SinusoidTasks(), config: smallConfig) }
            throws: { error in
                guard case MAMLError.incompatible(let m) = error else { return false }
                return m.contains("[2]") && m.contains("sinusoid")
            }
        let wrongSize = TrainerState(iteration: 0, parameters: [1, 2], optimizer: .fresh(.adam, parameterCount: 2))
        #expect(throws: MAMLError.self) { try makeTrainer(state: wrongSize) }
    }

    @Test func configDecodesWithDefaultsForMissingKeys() throws {
        let decoded = try TrainerConfig(json: JSONValue.parse(#"{"innerSteps": 5, "seed": 18446744073709551615}"#))
        var expected = TrainerConfig(); expected.innerSteps = 5; expected.seed = .max
        #expect(decoded == expected)
        // Null is a missing key too (as Codable's decodeIfPresent had it); unknown keys are ignored.
        #expect(try TrainerConfig(json: JSONValue.parse(#"{"innerLR": null, "metaBatch": null, "extra": [1]}"#)) == TrainerConfig())
        let roundTrip = try TrainerConfig(json: JSONValue.parse(smallConfig.json.serialized()))
        #expect(roundTrip == smallConfig)
        #expect(throws: JSONFieldError("innerSteps is \"5\", expected an integer")) {
            try TrainerConfig(json: JSONValue.parse(#"{"innerSteps": "5"}"#))
        }
        #expect(throws: JSONFieldError("training.optimizer is \"nesterov\", expected \"adam\" or \"sgd\"")) {
            try TrainerConfig(json: JSONValue.parse(#"{"optimizer": "nesterov"}"#), name: "training")
        }
    }
}
