import MAMLHost
import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Numerical checks against finite differences (conformance)
//
// Everything is compared in Double, on float32 plugin results.
//
// Directions. Every direction u is scaled per parameter: u_i = w_i * s_i with
// s_i = |theta_i| + rms(theta) (floored at 1e-3) and max |w_i| = 1, so a step h
// moves each parameter by at most h times its own scale: weights and biases of
// very different sizes are perturbed in proportion. The directions are the
// (scaled) gradient itself, which catches a flipped sign with the strongest
// signal; three random Gaussian directions; and one random direction inside
// each tensor of the layout (up to 8), which catches a wrong bias gradient that
// a random direction over all P parameters would dilute.
//
// Rounding of the step. theta +- h u is rounded to float32; the comparison uses
// the step actually taken, delta = float(theta + h u) - float(theta - h u), so
// the gradient side is g . delta, exactly what the loss difference estimates.
//
// Tolerance. A float32 loss carries rounding noise; how much depends on the
// plugin (double accumulators or not, the size of the sums). So it is measured:
// the loss at five points 1e-6 apart along a direction should lie on a line,
// and the largest residual bounds the noise (lossNoise: x2 for two evaluations,
// x3 for safety, at least 2 ulps of |L| each). On top of that noise we allow 1%
// relative to the larger of the two derivative estimates, for the O(h^2)
// truncation and float32 gradient error:
//
//     |(L+ - L-) - g . delta| <= 1e-2 * max(|L+ - L-|, |g . delta|) + noise
//
// Too large a step suffers from curvature (and ReLU kinks), too small a step
// from noise, and which is which depends on the model. So h = 1e-2, 3e-3, 1e-3,
// 3e-4, 1e-4 are tried in turn; a step whose noise exceeds half the 1% (it
// could hide a small error) is too noisy to judge and is passed over. A
// direction agrees if one judging step agrees; disagrees if none agrees while
// two successive judging steps give the same finite difference (within 0.5%:
// the function is smooth at that scale) and no noisier step (noise under 2%)
// agrees within its noise; and is inconclusive otherwise (too noisy, or kinks
// make the difference wander with the step). So a correct
// gradient passes, and one off by 2% or more fails (its error exceeds 1% plus a
// noise of at most 0.5%). HVPs use the same rule on vectors, with a fixed noise
// bound of 32 ulps of the gradients: ||(g+ - g-)/(2h) - H u||_2 against the
// norms (ConformanceHVP.swift: kinks, head directions, symmetry).
//
// The gradient check is one case of a scalar function of the parameters and
// the derivative a plugin claims for it (ScalarUnderTest): the loss and
// loss_grad's gradient, or s = u . forward(theta) and maml.vjp/1's product for
// output gradient u (ConformanceVJP.swift). The rule, the localisation and
// the messages are the same; only the names differ.

let finiteDifferenceSteps: [Double] = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4]
let finiteDifferenceRelativeTolerance = 1e-2
/// 32 float32 ulps of a value of size 1.
let float32NoiseUlps = 32.0 * 0x1p-24
/// A step judges only if its noise bound is at most this fraction of the relative tolerance.
let quietFraction = 0.5

/// A batch of Gaussian inputs and targets (or uniform labels) for a model's shapes.
final class CheckData: @unchecked Sendable {
    let n: Int
    let x: UnsafeMutablePointer<Float>
    let y: UnsafeMutablePointer<Float>?
    let labels: UnsafeMutablePointer<Int32>?
    let inputCount: Int, outputCount: Int

    /// Given examples: `x` holds n * inputCount floats, then either `y` (n * outputCount) or `labels` (n).
    init(n: Int, inputCount: Int, outputCount: Int, x: [Float], y: [Float]?, labels: [Int32]?) {
        self.n = n; self.inputCount = inputCount; self.outputCount = outputCount
        self.x = .allocate(capacity: x.count)
        self.x.initialize(from: x, count: x.count)
        self.y = y.map { values in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: values.count)
            p.initialize(from: values, count: values.count)
            return p
        }
        self.labels = labels.map { values in
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: values.count)
            p.initialize(from: values, count: values.count)
            return p
        }
    }

    /// Gaussian inputs, and Gaussian targets or uniform labels, for a model's shapes.
    convenience init(backbone: PluginBackbone, n: Int, seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        let inputs = backbone.inputShape.reduce(1, *), outputs = backbone.outputShape.reduce(1, *)
        let x = (0..<(n * inputs)).map { _ in Float(rng.normal()) }
        if backbone.lossKind == .mse {
            let y = (0..<(n * outputs)).map { _ in Float(rng.normal()) }
            self.init(n: n, inputCount: inputs, outputCount: outputs, x: x, y: y, labels: nil)
        } else {
            let labels = (0..<n).map { _ in Int32(rng.int(below: outputs)) }
            self.init(n: n, inputCount: inputs, outputCount: outputs, x: x, y: nil, labels: labels)
        }
    }

    /// The same examples, each twice (the whole batch, then the whole batch again).
    init(duplicating other: CheckData) {
        n = 2 * other.n
        inputCount = other.inputCount; outputCount = other.outputCount
        x = .allocate(capacity: n * inputCount)
        for copy in 0..<2 { (x + copy * other.n * inputCount).update(from: other.x, count: other.n * inputCount) }
        if let oy = other.y {
            y = .allocate(capacity: n * outputCount)
            for copy in 0..<2 { (y! + copy * other.n * outputCount).update(from: oy, count: other.n * outputCount) }
        } else { y = nil }
        if let ol = other.labels {
            labels = .allocate(capacity: n)
            for copy in 0..<2 { (labels! + copy * other.n).update(from: ol, count: other.n) }
        } else { labels = nil }
    }

    deinit { x.deallocate(); y?.deallocate(); labels?.deallocate() }

    var batch: Batch { Batch(n: n, x: x, yFloat: y, yClass: labels) }
}

// MARK: - Small helpers on PluginBackbone

extension PluginBackbone {
    func initial(seed: UInt64) throws(BackboneError) -> [Float] {
        var p = [Float](repeating: 0, count: parameterCount)
        announceCall("init_params(seed \(seed))")
        try p.withUnsafeMutableBufferPointer { (b) throws(BackboneError) in try initParameters(seed: seed, into: b) }
        return p
    }

    func lossGrad(_ params: [Float], _ data: CheckData, gradient: Bool = true) throws(BackboneError) -> (Float, [Float]) {
        var g = [Float](repeating: 0, count: gradient ? parameterCount : 0)
        announceCall(gradient ? "loss_grad" : "loss_grad(grad NULL)")
        let loss = try params.withUnsafeBufferPointer { (p) throws(BackboneError) -> Float in
            try g.withUnsafeMutableBufferPointer { (gb) throws(BackboneError) -> Float in
                try lossGrad(params: p, batch: data.batch, grad: gradient ? gb : nil)
            }
        }
        return (loss, g)
    }

    func outputs(_ params: [Float], _ data: CheckData) throws(BackboneError) -> [Float] {
        var out = [Float](repeating: 0, count: data.n * outputShape.reduce(1, *))
        announceCall("forward")
        try params.withUnsafeBufferPointer { (p) throws(BackboneError) in
            try out.withUnsafeMutableBufferPointer { (o) throws(BackboneError) in
                try forward(params: p, batch: data.batch, output: o)
            }
        }
        return out
    }

    /// maml.vjp/1's d s / d params for d s / d outputs = `u` (data.n * outputs floats).
    func vjp(_ params: [Float], _ data: CheckData, _ u: [Float]) throws(BackboneError) -> [Float] {
        try product("vjp", params, u) { (p, ub, o) throws(BackboneError) in
            try vjp(params: p, batch: data.batch, outputGrad: ub, grad: o)
        }
    }

    func hvp(_ params: [Float], _ data: CheckData, _ v: [Float]) throws(BackboneError) -> [Float] {
        try product("hvp", params, v) { (p, vb, o) throws(BackboneError) in
            try hvp(params: p, batch: data.batch, v: vb, output: o)
        }
    }

    /// A P-float result of `call` on (params, vector), announced as `name`.
    private func product(_ name: String, _ params: [Float], _ vector: [Float],
                         _ call: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>,
                                  UnsafeMutableBufferPointer<Float>) throws(BackboneError) -> Void) throws(BackboneError) -> [Float] {
        var out = [Float](repeating: 0, count: parameterCount)
        announceCall(name)
        try params.withUnsafeBufferPointer { (p) throws(BackboneError) in
            try vector.withUnsafeBufferPointer { (vb) throws(BackboneError) in
                try out.withUnsafeMutableBufferPointer { (o) throws(BackboneError) in try call(p, vb, o) }
            }
        }
        return out
    }
}

// MARK: - Directions

/// Per-parameter scale s_i = |theta_i| + rms(theta), floored at 1e-3.
func parameterScales(_ theta: [Float]) -> [Double] {
    let rms = (theta.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(1, theta.count))).squareRoot()
    return theta.map { max(abs(Double($0)) + rms, 1e-3) }
}

/// w scaled per parameter (u_i = w_i / max |w| * s_i), as every check direction; nil when w is 0.
func scaledDirection(_ w: [Double], scales s: [Double]) -> [Double]? {
    let top = w.reduce(0.0) { max($0, abs($1)) }
    guard top > 0 else { return nil }
    return zip(w, s).map { $0 / top * $1 }
}

/// Scaled directions to test, each with a name for messages; the first is along `gradient`,
/// called `gradientName` ("along the gradient").
func testDirections(theta: [Float], gradient: [Float], layout: [LayoutTensor]?,
                    seed: UInt64, gradientName: String = "the gradient") -> [(name: String, u: [Double])] {
    let s = parameterScales(theta)
    var rng = RandomGenerator(seed: seed)
    func scaled(_ w: [Double]) -> [Double]? { scaledDirection(w, scales: s) }
    var result: [(String, [Double])] = []
    if let u = scaled(zip(gradient, s).map { Double($0) * $1 }) { result.append(("along \(gradientName)", u)) }
    for k in 1...3 {
        if let u = scaled(theta.indices.map { _ in rng.normal() }) { result.append(("random direction \(k)", u)) }
    }
    for tensor in (layout ?? []).prefix(8) {
        var w = [Double](repeating: 0, count: theta.count)
        for i in tensor.offset..<(tensor.offset + tensor.count) { w[i] = rng.normal() }
        if let u = scaled(w) { result.append(("random direction in tensor '\(tensor.name)'", u)) }
    }
    return result
}

/// theta + h u and theta - h u in float32.
func steppedPair(_ theta: [Float], _ u: [Double], _ h: Double) -> ([Float], [Float]) {
    (zip(theta, u).map { Float(Double($0) + h * $1) }, zip(theta, u).map { Float(Double($0) - h * $1) })
}

// MARK: - Gradient

/// A scalar function of the parameters, computed by the plugin, and the name of the derivative
/// the plugin claims for it: the loss and its gradient, or s = u . forward and the VJP.
struct ScalarUnderTest {
    /// What messages call the claimed derivative: "gradient", "VJP".
    var derivative: String
    /// What messages call the function: "the loss", "s = u . forward".
    var function: String
    /// Its value at the given parameters (float32 from the plugin, summed in Double).
    var value: ([Float]) throws(BackboneError) -> Double

    /// The mean loss of `b` on `data` (loss_grad without a gradient).
    static func loss(_ b: PluginBackbone, _ data: CheckData) -> ScalarUnderTest {
        ScalarUnderTest(derivative: "gradient", function: "the loss") { (p) throws(BackboneError) -> Double in
            Double(try b.lossGrad(p, data, gradient: false).0)
        }
    }
}

/// The verdict of the finite-difference check of a derivative: the worst error as a fraction
/// of its tolerance over the directions that agree, how many agreed, how many were
/// inconclusive (every step too noisy), how many were not started because the deadline had
/// passed, and, if a direction disagreed at every step quiet enough to judge, why.
typealias DerivativeVerdict = (worst: Double, agreed: Int, inconclusive: Int, unchecked: Int, failure: String?)

/// Checks the gradient at `theta` against central differences (checkDerivative).
func checkGradient(_ b: PluginBackbone, theta: [Float], data: CheckData, seed: UInt64,
                   deadline: ContinuousClock.Instant? = nil) throws(BackboneError) -> DerivativeVerdict {
    let (loss, g) = try b.lossGrad(theta, data)
    return try checkDerivative(.loss(b, data), at: theta, value: Double(loss), derivative: g, layout: b.layout,
                               seed: seed, deadline: deadline)
}

/// Checks `derivative`, the plugin's claim for d f / d theta at `theta` (where f is `value`),
/// against central differences of f along the test directions (the first along the
/// derivative itself). After `deadline`, once a direction agreed, no more are started
/// (slow models in debug builds). `trusted`, when given, is asked about a direction that
/// disagrees before it counts: false (finite differences cannot be trusted along it, e.g. a
/// known-good derivative of another function disagrees with them there too) makes it
/// inconclusive instead.
func checkDerivative(_ f: ScalarUnderTest, at theta: [Float], value: Double, derivative g: [Float],
                     layout: [LayoutTensor]?, seed: UInt64, deadline: ContinuousClock.Instant? = nil,
                     trusted: (([Double]) throws(BackboneError) -> Bool)? = nil) throws(BackboneError) -> DerivativeVerdict {
    let directions = testDirections(theta: theta, gradient: g, layout: layout, seed: seed,
                                    gradientName: "the \(f.derivative)")
    let noise = try valueNoise(f, theta: theta, value: value, along: directions.last?.u ?? [])
    var worst = 0.0, agreed = 0, inconclusive = 0
    for (index, (name, u)) in directions.enumerated() {
        if agreed > 0, let deadline, ContinuousClock.now > deadline {
            return (worst, agreed, inconclusive, directions.count - index, nil)
        }
        let d: (relative: Double, analytic: Double, numeric: Double, step: Double)
        switch try probeDirection(f, theta: theta, derivative: g, u: u, noise: noise) {
        case .agrees(let fraction): worst = max(worst, fraction); agreed += 1; continue
        case .inconclusive: inconclusive += 1; continue
        case .disagrees(let relative, let analytic, let numeric, let step): d = (relative, analytic, numeric, step)
        }
        if let trusted, !(try trusted(u)) { inconclusive += 1; continue }
        let ratio = d.numeric != 0 ? d.analytic / d.numeric : .nan
        // Where along u the error lies, unless the time for numerics is spent.
        let place = deadline.map { ContinuousClock.now > $0 } == true ? nil
            : try localiseError(f, theta: theta, derivative: g, layout: layout ?? [], u: u, step: d.step,
                                noise: noise, direction: name)
        let summary = """
            \(name): derivative from the \(f.derivative) \(sci(d.analytic / (2 * d.step))), \
            from finite differences of \(f.function) \(sci(d.numeric / (2 * d.step))) \
            (\(f.derivative)/finite-difference ratio \(sci(ratio)); relative error \(sci(d.relative)) at the best of steps 1e-2 ... 1e-4)\
            \(place == nil ? hint(ratio, f.derivative) : "")
            """
        return (worst, agreed, inconclusive, 0, place.map { "\($0); \(summary)" } ?? summary)
    }
    return (worst, agreed, inconclusive, 0, nil)
}

/// The verdict on one direction: agrees (with its error as a fraction of the tolerance),
/// disagrees (at every step quiet enough to judge, the finite differences consistent
/// between steps: the best step's numbers), or inconclusive.
enum DirectionVerdict {
    case agrees(Double)
    case disagrees(relative: Double, analytic: Double, numeric: Double, step: Double)
    case inconclusive
}

/// `derivative` . u against central differences of f along u, by the rule at the top of the file;
/// `noise` bounds the rounding noise of f(theta+) - f(theta-).
func probeDirection(_ f: ScalarUnderTest, theta: [Float], derivative g: [Float], u: [Double],
                    noise: Double) throws(BackboneError) -> DirectionVerdict {
    var disagreement: (relative: Double, analytic: Double, numeric: Double, step: Double)?
    var ratios: [Double] = []   // numeric / analytic at successive judging steps
    var vetoed = false
    for h in finiteDifferenceSteps {
        let (plus, minus) = steppedPair(theta, u, h)
        let lp = try f.value(plus), lm = try f.value(minus)
        var analytic = 0.0
        for i in theta.indices { analytic += Double(g[i]) * (Double(plus[i]) - Double(minus[i])) }
        let numeric = lp - lm
        let scale = max(abs(analytic), abs(numeric))
        let error = abs(numeric - analytic), tolerance = finiteDifferenceRelativeTolerance * scale + noise
        // A step whose noise could hide a 1% error cannot pass a direction; if its noise
        // is still below 2% and it agrees within it, it vetoes a failure (inconclusive).
        guard noise <= quietFraction * finiteDifferenceRelativeTolerance * scale else {
            if noise <= 2 * finiteDifferenceRelativeTolerance * scale && error <= tolerance { vetoed = true }
            continue
        }
        if error <= tolerance { return .agrees(error / tolerance) }
        if error / scale < (disagreement?.relative ?? .infinity) { disagreement = (error / scale, analytic, numeric, h) }
        ratios.append(analytic != 0 ? numeric / analytic : .infinity)
    }
    // A disagreement counts only where the finite differences are consistent (two
    // successive judging steps within 0.5% of each other): ReLU kinks make them
    // wander with the step, and then they say nothing about the gradient.
    let consistent = zip(ratios, ratios.dropFirst()).contains { abs($0 - $1) <= quietFraction * finiteDifferenceRelativeTolerance }
    guard let d = disagreement, consistent, !vetoed else { return .inconclusive }
    return .disagrees(relative: d.relative, analytic: d.analytic, numeric: d.numeric, step: d.step)
}

/// True if f's central differences along u match `derivative` . u within half the tolerance (plus
/// noise) at every step from 3e-3 down that is quiet enough to judge, and at least one is: f is
/// smooth along u at the scale of the steps. Where a ReLU or max-pool network crosses many kinks
/// the differences give an average slope, steady from step to step, that can be a few percent off
/// the slope at theta; they then wander by more than that half (the largest step, 1e-2, is left
/// out: a smooth f's curvature may show there).
func smoothAlong(_ f: ScalarUnderTest, theta: [Float], derivative g: [Float], u: [Double],
                 noise: Double) throws(BackboneError) -> Bool {
    var judged = 0
    for h in finiteDifferenceSteps.dropFirst() {
        let (plus, minus) = steppedPair(theta, u, h)
        let numeric = try f.value(plus) - f.value(minus)
        var analytic = 0.0
        for i in theta.indices { analytic += Double(g[i]) * (Double(plus[i]) - Double(minus[i])) }
        let bound = quietFraction * finiteDifferenceRelativeTolerance * max(abs(analytic), abs(numeric))
        guard noise <= bound else { continue }
        guard abs(numeric - analytic) <= bound + noise else { return false }
        judged += 1
    }
    return judged > 0
}

// MARK: - Localising a gradient error
//
// A failed direction says the gradient is wrong somewhere along u, not where.
// The error of the directional derivative is a sum over the parameters,
// E = sum_i (g_i - dL/dtheta_i) delta_i, and a central difference along u
// restricted to a subset S of the parameters (the others held fixed) measures
// its part E_S (at the failing step h, with the same float32 step rounding).
// Bisection of the parameters along u, keeping the half whose part is larger,
// ends at one parameter, whose central difference is its partial derivative.
// It is named only if the error is really there: its own derivative
// disagrees, and along u without it the gradient agrees with finite
// differences at a step quiet enough to judge (as in checkGradient), with a
// relative error under a quarter of the whole direction's. Otherwise, with a
// layout, the tensor whose part is largest is named under the same rule (it
// disagrees, the other tensors together agree). An error spread over many
// parameters (a gradient off by a factor everywhere) names nothing: the rest
// is off by the same factor, or too small to judge. Cost: 4 loss evaluations
// per bisection level, 2 per tensor (up to 64 tensors) and a few more.

/// "gradient of layer1.bias[3] is 0.53, finite differences say 0.62 (...)" when one parameter
/// holds the error along `u`; "the error lies in tensor ..." when one tensor does; else nil.
/// (For a VJP: "VJP of ...".)
func localiseError(_ f: ScalarUnderTest, theta: [Float], derivative g: [Float], layout: [LayoutTensor],
                   u: [Double], step h: Double, noise: Double,
                   direction: String) throws(BackboneError) -> String? {
    struct Part { var error = 0.0, numeric = 0.0, analytic = 0.0, delta = 0.0 }
    /// The central difference along u restricted to `indices` (the other parameters held fixed).
    func part(_ indices: ArraySlice<Int>) throws(BackboneError) -> Part {
        var w = [Double](repeating: 0, count: theta.count)
        for i in indices { w[i] = u[i] }
        let (plus, minus) = steppedPair(theta, w, h)
        let lp = try f.value(plus), lm = try f.value(minus)
        var result = Part()
        for i in indices {
            let d = Double(plus[i]) - Double(minus[i])
            result.analytic += Double(g[i]) * d; result.delta = d
        }
        result.numeric = lp - lm
        result.error = result.numeric - result.analytic
        return result
    }
    func scale(_ p: Part) -> Double { max(abs(p.numeric), abs(p.analytic)) }
    func relative(_ p: Part) -> Double { scale(p) > 0 ? abs(p.error) / scale(p) : 0 }
    /// The part holding the error: it disagrees by more than the tolerance.
    func disagrees(_ p: Part) -> Bool { abs(p.error) > finiteDifferenceRelativeTolerance * scale(p) + noise }
    let support = ArraySlice(u.indices.filter { u[$0] != 0 })
    guard support.count > 1 else { return nil }
    let whole = try part(support)
    /// The rest, clean: quiet enough to judge, within the tolerance, and well under the whole's error.
    func clean(_ p: Part) -> Bool {
        noise <= quietFraction * finiteDifferenceRelativeTolerance * scale(p) && !disagrees(p)
            && relative(p) <= 0.25 * relative(whole)
    }
    let along = direction.hasPrefix("along ") ? direction : "along \(direction)"

    var search = support
    while search.count > 1 {
        let middle = search.startIndex + search.count / 2
        let left = search[..<middle], right = search[middle...]
        search = abs(try part(left).error) >= abs(try part(right).error) ? left : right
    }
    let i = search.first!
    let leaf = try part(search)
    if disagrees(leaf), leaf.delta != 0, clean(try part(ArraySlice(support.filter { $0 != i }))) {
        let name = parameterName(i, layout: layout)
        return "\(f.derivative) of \(name) is \(sci(Double(g[i]))), finite differences say \(sci(leaf.numeric / leaf.delta)) "
            + "(\(name.hasPrefix("parameter ") ? "" : "parameter \(i); ")\(along) every other parameter agrees)"
    }

    guard (2...64).contains(layout.count) else { return nil }
    var worst: (tensor: LayoutTensor, part: Part)?
    for tensor in layout {
        let inside = ArraySlice(support.filter { $0 >= tensor.offset && $0 < tensor.offset + tensor.count })
        guard !inside.isEmpty else { continue }
        let p = try part(inside)
        if abs(p.error) > abs(worst?.part.error ?? 0) { worst = (tensor, p) }
    }
    guard let (tensor, p) = worst, disagrees(p) else { return nil }
    let outside = ArraySlice(support.filter { $0 < tensor.offset || $0 >= tensor.offset + tensor.count })
    guard !outside.isEmpty, clean(try part(outside)) else { return nil }   // no other tensor to compare with
    return "the error lies in tensor '\(tensor.name)' (\(tensor.role)): \(along) its part of the derivative is "
        + "\(sci(p.analytic / (2 * h))) from the \(f.derivative), \(sci(p.numeric / (2 * h))) from finite differences, "
        + "and the other tensors agree"
}

/// "layer1.bias[3]", "layer1.weight[2, 0]" (row-major indices in the tensor's shape), or "parameter 17"
/// without a layout.
func parameterName(_ index: Int, layout: [LayoutTensor]) -> String {
    guard let tensor = layout.first(where: { index >= $0.offset && index < $0.offset + $0.count }) else {
        return "parameter \(index)"
    }
    var rest = index - tensor.offset
    var indices: [Int] = []
    for dim in tensor.shape.reversed() { indices.append(rest % dim); rest /= dim }
    return "\(tensor.name)[\(indices.reversed().map(String.init).joined(separator: ", "))]"
}

/// A bound on the rounding noise of L(theta+) - L(theta-): the loss at five
/// points 1e-6 (relative) apart along `u` should lie on a line; the largest
/// residual from the least-squares line measures the plugin's float32 noise at
/// theta. The bound is 2 x 3 x that residual (two evaluations, a safety factor of
/// 3), and never below 2 x 2 ulps of |L|.
func lossNoise(_ b: PluginBackbone, theta: [Float], loss: Float, along u: [Double],
               data: CheckData) throws(BackboneError) -> Double {
    try valueNoise(.loss(b, data), theta: theta, value: Double(loss), along: u)
}

/// lossNoise for any scalar function under test (`value` is its value at theta).
func valueNoise(_ f: ScalarUnderTest, theta: [Float], value: Double, along u: [Double]) throws(BackboneError) -> Double {
    let floor = 2 * 2 * 0x1p-24 * abs(value)
    guard u.count == theta.count, !u.isEmpty else { return float32NoiseUlps * 2 * abs(value) }
    var values: [Double] = []
    for k in -2...2 {
        let point = zip(theta, u).map { Float(Double($0) + Double(k) * 1e-6 * $1) }
        values.append(try f.value(point))
    }
    let mean = values.reduce(0, +) / 5
    let slope = (-2 * values[0] - values[1] + values[3] + 2 * values[4]) / 10
    let residual = (0..<5).map { abs(values[$0] - mean - slope * Double($0 - 2)) }.max()!
    return max(2 * 3 * residual, floor)
}

private func hint(_ ratio: Double, _ derivative: String) -> String {
    if abs(ratio + 1) < 0.05 { return "; the \(derivative) has the wrong sign" }
    if ratio.isFinite && ratio > 0 { return "; the \(derivative) is off by a factor \(sci(ratio))" }
    return ""
}

// MARK: - Loss from forward outputs

/// The mean loss of `outputs` on `data`, in Double, as the ABI defines it.
func referenceLoss(outputs: [Float], data: CheckData, kind: LossKind) -> Double {
    let k = data.outputCount
    var total = 0.0
    for e in 0..<data.n {
        let row = outputs[(e * k)..<((e + 1) * k)].map(Double.init)
        switch kind {
        case .mse:
            for j in 0..<k { let r = row[j] - Double(data.y![e * k + j]); total += r * r }
        case .softmaxCrossEntropy:
            let top = row.max()!
            let lse = top + log(row.reduce(0.0) { $0 + exp($1 - top) })
            total += lse - row[Int(data.labels![e])]
        }
    }
    return kind == .mse ? total / Double(data.n * k) : total / Double(data.n)
}

/// 1.234e-05 style, short, for messages.
func sci(_ x: Double) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
    if x == 0 { return "0" }
    let exponent = Int(floor(log10(abs(x))))
    if exponent >= -3 && exponent < 5 {
        let digits = max(0, 3 - exponent)
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let text = "\((x * scale).rounded() / scale)"
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
    let mantissa = (x / pow(10, Double(exponent)) * 100).rounded() / 100
    return "\(mantissa)e\(exponent < 0 ? "-" : "+")\(abs(exponent) < 10 ? "0" : "")\(abs(exponent))"
}

