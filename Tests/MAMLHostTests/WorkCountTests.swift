import MAMLCore
import MAMLTasks
import Testing
@testable import MAMLHost

// MARK: - Counting backbone work and costing it by the flops op (bench's GFLOP/s)

@Suite("Work counting")
struct WorkCountTests {
    @Test("calls are counted by kind and batch size and costed as documented")
    func directCalls() throws {
        let linreg = try makeBackbone("linreg", config: #"{"inputs": 4, "outputs": 2}"#) // flops(n) = 2*n*2*4 = 16n
        let counted = CountingBackbone(linreg)
        let x = [Float](repeating: 0.5, count: 7 * 4), y = [Float](repeating: 1, count: 7 * 2)
        var params = [Float](repeating: 0.1, count: 10), grad = params, out = params
        try x.withUnsafeBufferPointer { x in
            try y.withUnsafeBufferPointer { y in
                func batch(_ n: Int) -> Batch { Batch(n: n, x: x.baseAddress!, yFloat: y.baseAddress!) }
                try params.withUnsafeMutableBufferPointer { p in
                    let p = UnsafeBufferPointer(p)
                    try grad.withUnsafeMutableBufferPointer { g in
                        for _ in 0..<3 { _ = try counted.lossGrad(params: p, batch: batch(5), grad: g) }
                        _ = try counted.lossGrad(params: p, batch: batch(7), grad: g)
                        for _ in 0..<2 { _ = try counted.lossGrad(params: p, batch: batch(5), grad: nil) }
                        try out.withUnsafeMutableBufferPointer { o in
                            for _ in 0..<2 {
                                try counted.hvp(params: p, batch: batch(5), v: UnsafeBufferPointer(g), output: o)
                            }
                        }
                    }
                }
            }
        }
        #expect(counted.gradients.sizes == [5, 7] && counted.gradients.counts == [3, 1])
        #expect(counted.lossOnly.calls == 2 && counted.lossOnly.examples == 10)
        #expect(counted.hvps.calls == 2 && counted.hvps.examples == 10)
        let ops = try PluginOps(backbone: linreg)
        // 3 * 80 + 112 for the gradients, 2 * 2 * 80 for the HVPs; loss-only calls are not costed.
        #expect(try counted.flops(perLossGrad: ops.lossGradFLOPs) == 672)
        counted.reset()
        #expect(counted.gradients.calls == 0 && counted.hvps.calls == 0 && counted.lossOnly.calls == 0)
    }

    @Test("a MAML step makes a support and a query gradient and one HVP per task and inner step")
    func trainerStep() throws {
        let counted = CountingBackbone(try makeBackbone("linreg", config: #"{"inputs": 1, "outputs": 1}"#))
        let config = TrainerConfig(algorithm: .maml, innerSteps: 2, metaBatch: 3, supportShots: 5, queryShots: 6, iterations: 2)
        let trainer = try Trainer(backbone: counted, family: makeTaskFamily(name: "sinusoid"), config: config)
        counted.reset()
        _ = try trainer.step()
        #expect(counted.gradients.sizes == [5, 6] && counted.gradients.counts == [6, 3])
        #expect(counted.hvps.sizes == [5] && counted.hvps.counts == [6])
        // flops(n) = 2n for 1 input and 1 output: 6 * 10 + 3 * 12 + 2 * 6 * 10.
        let ops = try PluginOps(backbone: counted.base)
        #expect(try counted.flops(perLossGrad: ops.lossGradFLOPs) == 216)
    }

    @Test("a model without a usable flops op says so")
    func noFlops() throws {
        let ops = try PluginOps(backbone: makeBackbone("linreg-noext"))
        let error = #expect(throws: HostError.self) { try ops.lossGradFLOPs(batch: 1) }
        #expect(error?.message == #"model 'linreg-noext' declares no "flops" op (maml.ops/1)"#)
    }
}
