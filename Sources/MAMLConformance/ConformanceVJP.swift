import MAMLHost
import MAMLCore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - The vector-Jacobian product against finite differences (conformance)
//
// maml.vjp/1 claims d s / d theta for s(theta) = u . forward(theta) (the dot product over
// all n * outputs elements of the batch), given the output gradient u. That is a scalar
// function of the parameters and its derivative, so the gradient check's rule applies as
// it is (ConformanceNumerics.swift): central differences of s, computed in Double from
// float32 forward outputs, along the VJP itself, three random directions and one
// direction per layout tensor; a failed direction is localised to one parameter or one
// tensor ("VJP of layer1.bias[3] is ..."). u is Gaussian, seeded. Kinks: a direction
// that disagrees fails the check only where the loss is smooth along it (its finite
// differences match loss_grad's gradient at every step, checkVJP); elsewhere it is
// inconclusive. Directions in the layout's "head" tensors cross no kink: s is affine there.
//
// Then a check that needs no finite differences (and so is blind to no kink): with u =
// d loss / d outputs, computed here in Double from forward's outputs and the batch's
// targets (MSE: 2 (z - y) / (n k); softmax CE: (softmax(z) - onehot) / n), the VJP is the
// gradient of the loss by the chain rule, and must equal loss_grad's gradient. A VJP that
// differentiates another forward pass than the one forward computes (running instead of
// batch statistics, a head left out) fails here. Tolerance: 1e-3 of the larger norm
// (the two differ by the rounding of u), plus 32 ulps of the norms.

/// s = u . forward(theta) on `data`, summed in Double.
func vjpScalar(_ b: PluginBackbone, _ data: CheckData, u: [Float]) -> ScalarUnderTest {
    ScalarUnderTest(derivative: "VJP", function: "s = u . forward") { (p) throws(BackboneError) -> Double in
        let out = try b.outputs(p, data)
        var s = 0.0
        for i in out.indices { s += Double(u[i]) * Double(out[i]) }
        return s
    }
}

/// A Gaussian output gradient for `data`'s batch (n * outputs floats).
func randomOutputGradient(_ data: CheckData, seed: UInt64) -> [Float] {
    var rng = RandomGenerator(seed: seed)
    return (0..<(data.n * data.outputCount)).map { _ in Float(rng.normal()) }
}

/// Checks maml.vjp/1 at `theta` for a random output gradient (seeded) against central differences
/// of s = u . forward: the gradient check's rule, directions and localisation. A direction that
/// disagrees counts only where the model is smooth along it: where finite differences of the
/// loss match loss_grad's gradient (the gradient check passed) within half the tolerance at
/// every step (smoothAlong). Otherwise it is inconclusive: in a conv net of the default size a
/// step in a body direction straddles many ReLU and max-pool kinks, and the difference of s
/// is an average slope, steady from step to step, a few percent off the slope at theta.
func checkVJP(_ b: PluginBackbone, theta: [Float], data: CheckData, seed: UInt64,
              deadline: ContinuousClock.Instant? = nil) throws(BackboneError) -> DerivativeVerdict {
    let u = randomOutputGradient(data, seed: seed)
    let f = vjpScalar(b, data, u: u)
    let product = try b.vjp(theta, data, u)
    let (loss, gradient) = try b.lossGrad(theta, data)
    let lossFunction = ScalarUnderTest.loss(b, data)
    var lossNoise: Double?
    let trusted = { (direction: [Double]) throws(BackboneError) -> Bool in
        let noise: Double
        if let known = lossNoise { noise = known } else {
            noise = try valueNoise(lossFunction, theta: theta, value: Double(loss), along: direction)
            lossNoise = noise
        }
        return try smoothAlong(lossFunction, theta: theta, derivative: gradient, u: direction, noise: noise)
    }
    return try checkDerivative(f, at: theta, value: try f.value(theta), derivative: product, layout: b.layout,
                               seed: seed &+ 1, deadline: deadline, trusted: trusted)
}

/// d loss / d outputs of the ABI's losses, in Double, from `outputs` and `data`'s targets.
func lossOutputGradient(outputs: [Float], data: CheckData, kind: LossKind) -> [Float] {
    let k = data.outputCount, n = data.n
    var g = [Float](repeating: 0, count: n * k)
    for e in 0..<n {
        let row = outputs[(e * k)..<((e + 1) * k)].map(Double.init)
        switch kind {
        case .mse:
            for j in 0..<k { g[e * k + j] = Float(2 * (row[j] - Double(data.y![e * k + j])) / Double(n * k)) }
        case .softmaxCrossEntropy:
            let top = row.max()!
            let exps = row.map { exp($0 - top) }
            let sum = exps.reduce(0, +)
            let label = Int(data.labels![e])
            for j in 0..<k { g[e * k + j] = Float((exps[j] / sum - (j == label ? 1 : 0)) / Double(n)) }
        }
    }
    return g
}

/// maml.vjp/1 with output_grad = d loss / d outputs against loss_grad's gradient (the comment at the
/// top): the relative difference of the two vectors, and a failure naming where they differ.
func checkVJPAgainstLossGrad(_ b: PluginBackbone, theta: [Float], data: CheckData)
    throws(BackboneError) -> (relative: Double, failure: String?) {
    let outputs = try b.outputs(theta, data)
    let seed = lossOutputGradient(outputs: outputs, data: data, kind: b.lossKind)
    let product = try b.vjp(theta, data, seed)
    let (_, gradient) = try b.lossGrad(theta, data)
    let a = product.map(Double.init), g = gradient.map(Double.init)
    let normA = norm(a), normG = norm(g)
    let difference = norm(zip(a, g).map { $0 - $1 })
    let scale = max(normA, normG)
    let tolerance = 1e-3 * scale + float32NoiseUlps * (normA + normG)
    let relative = scale > 0 ? difference / scale : 0
    guard difference > tolerance else { return (relative, nil) }
    let layout = b.layout ?? []
    let worst = a.indices.max { abs(a[$0] - g[$0]) < abs(a[$1] - g[$1]) }!
    var place = "; the largest difference is at \(parameterName(worst, layout: layout))"
        + (layout.isEmpty ? "" : " (parameter \(worst))")
        + ": VJP \(sci(a[worst])), gradient \(sci(g[worst]))"
    // One tensor holding (nearly) all of the difference is named.
    let squared = difference * difference
    for tensor in layout where layout.count > 1 {
        let range = tensor.offset..<(tensor.offset + tensor.count)
        let part = range.reduce(0.0) { $0 + (a[$1] - g[$1]) * (a[$1] - g[$1]) }
        if part >= 0.99 * squared {
            place = "; the difference lies in tensor '\(tensor.name)' (\(tensor.role)), the other tensors agree" + place
            break
        }
    }
    return (relative, """
        with output_grad = d loss / d outputs (from forward's outputs and the targets), maml.vjp/1 must give \
        loss_grad's gradient (chain rule), but ||VJP|| is \(sci(normA)), ||gradient|| \(sci(normG)), \
        ||difference|| \(sci(difference)) (relative \(sci(relative)), tolerance 1e-3)\(place): the VJP is not the \
        derivative of the forward pass loss_grad differentiates
        """)
}

private func norm(_ a: [Double]) -> Double { a.reduce(0.0) { $0 + $1 * $1 }.squareRoot() }
