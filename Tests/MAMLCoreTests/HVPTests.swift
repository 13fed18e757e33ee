// MARK: - The finite-difference HVP fallback

import Testing
@testable import MAMLCore
import MAMLTasks
import Foundation   // NSLock for the log collector

/// Collects log lines from any thread.
final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var handler: LogHandler { { line in self.lock.lock(); self.lines.append(line); self.lock.unlock() } }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

/// H v through the core's HVP routine.
func coreHVP(_ backbone: any Backbone, _ theta: [Float], _ batch: Batch, _ v: [Float]) throws -> [Double] {
    let n = theta.count
    var out = [Float](repeating: .nan, count: n)
    let s1 = UnsafeMutablePointer<Float>.allocate(capacity: n), s2 = UnsafeMutablePointer<Float>.allocate(capacity: n)
    defer { s1.deallocate(); s2.deallocate() }
    try theta.withUnsafeBufferPointer { t in
        try v.withUnsafeBufferPointer { vv in
            try out.withUnsafeMutableBufferPointer { o in
                try hvp(backbone: backbone, params: t.baseAddress!, batch: batch,
                                         vector: vv.baseAddress!, output: o.baseAddress!, count: n,
                                         scratchTheta: s1, scratchGradient: s2)
            }
        }
    }
    return out.map(Double.init)
}

@Suite struct HVPTests {
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func finiteDifferenceMatchesExactHVP(seed: UInt64) throws {
        let model = TanhModel(hidden: 6)
        let task = randomTask(inputs: 1, support: 10, query: 1, seed: 100 + seed)
        let theta = randomParameters(model.count, seed: 200 + seed)
        let v = randomParameters(model.count, seed: 300 + seed, scale: 3)
        let exact = try coreHVP(TestBackbone(model), theta, task.support, v)
        let fallback = try coreHVP(TestBackbone(model, exactHVP: false), theta, task.support, v)
        let s = doubles(task.support, inputs: 1)
        let reference = model.hvp(theta.map(Double.init), s.x, s.y, v.map(Double.init))
        #expect(relativeError(exact, reference) < 1e-6)
        #expect(relativeError(fallback, reference) < 5e-4, "fd \(fallback)\nexact \(reference)")
    }

    @Test func finiteDifferenceStepScalesWithTheParameterNorm() {
        #expect(finiteDifferenceStep(thetaNorm: 0) == 1e-3)
        #expect(finiteDifferenceStep(thetaNorm: 0.5) == 1e-3)
        #expect(finiteDifferenceStep(thetaNorm: 40) == 4e-2)
    }

    @Test func finiteDifferenceIsExactForAQuadraticAtLargeScale() throws {
        // The linear model's loss is quadratic: central differences have no truncation error,
        // so only rounding remains even with ||theta|| ~ 100 (eps ~ 0.1).
        let model = LinearModel(inputs: 4)
        let task = randomTask(inputs: 4, support: 12, query: 1, seed: 7)
        let theta = randomParameters(model.count, seed: 8, scale: 50)
        let v = randomParameters(model.count, seed: 9)
        let fallback = try coreHVP(TestBackbone(model, exactHVP: false), theta, task.support, v)
        let s = doubles(task.support, inputs: 4)
        #expect(relativeError(fallback, model.hvp([], s.x, s.y, v.map(Double.init))) < 1e-3)
    }

    @Test func zeroVectorGivesZeroWithoutCallingTheBackbone() throws {
        let model = TanhModel(hidden: 3)
        let task = randomTask(inputs: 1, support: 4, query: 1, seed: 5)
        for exact in [true, false] {
            let backbone = TestBackbone(model, exactHVP: exact)
            let out = try coreHVP(backbone, randomParameters(model.count, seed: 6),
                                  task.support, [Float](repeating: 0, count: model.count))
            #expect(out.allSatisfy { $0 == 0 })
            #expect(backbone.gradientCalls == 0 && backbone.hvpCalls == 0)
        }
    }

    @Test func mamlWithFallbackMatchesExactMAMLAndUsesTwoGradientsPerStep() throws {
        let model = TanhModel(hidden: 5), alpha: Float = 0.1
        let task = randomTask(inputs: 1, support: 6, query: 8, seed: 71)
        let theta = randomParameters(model.count, seed: 72)
        let (exact, _) = try coreMetaGradient(TestBackbone(model), theta, task, .maml, steps: 3, lr: alpha)
        let fdBackbone = TestBackbone(model, exactHVP: false)
        let (fallback, _) = try coreMetaGradient(fdBackbone, theta, task, .maml, steps: 3, lr: alpha)
        #expect(relativeError(fallback, exact) < 2e-4)
        // 3 support gradients + 1 query gradient + 3 HVPs of two gradients each.
        #expect(fdBackbone.gradientCalls == 3 + 1 + 6 && fdBackbone.hvpCalls == 0)
    }

    @Test func trainerLogsTheFallbackOnce() throws {
        let log = LogCollector()
        let backbone = TestBackbone(TanhModel(hidden: 4), exactHVP: false)
        let config = TrainerConfig(metaBatch: 3, supportShots: 5, queryShots: 5, iterations: 3)
        let trainer = try Trainer(backbone: backbone, family: SinusoidTasks(), config: config, log: log.handler)
        try trainer.run()
        #expect(log.all.count == 1)
        #expect(log.all.first?.hasPrefix("finite-difference HVP") == true)

        let quiet = LogCollector()
        _ = try Trainer(backbone: TestBackbone(TanhModel(hidden: 4)), family: SinusoidTasks(), config: config,
                        log: quiet.handler)
        var firstOrder = config; firstOrder.algorithm = .fomaml
        _ = try Trainer(backbone: backbone, family: SinusoidTasks(), config: firstOrder, log: quiet.handler)
        #expect(quiet.all.isEmpty)
    }
}

@Suite struct HVPEdgeCaseTests {
    @Test func aSubnormalVectorStillGivesAFiniteScaledProduct() throws {
        let model = LinearModel(inputs: 2)
        let task = randomTask(inputs: 2, support: 6, query: 1, seed: 3)
        let theta = randomParameters(model.count, seed: 4)
        let tiny: [Float] = [1, -2, 3].map { Float(bitPattern: 1000) * $0 }   // subnormal floats (~1.4e-42)
        let fallback = try coreHVP(TestBackbone(model, exactHVP: false), theta, task.support, tiny)
        let s = doubles(task.support, inputs: 2)
        let reference = model.hvp([], s.x, s.y, tiny.map(Double.init))
        #expect(fallback.allSatisfy { $0.isFinite })
        #expect(relativeError(fallback, reference) < 0.05)    // the float result itself is subnormal
    }
}
