import Testing
import MAMLPluginKit
@testable import MLPNetwork

// MARK: - hvp's reuse of an earlier loss_grad's forward pass
//
// One network sees interleaved calls through the same (reused) buffers whose contents
// change between calls, like the host's task buffers; every result must be bitwise what
// a fresh network (which has nothing to reuse) gives for the same inputs.

/// Caller-owned buffers reused across calls, filled from a problem and then edited.
private final class Buffers {
    let params: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>
    let y: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>
    var n = 0
    init(parameterCount: Int, maxFloats: Int, maxN: Int) {
        params = .allocate(capacity: parameterCount); x = .allocate(capacity: maxFloats)
        y = .allocate(capacity: maxFloats); labels = .allocate(capacity: maxN)
    }
    deinit { params.deallocate(); x.deallocate(); y.deallocate(); labels.deallocate() }
    func load(_ p: DenseProblem) {
        n = p.n
        params.update(from: p.params, count: p.params.count)
        x.update(from: p.x, count: p.x.count); y.update(from: p.y, count: p.y.count)
        labels.update(from: p.labels, count: p.labels.count)
    }
    var batch: PluginBatch { PluginBatch(n: n, x: x, yFloat: y, yClass: labels) }
}

@Suite struct DenseForwardCacheTests {
    static let cases: [DenseCase] = [
        DenseCase(sizes: [1, 40, 40, 1], activation: .relu, loss: .mse, n: 10),
        DenseCase(sizes: [3, 6, 5, 2], activation: .tanh, loss: .mse, n: 4),
        DenseCase(sizes: [2, 9, 6, 5], activation: .tanh, loss: .softmaxCrossEntropy, n: 7),
    ]

    /// An edit of the loaded inputs that the cache must notice.
    enum Edit: CaseIterable { case none, param, input, target }

    @Test(arguments: cases)
    func interleavedCallsMatchFreshNetworks(c: DenseCase) {
        let a = DenseProblem(sizes: c.sizes, activation: c.activation, loss: c.loss, n: c.n, seed: 11)
        let b = DenseProblem(sizes: c.sizes, activation: c.activation, loss: c.loss, n: c.n, seed: 12)
        let big = DenseProblem(sizes: c.sizes, activation: c.activation, loss: c.loss, n: c.n + 3, seed: 13)
        let net = DenseNetwork(sizes: c.sizes, activation: c.activation, loss: c.loss)
        let p = net.parameterCount, classes = c.sizes.last!
        let buf = Buffers(parameterCount: p, maxFloats: big.x.count + big.y.count, maxN: big.n)
        var rng = SplitMix64(seed: 7)
        let v = (0..<p).map { _ in rng.nextFloat(symmetric: 1) }
        var grad = [Float](repeating: 0, count: p), out = [Float](repeating: 0, count: p)

        /// loss_grad on the shared network, checked against a fresh one.
        func lossGrad(_ withGradient: Bool = true) {
            let fresh = DenseNetwork(sizes: c.sizes, activation: c.activation, loss: c.loss)
            var want = [Float](repeating: 0, count: p)
            let wantLoss = want.withUnsafeMutableBufferPointer {
                fresh.lossGrad(params: buf.params, batch: buf.batch, grad: withGradient ? $0.baseAddress! : nil)
            }
            let loss = grad.withUnsafeMutableBufferPointer {
                net.lossGrad(params: buf.params, batch: buf.batch, grad: withGradient ? $0.baseAddress! : nil)
            }
            #expect(loss.bitPattern == wantLoss.bitPattern)
            if withGradient { #expect(zip(grad, want).allSatisfy { $0.bitPattern == $1.bitPattern }) }
        }
        /// hvp on the shared network, checked bitwise against a fresh one.
        func hvp(_ what: String) {
            let fresh = DenseNetwork(sizes: c.sizes, activation: c.activation, loss: c.loss)
            var want = [Float](repeating: .nan, count: p)
            want.withUnsafeMutableBufferPointer { fresh.hvp(params: buf.params, batch: buf.batch, v: v, output: $0.baseAddress!) }
            out.withUnsafeMutableBufferPointer { net.hvp(params: buf.params, batch: buf.batch, v: v, output: $0.baseAddress!) }
            let differing = zip(out, want).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(c.testDescription): hvp after \(what): \(differing) of \(p) elements differ")
        }
        func apply(_ edit: Edit) {
            switch edit {
            case .none: break
            case .param: buf.params[p / 2] += 0.25
            case .input: buf.x[buf.n * c.sizes[0] - 1] += 0.5
            case .target:
                if c.loss == .mse { buf.y[0] += 1 } else { buf.labels[0] = (buf.labels[0] + 1) % Int32(classes) }
            }
        }

        // The MAML pattern: loss_grad(A), loss_grad(B), then hvp at A, possibly edited in place.
        for edit in Edit.allCases {
            buf.load(a); lossGrad()
            buf.load(b); lossGrad()
            buf.load(a); apply(edit); hvp("loss_grad(A), loss_grad(B), edit \(edit)")
        }
        // A loss-only call and a forward call overwrite slots; hvp at A must still be right.
        buf.load(a); lossGrad()
        buf.load(b); lossGrad(false)
        buf.load(a); hvp("loss only")
        buf.load(a); lossGrad()
        buf.load(b)
        var prediction = [Float](repeating: 0, count: b.n * classes)
        prediction.withUnsafeMutableBufferPointer { net.forward(params: buf.params, batch: buf.batch, output: $0.baseAddress!) }
        buf.load(b); lossGrad(false)
        buf.load(a); hvp("forward and loss only")
        // Growing the scratch for a larger batch drops every slot.
        buf.load(a); lossGrad()
        buf.load(big); lossGrad()
        buf.load(a); hvp("a larger batch")
        // Repeated hvps at the same point, then at a point only an hvp computed.
        hvp("hvp"); apply(.param); hvp("hvp at edited params"); hvp("the same again")
    }
}
