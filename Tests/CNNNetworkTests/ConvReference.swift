import MAMLPluginKit
@testable import CNNNetwork
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// MARK: - A plain double-precision conv network: the reference for finite differences
//
// Naive loops over NCHW arrays, written independently of ConvNetwork's im2col/GEMM code.
// ReLU and max-pool are piecewise: to make finite differences exact derivatives of
// the piece the base point lies on, `evaluate` can replay a frozen `Pattern` (the
// ReLU masks and pooling winners of the base point) at perturbed points. At the base
// point the frozen evaluation equals the true one, and its derivatives are the
// network's derivatives there (no FD stencil ever straddles a kink).

struct ConvReference {
    var config: ConvNetwork.Config

    /// ReLU on/off flags and max-pool winner indices, in evaluation order.
    struct Pattern: Equatable { var relu: [Bool] = []; var winners: [Int] = [] }

    /// Mean loss, logits [n, classes], and the pattern used (recorded unless given).
    func evaluate(_ theta: [Double], x: [Double], n: Int, y: [Double], labels: [Int32],
                  frozen: Pattern? = nil) -> (loss: Double, logits: [Double], pattern: Pattern) {
        var pattern = Pattern(), reluIndex = 0, winnerIndex = 0
        var c = config.input[0], h = config.input[1], w = config.input[2]
        var a = x, offset = 0
        let k = config.kernel, p = k / 2, pooled = config.downsample == .maxpool, s = pooled ? 1 : 2
        for out in config.channels {
            let ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1
            let wOff = offset, bOff = offset + out * c * k * k
            offset = bOff + out
            var z = [Double](repeating: 0, count: n * out * ho * wo)
            for b in 0..<n { for o in 0..<out { for oy in 0..<ho { for ox in 0..<wo {
                var sum = theta[bOff + o]
                for ci in 0..<c { for ky in 0..<k { for kx in 0..<k {
                    let iy = oy * s - p + ky, ix = ox * s - p + kx
                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                    sum += theta[wOff + ((o * c + ci) * k + ky) * k + kx] * a[((b * c + ci) * h + iy) * w + ix]
                } } }
                z[((b * out + o) * ho + oy) * wo + ox] = sum
            } } } }
            if config.norm == .batch {
                let gOff = offset, betaOff = offset + out
                offset += 2 * out
                let plane = ho * wo, m = Double(n * plane)
                for o in 0..<out {
                    var mean = 0.0
                    for b in 0..<n { for i in 0..<plane { mean += z[(b * out + o) * plane + i] } }
                    mean /= m
                    var v = 0.0
                    for b in 0..<n { for i in 0..<plane { let d = z[(b * out + o) * plane + i] - mean; v += d * d } }
                    let inv = 1 / (v / m + Double(config.eps)).squareRoot()
                    for b in 0..<n { for i in 0..<plane {
                        let j = (b * out + o) * plane + i
                        z[j] = theta[gOff + o] * (z[j] - mean) * inv + theta[betaOff + o]
                    } }
                }
            }
            for i in z.indices {
                let on: Bool
                if let frozen { on = frozen.relu[reluIndex] } else { on = z[i] > 0 }
                reluIndex += 1
                pattern.relu.append(on)
                if !on { z[i] = 0 }
            }
            a = z; c = out; h = ho; w = wo
            if pooled {
                let ph = h / 2, pw = w / 2
                var pooledOut = [Double](repeating: 0, count: n * c * ph * pw)
                for q in 0..<(n * c) { for oy in 0..<ph { for ox in 0..<pw {
                    var best = (2 * oy) * w + 2 * ox
                    for dy in 0..<2 { for dx in 0..<2 {
                        let idx = (2 * oy + dy) * w + 2 * ox + dx
                        if a[q * h * w + idx] > a[q * h * w + best] { best = idx }
                    } }
                    if let frozen { best = frozen.winners[winnerIndex] }
                    winnerIndex += 1
                    pattern.winners.append(best)
                    pooledOut[(q * ph + oy) * pw + ox] = a[q * h * w + best]
                } } }
                a = pooledOut; h = ph; w = pw
            }
        }
        let features = c * h * w, classes = config.classes
        let hw = offset, hb = offset + classes * features
        var logits = [Double](repeating: 0, count: n * classes)
        for b in 0..<n { for j in 0..<classes {
            var sum = theta[hb + j]
            for f in 0..<features { sum += theta[hw + j * features + f] * a[b * features + f] }
            logits[b * classes + j] = sum
        } }
        var loss = 0.0
        switch config.loss {
        case .mse:
            for i in logits.indices { loss += (logits[i] - y[i]) * (logits[i] - y[i]) }
            loss /= Double(n * classes)
        case .softmaxCrossEntropy:
            for b in 0..<n {
                let row = logits[(b * classes)..<((b + 1) * classes)]
                let m = row.max()!
                loss += m + Glibc.log(row.reduce(0) { $0 + Glibc.exp($1 - m) }) - row[b * classes + Int(labels[b])]
            }
            loss /= Double(n)
        }
        return (loss, logits, pattern)
    }
}

/// A random problem: parameters, inputs and targets, and finite differences of the reference.
struct ConvProblem {
    var reference: ConvReference
    var n: Int
    var params: [Float]
    var x: [Float]
    var y: [Float]
    var labels: [Int32]
    var pattern: ConvReference.Pattern

    init(config: ConvNetwork.Config, n: Int, seed: UInt64, parameterCount: Int) {
        reference = ConvReference(config: config)
        self.n = n
        var rng = SplitMix64(seed: seed)
        params = (0..<parameterCount).map { _ in rng.nextFloat(symmetric: 0.6) }
        let inputs = config.input.reduce(1, *)
        x = (0..<(n * inputs)).map { _ in rng.nextFloat(symmetric: 1) }
        y = (0..<(n * config.classes)).map { _ in rng.nextFloat(symmetric: 1) }
        labels = (0..<n).map { _ in Int32(rng.next() % UInt64(config.classes)) }
        pattern = .init()
        pattern = reference.evaluate(params.map(Double.init), x: x.map(Double.init), n: n, y: y.map(Double.init),
                                     labels: labels).pattern
    }

    /// The loss on the base point's piece (frozen ReLU masks and pooling winners).
    func loss(_ theta: [Double]) -> Double {
        reference.evaluate(theta, x: x.map(Double.init), n: n, y: y.map(Double.init), labels: labels, frozen: pattern).loss
    }

    var exactLoss: Double { loss(params.map(Double.init)) }

    /// Central finite-difference gradient of the double-precision loss.
    func finiteDifferenceGradient(h: Double = 1e-5) -> [Double] {
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

// MARK: - Calling the network under test on a problem

extension ConvProblem {
    /// The network's loss and (if wanted) gradient at `at` (default: the problem's parameters).
    func lossGrad(_ net: ConvNetwork, at theta: [Float]? = nil, gradient: Bool = true) throws -> (Float, [Float]) {
        let p = theta ?? params
        var grad = [Float](repeating: .nan, count: net.parameterCount)
        let batch = PluginBatchStorage(self)
        let loss = try grad.withUnsafeMutableBufferPointer { g in
            try net.lossGrad(params: p, batch: batch.batch, grad: gradient ? g.baseAddress! : nil)
        }
        batch.free()
        return (loss, grad)
    }

    /// The network's Hessian-vector product with dir.
    func hvp(_ net: ConvNetwork, _ dir: [Float]) throws -> [Float] {
        var out = [Float](repeating: .nan, count: net.parameterCount)
        let batch = PluginBatchStorage(self)
        try out.withUnsafeMutableBufferPointer { o in try net.hvp(params: params, batch: batch.batch, v: dir, output: o.baseAddress!) }
        batch.free()
        return out
    }

    /// The network's logits.
    func forward(_ net: ConvNetwork) throws -> [Float] {
        var out = [Float](repeating: .nan, count: n * reference.config.classes)
        let batch = PluginBatchStorage(self)
        try out.withUnsafeMutableBufferPointer { o in try net.forward(params: params, batch: batch.batch, output: o.baseAddress!) }
        batch.free()
        return out
    }
}

/// A copy of a problem's batch in manually managed memory (no nested closures).
struct PluginBatchStorage {
    let x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>
    let batch: PluginBatch
    init(_ p: ConvProblem) {
        x = .allocate(capacity: p.x.count); x.initialize(from: p.x, count: p.x.count)
        y = .allocate(capacity: p.y.count); y.initialize(from: p.y, count: p.y.count)
        labels = .allocate(capacity: p.labels.count); labels.initialize(from: p.labels, count: p.labels.count)
        batch = PluginBatch(n: p.n, x: x, yFloat: y, yClass: labels)
    }
    func free() { x.deallocate(); y.deallocate(); labels.deallocate() }
}
