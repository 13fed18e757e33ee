import Foundation

// MARK: - Double-precision reference of the fixture models
//
// The same linear models as Fixtures/fixture_plugin.c (W row-major [k][d],
// then b[k]), written independently in Swift with Double: loss, gradient and
// Hessian-vector product in closed form, plus central finite differences to
// check the closed forms themselves.

struct LinearReference {
    var inputs: Int
    var outputs: Int
    var crossEntropy: Bool
    var parameterCount: Int { outputs * inputs + outputs }

    /// One example's logits: W x + b.
    func logits(_ p: [Double], _ x: ArraySlice<Double>) -> [Double] {
        (0..<outputs).map { j in
            var s = p[outputs * inputs + j]
            for i in 0..<inputs { s += p[j * inputs + i] * x[x.startIndex + i] }
            return s
        }
    }

    func softmax(_ z: [Double]) -> [Double] {
        let m = z.max()!
        let e = z.map { ($0 - m).exp }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// Mean loss over `n` examples.
    func loss(_ p: [Double], _ data: ReferenceData) -> Double {
        var total = 0.0
        for e in 0..<data.n {
            let z = logits(p, data.example(e, inputs))
            if crossEntropy {
                let m = z.max()!
                total += m + z.map { ($0 - m).exp }.reduce(0, +).log - z[Int(data.labels[e])]
            } else {
                for j in 0..<outputs { let r = z[j] - data.y[e * outputs + j]; total += r * r }
            }
        }
        return crossEntropy ? total / Double(data.n) : total / Double(data.n * outputs)
    }

    /// d loss / d p in closed form.
    func gradient(_ p: [Double], _ data: ReferenceData) -> [Double] {
        accumulate(data) { e, x in
            let z = logits(p, x)
            if crossEntropy {
                var q = softmax(z); q[Int(data.labels[e])] -= 1
                return q.map { $0 / Double(data.n) }
            }
            return (0..<outputs).map { j in 2 * (z[j] - data.y[e * outputs + j]) / Double(data.n * outputs) }
        }
    }

    /// (d^2 loss / d p^2) v in closed form.
    func hvp(_ p: [Double], _ data: ReferenceData, _ v: [Double]) -> [Double] {
        accumulate(data) { e, x in
            let dz = logits(v, x) // V x + v_b
            if crossEntropy {
                let q = softmax(logits(p, x))
                let qd = zip(q, dz).map(*).reduce(0, +)
                return (0..<outputs).map { j in (q[j] * dz[j] - q[j] * qd) / Double(data.n) }
            }
            return dz.map { 2 * $0 / Double(data.n * outputs) }
        }
    }

    /// Sum over examples of r x^T (weights) and r (bias), r given per example.
    private func accumulate(_ data: ReferenceData, _ r: (Int, ArraySlice<Double>) -> [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: parameterCount)
        for e in 0..<data.n {
            let x = data.example(e, inputs)
            let re = r(e, x)
            for j in 0..<outputs {
                for i in 0..<inputs { out[j * inputs + i] += re[j] * x[x.startIndex + i] }
                out[outputs * inputs + j] += re[j]
            }
        }
        return out
    }
}

/// A batch in Double for the reference and in Float for the plugin (same values).
struct ReferenceData {
    var n: Int
    var x: [Double]
    var y: [Double]
    var labels: [Int32]
    var xFloat: [Float] { x.map(Float.init) }
    var yFloat: [Float] { y.map(Float.init) }

    func example(_ e: Int, _ d: Int) -> ArraySlice<Double> { x[(e * d)..<(e * d + d)] }

    /// Pseudo-random data; x, y and params are rounded to Float so both sides see identical inputs.
    static func random(n: Int, model: LinearReference, seed: UInt64) -> ReferenceData {
        var rng = SplitMix(seed)
        return ReferenceData(
            n: n,
            x: (0..<(n * model.inputs)).map { _ in rng.float(in: -1...1) },
            y: (0..<(n * model.outputs)).map { _ in rng.float(in: -2...2) },
            labels: (0..<n).map { _ in Int32(rng.next() % UInt64(model.outputs)) })
    }
}

/// Central finite differences of a scalar or vector function along each coordinate.
func centralDifference(_ f: ([Double]) -> Double, at p: [Double], step h: Double = 1e-5) -> [Double] {
    (0..<p.count).map { i in
        var plus = p, minus = p
        plus[i] += h; minus[i] -= h
        return (f(plus) - f(minus)) / (2 * h)
    }
}

/// (g(p + h v) - g(p - h v)) / 2h: a directional derivative of a vector function.
func centralDirectional(_ g: ([Double]) -> [Double], at p: [Double], along v: [Double],
                        step h: Double = 1e-5) -> [Double] {
    let plus = g(zip(p, v).map { $0 + h * $1 }), minus = g(zip(p, v).map { $0 - h * $1 })
    return zip(plus, minus).map { ($0 - $1) / (2 * h) }
}

/// Largest |a - b| / (1 + |b|).
func maxRelativeError<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [A], _ b: [B]) -> Double {
    precondition(a.count == b.count, "length mismatch \(a.count) vs \(b.count)")
    var worst = 0.0
    for (x, y) in zip(a, b) {
        let reference = Double(y)
        worst = max(worst, abs(Double(x) - reference) / (1 + abs(reference)))
    }
    return worst
}

struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A Double that is exactly representable as a Float.
    mutating func float(in range: ClosedRange<Double>) -> Double {
        let unit = Double(next() >> 11) / Double(1 << 53)
        return Double(Float(range.lowerBound + unit * (range.upperBound - range.lowerBound)))
    }
}

private extension Double {
    var exp: Double { Foundation.exp(self) }
    var log: Double { Foundation.log(self) }
}
