import MAMLCore
import MAMLTasks
import Synchronization
import Testing
@testable import MAMLHost

// MARK: - A plugin without "maml.hvp/1": second-order MAML through finite-difference HVPs

@Suite("Finite-difference HVP fallback through a real plugin")
struct FallbackHVPTests {
    @Test("meta-gradients match the exact plugin's, and training announces the fallback once")
    func fallbackMatchesExact() throws {
        let config = #"{"inputs": 1, "outputs": 1}"#
        let exact = try makeBackbone("linreg", config: config)
        let fallback = try makeBackbone("linreg-noext", config: config)
        #expect(exact.providesHVP && !fallback.providesHVP)

        let family = SinusoidTasks()
        let task = TaskBuffer(family: family, supportShots: 10, queryShots: 10)
        var rng = RandomGenerator(seed: 9, stream: .metaTrain, iteration: 0, task: 0)
        try family.sample(split: .train, supportShots: 10, queryShots: 10, rng: &rng, into: task)
        let theta: [Float] = [0.7, -0.3]
        let learner = MetaLearner(algorithm: .maml, innerSteps: 3, innerLR: 0.05)
        func metaGradient(_ b: PluginBackbone) throws -> [Float] {
            var out = [Float](repeating: 0, count: 2)
            _ = try theta.withUnsafeBufferPointer { t in
                try out.withUnsafeMutableBufferPointer {
                    try learner.taskMetaGradient(backbone: b, parameters: t, task: task,
                                                 workspace: MetaWorkspace(parameterCount: 2, innerSteps: 3), output: $0)
                }
            }
            return out
        }
        let a = try metaGradient(exact), b = try metaGradient(fallback)
        let fomaml = try { () throws -> [Float] in
            var out = [Float](repeating: 0, count: 2)
            _ = try theta.withUnsafeBufferPointer { t in
                try out.withUnsafeMutableBufferPointer {
                    try MetaLearner(algorithm: .fomaml, innerSteps: 3, innerLR: 0.05).taskMetaGradient(
                        backbone: exact, parameters: t, task: task,
                        workspace: MetaWorkspace(parameterCount: 2, innerSteps: 3), output: $0)
                }
            }
            return out
        }()
        let diff = zip(a, b).map { abs($0 - $1) }.max()!, scale = a.map(abs).max()!
        #expect(diff <= 1e-3 * scale, "exact \(a) vs finite-difference \(b)")
        #expect(zip(a, fomaml).map { abs($0 - $1) }.max()! > 100 * diff, "the HVP term is visible: the test can fail")

        let notes = Mutex<[String]>([])
        let trainer = try Trainer(backbone: fallback, family: family,
                                  config: TrainerConfig(metaBatch: 3, iterations: 3, seed: 1),
                                  log: { message in notes.withLock { $0.append(message) } })
        for _ in 0..<3 { try trainer.step() }
        let logged = notes.withLock { $0 }
        #expect(logged.filter { $0.contains("finite-difference HVP") }.count == 1, "\(logged)")
    }
}
