import MAMLPluginKit
@testable import MLPNetwork
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// MARK: - A plain double-precision dense network: the reference for finite differences

struct DenseReference {
    var sizes: [Int]
    var activation: DenseNetwork.Activation
    var loss: DenseNetwork.Loss

    /// Mean loss at theta, the hidden pre-activations (to keep relu away from kinks) and the outputs [n, dL].
    func evaluate(_ theta: [Double], x: [Double], n: Int, y: [Double], labels: [Int32])
        -> (loss: Double, hidden: [Double], outputs: [Double]) {
        var a = x, offset = 0, hidden: [Double] = []
        let layers = sizes.count - 1
        for l in 0..<layers {
            let fin = sizes[l], fout = sizes[l + 1]
            let w = offset, b = offset + fin * fout
            offset = b + fout
            var z = [Double](repeating: 0, count: n * fout)
            for r in 0..<n {
                for j in 0..<fout {
                    var s = theta[b + j]
                    for i in 0..<fin { s += a[r * fin + i] * theta[w + j * fin + i] }
                    z[r * fout + j] = s
                }
            }
            if l == layers - 1 { a = z; break }
            hidden += z
            a = z.map { activation == .relu ? max($0, 0) : Glibc.tanh($0) }
        }
        let d = sizes.last!
        switch loss {
        case .mse:
            return (zip(a, y).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(n * d), hidden, a)
        case .softmaxCrossEntropy:
            var total = 0.0
            for r in 0..<n {
                let row = a[(r * d)..<((r + 1) * d)]
                let m = row.max()!
                total += m + Glibc.log(row.reduce(0) { $0 + Glibc.exp($1 - m) }) - row[r * d + Int(labels[r])]
            }
            return (total / Double(n), hidden, a)
        }
    }
}

/// A random problem: parameters, inputs and targets.
struct DenseProblem {
    var reference: DenseReference
    var n: Int
    var params: [Float]
    var x: [Float]
    var y: [Float]
    var labels: [Int32]

    /// Draws until every hidden pre-activation is at least `margin` from 0 (relu's kink).
    init(sizes: [Int], activation: DenseNetwork.Activation, loss: DenseNetwork.Loss, n: Int, seed: UInt64, margin: Double = 1e-3) {
        reference = DenseReference(sizes: sizes, activation: activation, loss: loss)
        self.n = n
        var rng = SplitMix64(seed: seed)
        let count = zip(sizes, sizes.dropFirst()).reduce(0) { $0 + ($1.0 + 1) * $1.1 }
        repeat {
            params = (0..<count).map { _ in rng.nextFloat(symmetric: 1) }
            x = (0..<(n * sizes[0])).map { _ in rng.nextFloat(symmetric: 2) }
            y = (0..<(n * sizes.last!)).map { _ in rng.nextFloat(symmetric: 1) }
            labels = (0..<n).map { _ in Int32(rng.next() % UInt64(sizes.last!)) }
        } while activation == .relu && (reference.evaluate(params.map(Double.init), x: x.map(Double.init), n: n, y: y.map(Double.init), labels: labels).hidden.contains { abs($0) < margin })
    }

    func loss(_ theta: [Double]) -> Double {
        reference.evaluate(theta, x: x.map(Double.init), n: n, y: y.map(Double.init), labels: labels).loss
    }

    /// Central finite-difference gradient of the double-precision loss.
    func finiteDifferenceGradient(h: Double = 1e-6) -> [Double] {
        centralGradient(loss, at: params.map(Double.init), h: h)
    }

    /// (H v)_i by a central difference in both theta_i and the direction v.
    func finiteDifferenceHVP(_ v: [Float], h: Double = 1e-4) -> [Double] {
        centralHVP(loss, at: params.map(Double.init), direction: v, h: h)
    }

    func withBatch<R>(_ body: (PluginBatch) -> R) -> R {
        x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { yp in labels.withUnsafeBufferPointer { lp in
            body(PluginBatch(n: n, x: xp.baseAddress!, yFloat: yp.baseAddress!, yClass: lp.baseAddress!))
        } } }
    }
}
