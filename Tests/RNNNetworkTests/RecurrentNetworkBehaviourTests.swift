import Testing
import MAMLPluginKit
@testable import RNNNetwork

// MARK: - Recurrent network: stacking, explosion, scratch reuse, layout, config errors

@Suite struct RecurrentNetworkBehaviourTests {
    /// A two-layer network equals layer 0 (read out through an identity head at every step)
    /// feeding a one-layer network made of layer 1 and the head: the hidden sequence, and with
    /// it every cell's carried state, passes between layers unchanged.
    @Test(arguments: RecurrentCell.allCases, [RecurrentNetwork.Head.every, .last])
    func stackedLayersCarryTheHiddenSequence(cell: RecurrentCell, head: RecurrentNetwork.Head) throws {
        let t = 4, f = 2, h = 3, n = 2
        let two = try RecurrentNetwork(.init(length: t, features: f, cell: cell, hidden: h, layers: 2, head: head, classes: 2))
        let lower = try RecurrentNetwork(.init(length: t, features: f, cell: cell, hidden: h, layers: 1, head: .every, classes: h))
        let upper = try RecurrentNetwork(.init(length: t, features: h, cell: cell, hidden: h, layers: 1, head: head, classes: 2))
        let problem = RecurrentProblem(config: two.config, n: n, seed: 11, parameterCount: two.parameterCount)
        let p = problem.params
        // Split the two-layer vector: layer 0 | layer 1 + head.
        let split = two.layerList[1].wih
        var lowerParams = Array(p[0..<split])
        for i in 0..<h { for j in 0..<h { lowerParams.append(i == j ? 1 : 0) } }
        lowerParams += [Float](repeating: 0, count: h)
        #expect(lowerParams.count == lower.parameterCount)
        let upperParams = Array(p[split...])
        #expect(upperParams.count == upper.parameterCount)

        let want = try problem.forward(two)
        var hidden = [Float](repeating: 0, count: n * t * h)
        try problem.withBatch { b in
            try hidden.withUnsafeMutableBufferPointer { o in try lower.forward(params: lowerParams, batch: b, output: o.baseAddress!) }
        }
        var got = [Float](repeating: .nan, count: want.count)
        try hidden.withUnsafeBufferPointer { x in
            try got.withUnsafeMutableBufferPointer { o in
                try upper.forward(params: upperParams, batch: PluginBatch(n: n, x: x.baseAddress!), output: o.baseAddress!)
            }
        }
        for (a, b) in zip(got, want) { #expect(abs(a - b) <= 1e-6 * max(1, abs(b))) }
    }

    /// Inputs so large that the gate pre-activations overflow: a numerical error naming the
    /// explosion, the layer and the step, for the loss, the gradient and the HVP alike.
    @Test(arguments: RecurrentCell.allCases)
    func explodingSequenceIsANumericalError(cell: RecurrentCell) throws {
        let config = RecurrentNetwork.Config(length: 6, features: 2, cell: cell, hidden: 4, layers: 2, head: .every, classes: 1)
        let net = try RecurrentNetwork(config)
        var problem = RecurrentProblem(config: config, n: 3, seed: 5, parameterCount: net.parameterCount)
        for i in problem.x.indices { problem.x[i] = 3e38 }
        for i in 0..<(cell.gates * 4 * 2) { problem.params[i] = 2 }   // layer0.w_ih: 2 * 3e38 overflows
        for grad in [false, true] {
            do {
                _ = try problem.lossGrad(net, gradient: grad)
                Issue.record("no error for an exploding sequence")
            } catch let error as PluginError {
                #expect(error.status == .numerical)
                #expect(error.message.contains("explodes") && error.message.contains("layer 0 step 1 of 6"), "\(error.message)")
            }
        }
        do {
            _ = try problem.hvp(net, problem.params)
            Issue.record("no error for an exploding sequence in the HVP")
        } catch let error as PluginError {
            #expect(error.status == .numerical, "\(error.message)")
            #expect(error.message.contains("explodes"), "\(error.message)")
        }
        // The same network on ordinary inputs and weights is fine afterwards.
        problem = RecurrentProblem(config: config, n: 3, seed: 5, parameterCount: net.parameterCount)
        let (loss, grad) = try problem.lossGrad(net)
        #expect(loss.isFinite && grad.allSatisfy(\.isFinite))
    }

    /// Larger batches after smaller ones (scratch regrowth) and back give the same results.
    @Test(arguments: RecurrentCell.allCases)
    func scratchRegrowthKeepsResults(cell: RecurrentCell) throws {
        let config = RecurrentNetwork.Config(length: 5, features: 2, cell: cell, hidden: 4, layers: 2, head: .every, classes: 1)
        let net = try RecurrentNetwork(config)
        let small = RecurrentProblem(config: config, n: 2, seed: 5, parameterCount: net.parameterCount)
        let large = RecurrentProblem(config: config, n: 7, seed: 6, parameterCount: net.parameterCount)
        let first = try small.lossGrad(net).1, firstHv = try small.hvp(net, large.params)
        _ = try large.lossGrad(net); _ = try large.hvp(net, small.params)
        #expect(try small.lossGrad(net).1 == first)
        #expect(try small.hvp(net, large.params) == firstHv)
    }

    @Test(arguments: RecurrentCell.allCases)
    func layoutCoversTheVectorAndMarksTheHead(cell: RecurrentCell) throws {
        let net = try RecurrentNetwork(.init(length: 7, features: 3, cell: cell, hidden: 5, layers: 2, head: .last, classes: 4,
                                             loss: .softmaxCrossEntropy))
        var next = 0
        for tensor in net.layout {
            #expect(tensor.offset == next, "\(tensor.name)")
            next += tensor.shape.reduce(1, *)
        }
        #expect(next == net.parameterCount)
        #expect(net.layout.filter { $0.role == "head" }.map(\.name) == ["head.weight", "head.bias"])
        let g = cell.gates * 5
        #expect(net.layout.first { $0.name == "layer1.w_ih" }?.shape == [g, 5])
        #expect(net.layout.contains { $0.name == "layer0.b_hn" } == (cell == .gru))
        #expect(net.inputShape == [7, 3] && net.outputShape == [4])
    }

    @Test func configErrorsNameTheKey() {
        #expect(throws: PluginError(.invalidArgument, "config: \"head\": \"every\" needs \"loss\": \"mse\" (softmax-ce has one label per sequence; use \"head\": \"last\")")) {
            _ = try RecurrentNetwork(.init(head: .every, classes: 3, loss: .softmaxCrossEntropy))
        }
        #expect(throws: PluginError.self) { _ = try RecurrentNetwork(.init(hidden: 0)) }
        #expect(throws: PluginError.self) { _ = try RecurrentNetwork(.init(length: 0)) }
    }

    /// The peers' Elman network has 1,721 parameters (hidden 40, input 1, output 1).
    @Test func peerElmanParameterCount() throws {
        #expect(try RecurrentNetwork(.init()).parameterCount == 1721)
    }
}
