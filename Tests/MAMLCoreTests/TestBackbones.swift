// MARK: - Pure-Swift backbones for the core's tests
//
// Each computes in Double from closed-form expressions, exposes those Double
// functions for reference computations, and adapts them to the Float Backbone
// protocol. Allocation per call is fine here: these are test fixtures.

import MAMLCore

// MARK: - Shared Float <-> Double plumbing

/// The data of a batch as Double arrays (x: n * d, y: n).
func doubles(_ batch: Batch, inputs d: Int) -> (x: [Double], y: [Double]) {
    let x = (0..<(batch.n * d)).map { Double(batch.x[$0]) }
    let y = (0..<batch.n).map { Double(batch.yFloat![$0]) }
    return (x, y)
}

func doubles(_ p: UnsafeBufferPointer<Float>) -> [Double] { p.map(Double.init) }

func store(_ values: [Double], into out: UnsafeMutableBufferPointer<Float>) {
    for i in values.indices { out[i] = Float(values[i]) }
}

/// A Double loss/gradient/HVP model of scalar-output MSE regression.
protocol DoubleModel {
    var inputs: Int { get }
    var count: Int { get }
    func lossGrad(_ theta: [Double], _ x: [Double], _ y: [Double]) -> (Double, [Double])
    func hvp(_ theta: [Double], _ x: [Double], _ y: [Double], _ v: [Double]) -> [Double]
    func predict(_ theta: [Double], _ x: [Double]) -> [Double]
}

/// Adapts a DoubleModel to Backbone; counts calls and can hide its exact HVP.
final class TestBackbone<M: DoubleModel>: Backbone {
    let model: M
    var providesHVP: Bool
    var gradientCalls = 0
    var hvpCalls = 0
    /// The tensors a layout-aware learner (ANIL, LSLR) sees; nil: none published.
    let tensors: [LayoutTensor]?
    init(_ model: M, exactHVP: Bool = true, layout: [LayoutTensor]? = nil) {
        self.model = model; self.providesHVP = exactHVP; self.tensors = layout
    }
    /// A fresh instance with its own call counters (for worker threads).
    func makeReplica() throws(BackboneError) -> any Backbone { TestBackbone(model, exactHVP: providesHVP, layout: tensors) }

    var parameterCount: Int { model.count }
    var inputShape: [Int] { [model.inputs] }
    var outputShape: [Int] { [1] }
    var lossKind: LossKind { .mse }
    var layout: [LayoutTensor]? { tensors }

    func initParameters(seed: UInt64, into params: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        var rng = RandomGenerator(seed: seed)
        for i in params.indices { params[i] = rng.uniform(-0.5, 0.5) }
    }
    func forward(params: UnsafeBufferPointer<Float>, batch: Batch,
                 output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        let x = (0..<(batch.n * model.inputs)).map { Double(batch.x[$0]) }
        store(model.predict(doubles(params), x), into: output)
    }
    func lossGrad(params: UnsafeBufferPointer<Float>, batch: Batch,
                         grad gradient: UnsafeMutableBufferPointer<Float>?) throws(BackboneError) -> Float {
        gradientCalls += 1
        let (x, y) = doubles(batch, inputs: model.inputs)
        let (loss, g) = model.lossGrad(doubles(params), x, y)
        if let gradient { store(g, into: gradient) }
        return Float(loss)
    }
    func hvp(params: UnsafeBufferPointer<Float>, batch: Batch, v vector: UnsafeBufferPointer<Float>,
                              output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        hvpCalls += 1
        let (x, y) = doubles(batch, inputs: model.inputs)
        store(model.hvp(doubles(params), x, y, doubles(vector)), into: output)
    }
}

// MARK: - Linear regression: f(x) = w.x + b, H = 2/n [X 1]^T [X 1]

struct LinearModel: DoubleModel {
    var inputs: Int
    var count: Int { inputs + 1 }

    func predict(_ t: [Double], _ x: [Double]) -> [Double] {
        let n = x.count / inputs
        return (0..<n).map { i in (0..<inputs).reduce(t[inputs]) { $0 + t[$1] * x[i * inputs + $1] } }
    }
    func lossGrad(_ t: [Double], _ x: [Double], _ y: [Double]) -> (Double, [Double]) {
        let f = predict(t, x), n = y.count
        var loss = 0.0, g = [Double](repeating: 0, count: count)
        for i in 0..<n {
            let r = f[i] - y[i]
            loss += r * r
            for j in 0..<inputs { g[j] += 2 * r * x[i * inputs + j] / Double(n) }
            g[inputs] += 2 * r / Double(n)
        }
        return (loss / Double(n), g)
    }
    /// The (constant) Hessian 2/n Z^T Z, Z = [X 1].
    func hessian(_ x: [Double]) -> [[Double]] {
        let n = x.count / inputs
        var h = [[Double]](repeating: [Double](repeating: 0, count: count), count: count)
        for i in 0..<n {
            let z = (0..<inputs).map { x[i * inputs + $0] } + [1]
            for a in 0..<count { for b in 0..<count { h[a][b] += 2 * z[a] * z[b] / Double(n) } }
        }
        return h
    }
    func hvp(_ t: [Double], _ x: [Double], _ y: [Double], _ v: [Double]) -> [Double] {
        hessian(x).map { row in zip(row, v).reduce(0) { $0 + $1.0 * $1.1 } }
    }
}

// MARK: - Tanh network: f(x) = sum_j w2_j tanh(w1_j x + b1_j) + b2, exact HVP by the R-operator

/// Parameters: w1[H], b1[H], w2[H], b2.
struct TanhModel: DoubleModel {
    var hidden: Int
    var inputs: Int { 1 }
    var count: Int { 3 * hidden + 1 }

    /// w1 and b1 are the body, w2 and b2 the head.
    var layout: [LayoutTensor] {
        let h = hidden
        return [LayoutTensor(name: "w1", offset: 0, shape: [h], role: "body"),
                LayoutTensor(name: "b1", offset: h, shape: [h], role: "body"),
                LayoutTensor(name: "w2", offset: 2 * h, shape: [h], role: "head"),
                LayoutTensor(name: "b2", offset: 3 * h, shape: [1], role: "head")]
    }

    func predict(_ t: [Double], _ x: [Double]) -> [Double] {
        let h = hidden
        return x.map { xi in (0..<h).reduce(t[3 * h]) { $0 + t[2 * h + $1] * tanhD(t[$1] * xi + t[h + $1]) } }
    }
    func lossGrad(_ t: [Double], _ x: [Double], _ y: [Double]) -> (Double, [Double]) {
        let h = hidden, n = Double(y.count)
        var loss = 0.0, g = [Double](repeating: 0, count: count)
        for (xi, yi) in zip(x, y) {
            let a = (0..<h).map { tanhD(t[$0] * xi + t[h + $0]) }
            let f = (0..<h).reduce(t[3 * h]) { $0 + t[2 * h + $1] * a[$1] }
            let r = f - yi
            loss += r * r
            let e = 2 * r / n
            g[3 * h] += e
            for j in 0..<h {
                g[2 * h + j] += e * a[j]
                let da = e * t[2 * h + j] * (1 - a[j] * a[j])
                g[j] += da * xi; g[h + j] += da
            }
        }
        return (loss / n, g)
    }
    func hvp(_ t: [Double], _ x: [Double], _ y: [Double], _ v: [Double]) -> [Double] {
        let h = hidden, n = Double(y.count)
        var out = [Double](repeating: 0, count: count)
        for (xi, yi) in zip(x, y) {
            var a = [Double](repeating: 0, count: h), ra = a
            var f = t[3 * h], rf = v[3 * h]
            for j in 0..<h {
                a[j] = tanhD(t[j] * xi + t[h + j])
                ra[j] = (1 - a[j] * a[j]) * (v[j] * xi + v[h + j])     // R(h_j)
                f += t[2 * h + j] * a[j]
                rf += v[2 * h + j] * a[j] + t[2 * h + j] * ra[j]
            }
            let e = 2 * (f - yi) / n, re = 2 * rf / n
            out[3 * h] += re
            for j in 0..<h {
                out[2 * h + j] += re * a[j] + e * ra[j]
                let dh = e * t[2 * h + j]
                let rdh = re * t[2 * h + j] + e * v[2 * h + j]
                let rda = rdh * (1 - a[j] * a[j]) + dh * (-2 * a[j] * ra[j])
                out[j] += rda * xi; out[h + j] += rda
            }
        }
        return out
    }
}

/// tanh via exp (the test target avoids Foundation for math).
func tanhD(_ z: Double) -> Double {
    if z > 20 { return 1 }
    if z < -20 { return -1 }
    let e = expD(2 * z)
    return (e - 1) / (e + 1)
}

/// exp by range reduction and a Taylor series, accurate to ~1e-16 relative for |z| <= 40.
func expD(_ z: Double) -> Double {
    let k = (z / 0.6931471805599453).rounded()
    let r = z - k * 0.6931471805599453
    var term = 1.0, sum = 1.0
    for i in 1...25 { term *= r / Double(i); sum += term }
    return sum * Double(sign: .plus, exponent: Int(k), significand: 1)
}

// MARK: - Reference meta-gradients in Double

/// theta_k after k Double inner steps on (xs, ys).
func innerLoop<M: DoubleModel>(_ m: M, _ theta: [Double], _ xs: [Double], _ ys: [Double],
                               steps: Int, lr: Double) -> [[Double]] {
    var iterates = [theta]
    for _ in 0..<steps {
        let g = m.lossGrad(iterates.last!, xs, ys).1
        iterates.append(zip(iterates.last!, g).map { $0 - lr * $1 })
    }
    return iterates
}

/// The full MAML objective L_Q(theta_k(theta)) in Double.
func mamlObjective<M: DoubleModel>(_ m: M, _ theta: [Double], support: ([Double], [Double]),
                                   query: ([Double], [Double]), steps: Int, lr: Double) -> Double {
    let thetaK = innerLoop(m, theta, support.0, support.1, steps: steps, lr: lr).last!
    return m.lossGrad(thetaK, query.0, query.1).0
}

/// Central finite difference gradient of `f` at `x` (Double).
func centralDifference(_ f: ([Double]) -> Double, at x: [Double], h: Double = 1e-5) -> [Double] {
    (0..<x.count).map { i in
        var p = x, q = x
        p[i] += h; q[i] -= h
        return (f(p) - f(q)) / (2 * h)
    }
}

/// ||a - b|| / ||b||.
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    let diff = zip(a, b).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    let ref = b.reduce(0.0) { $0 + $1 * $1 }
    return (diff / max(ref, 1e-300)).squareRoot()
}
