import Foundation
import MAMLPluginKit
@testable import RNNNetwork

// MARK: - A naive double-precision recurrent network, written from the equations
//
// One example at a time, one step at a time, no shared code with RecurrentNetwork:
// the finite-difference oracle for its gradient and HVP (TestSupport/FiniteDifferences.swift).

struct RecurrentReference {
    var config: RecurrentNetwork.Config

    func sigmoid(_ a: Double) -> Double { 1 / (1 + exp(-a)) }

    /// W [rows, cols] at offset times vector u.
    func matvec(_ p: [Double], _ offset: Int, rows: Int, cols: Int, _ u: [Double]) -> [Double] {
        (0..<rows).map { r in (0..<cols).reduce(0.0) { $0 + p[offset + r * cols + $1] * u[$1] } }
    }

    /// Outputs [n, outSteps, classes] (batch-major, as the host sees them) and the mean loss.
    func evaluate(_ p: [Double], x: [Double], n: Int, y: [Double], labels: [Int32]) -> (outputs: [Double], loss: Double) {
        let t = config.length, f = config.features, h = config.hidden, g = config.cell.gates, k = config.classes
        var outputs: [Double] = []
        var loss = 0.0
        for e in 0..<n {
            var seq = (0..<t).map { s in Array(x[(e * t + s) * f..<(e * t + s + 1) * f]) }
            var offset = 0
            for l in 0..<config.layers {
                let inputs = l == 0 ? f : h
                let wih = offset, whh = wih + g * h * inputs, bias = whh + g * h * h
                offset = bias + g * h
                let bhn = offset
                if config.cell == .gru { offset += h }
                var hs = [Double](repeating: 0, count: h), cs = [Double](repeating: 0, count: h)
                var next: [[Double]] = []
                for s in 0..<t {
                    let ax = zip(matvec(p, wih, rows: g * h, cols: inputs, seq[s]), p[bias..<bias + g * h]).map { $0 + $1 }
                    let ah = matvec(p, whh, rows: g * h, cols: h, hs)
                    switch config.cell {
                    case .elman:
                        hs = (0..<h).map { tanh(ax[$0] + ah[$0]) }
                    case .gru:
                        hs = (0..<h).map { j in
                            let r = sigmoid(ax[j] + ah[j]), z = sigmoid(ax[h + j] + ah[h + j])
                            let nn = tanh(ax[2 * h + j] + r * (ah[2 * h + j] + p[bhn + j]))
                            return (1 - z) * nn + z * hs[j]
                        }
                    case .lstm:
                        for j in 0..<h {
                            let i = sigmoid(ax[j] + ah[j]), fg = sigmoid(ax[h + j] + ah[h + j])
                            let gg = tanh(ax[2 * h + j] + ah[2 * h + j]), o = sigmoid(ax[3 * h + j] + ah[3 * h + j])
                            cs[j] = fg * cs[j] + i * gg
                            hs[j] = o * tanh(cs[j])
                        }
                    }
                    next.append(hs)
                }
                seq = next
            }
            let steps = config.head == .every ? Array(0..<t) : [t - 1]
            let hw = offset, hb = offset + k * h
            for (si, s) in steps.enumerated() {
                let z = zip(matvec(p, hw, rows: k, cols: h, seq[s]), p[hb..<hb + k]).map { $0 + $1 }
                outputs += z
                switch config.loss {
                case .mse:
                    for j in 0..<k { let d = z[j] - y[(e * steps.count + si) * k + j]; loss += d * d }
                case .softmaxCrossEntropy:
                    let m = z.max()!
                    loss += m + log(z.reduce(0.0) { $0 + exp($1 - m) }) - z[Int(labels[e])]
                }
            }
        }
        let count = config.loss == .mse ? Double(outputs.count) : Double(n)
        return (outputs, loss / count)
    }
}

/// A random problem for a recurrent network: parameters, sequences and targets.
struct RecurrentProblem {
    var reference: RecurrentReference
    var n: Int
    var params: [Float], x: [Float], y: [Float], labels: [Int32]

    init(config: RecurrentNetwork.Config, n: Int, seed: UInt64, parameterCount: Int, scale: Float = 0.8) {
        reference = RecurrentReference(config: config)
        self.n = n
        var rng = SplitMix64(seed: seed)
        params = (0..<parameterCount).map { _ in rng.nextFloat(symmetric: scale) }
        x = (0..<(n * config.length * config.features)).map { _ in rng.nextFloat(symmetric: 1) }
        let outs = config.head == .every ? config.length * config.classes : config.classes
        y = (0..<(n * outs)).map { _ in rng.nextFloat(symmetric: 1) }
        labels = (0..<n).map { _ in Int32(rng.next() % UInt64(config.classes)) }
    }

    func loss(_ theta: [Double]) -> Double {
        reference.evaluate(theta, x: x.map(Double.init), n: n, y: y.map(Double.init), labels: labels).loss
    }

    func withBatch<R>(_ body: (PluginBatch) throws -> R) rethrows -> R {
        try x.withUnsafeBufferPointer { xp in try y.withUnsafeBufferPointer { yp in try labels.withUnsafeBufferPointer { lp in
            try body(PluginBatch(n: n, x: xp.baseAddress!, yFloat: yp.baseAddress!, yClass: lp.baseAddress!))
        } } }
    }

    func lossGrad(_ net: RecurrentNetwork, gradient: Bool = true) throws -> (Float, [Float]) {
        var grad = [Float](repeating: .nan, count: net.parameterCount)
        let loss = try withBatch { b in
            try grad.withUnsafeMutableBufferPointer { g in try net.lossGrad(params: params, batch: b, grad: gradient ? g.baseAddress! : nil) }
        }
        return (loss, grad)
    }

    func hvp(_ net: RecurrentNetwork, _ dir: [Float]) throws -> [Float] {
        var out = [Float](repeating: .nan, count: net.parameterCount)
        try withBatch { b in
            try out.withUnsafeMutableBufferPointer { o in try net.hvp(params: params, batch: b, v: dir, output: o.baseAddress!) }
        }
        return out
    }

    func forward(_ net: RecurrentNetwork) throws -> [Float] {
        let outs = reference.config.head == .every ? reference.config.length : 1
        var out = [Float](repeating: .nan, count: n * outs * reference.config.classes)
        try withBatch { b in
            try out.withUnsafeMutableBufferPointer { o in try net.forward(params: params, batch: b, output: o.baseAddress!) }
        }
        return out
    }
}
