// MARK: - Counts from configs and checkpoints are bounded before anything is allocated

import Testing
@testable import MAMLCore
import MAMLTasks

@Suite struct BufferLimitTests {
    @Test func countsBeyondTheLimitAreRefusedNamingTheKey() throws {
        for (key, set) in [("metaBatch", { (c: inout TrainerConfig) in c.metaBatch = 4_611_686_018_427_387_904 }),
                           ("supportShots", { (c: inout TrainerConfig) in c.supportShots = 1_000_001 }),
                           ("queryShots", { (c: inout TrainerConfig) in c.queryShots = Int.max })] {
            var config = smallConfig
            set(&config)
            #expect { try makeTrainer(config) } throws: { error in
                guard case MAMLError.invalidConfig(let m) = error else { return false }
                return m.hasPrefix("\(key) = ") && m.hasSuffix("expected 1...1000000")
            }
        }
    }

    @Test func aMetaBatchWhoseSlotsWouldNotFitIsRefusedBeforeAllocating() throws {
        var config = smallConfig
        config.metaBatch = 1_000_000
        let backbone = TestBackbone(TanhModel(hidden: 1000))     // 3001 parameters: 3e9 floats of slots
        #expect {
            try Trainer(backbone: backbone, family: SinusoidTasks(), config: config)
        } throws: { error in
            (error as? MAMLError) == .invalidConfig("the meta-batch's task-gradient slots would need metaBatch 1000000 "
                + "x parameters \(backbone.parameterCount) floats, more than the limit of 2147483648 (8 GiB)")
        }
    }

    @Test func evaluationCountsAreBounded() throws {
        let config = EvaluationConfig(tasks: 600, shots: [5, 2_000_000], steps: [0], queryShots: 10)
        #expect(throws: MAMLError.self) {
            try Evaluator(backbone: TestBackbone(TanhModel(hidden: 3)), family: SinusoidTasks(), config: config)
        }
        let many = EvaluationConfig(tasks: 1_000_001, shots: [5], steps: [0], queryShots: 10)
        #expect(throws: MAMLError.invalidConfig("evaluation tasks = 1000001, expected 2...1000000")) {
            try Evaluator(backbone: TestBackbone(TanhModel(hidden: 3)), family: SinusoidTasks(), config: many)
        }
    }
}
