import MAMLHost
import MAMLCore

// MARK: - The exact Hessian-vector product against finite differences (conformance)
//
// Random directions. H u from maml.hvp/1 is compared with central differences
// of gradients, (g(theta + h u) - g(theta - h u)) / 2h, along three random
// directions scaled as in ConformanceNumerics.swift, with its rule: 1% relative
// error plus float32 noise (32 ulps of the gradients), steps 1e-2 ... 1e-4.
//
// Kinks. ReLU and max-pool (and batch norm over them) make the gradient jump
// where a unit changes side. A difference that straddles k kinks carries k
// jumps / 2h, and k grows like h: the error is O(1) at every step and does not
// shrink with it in float32 (a step small enough to straddle none drowns in
// rounding). So a direction counts as a disagreement only where two successive
// steps agree with each other within 5% (smooth at that scale); otherwise it is
// inconclusive. A conv net of the default size is inconclusive in every random
// direction.
//
// Zero curvature. A step is too noisy to judge a 1% error when its noise bound
// exceeds 0.5% of the larger norm; that happens for kinks (the estimates wander)
// but also when there is nothing to measure: for a loss linear in the
// parameters along u the gradients at theta +- h u are equal, H u is 0, and so
// is the difference. A step where both norms are within the noise bound (and
// so agree within it) shows no curvature rather than a kink; a direction whose
// every step shows none has zero curvature, and the exact product matches.
// A product that is wrong shows: a non-zero H u above the noise disagrees with
// the zero differences, and a zero H u of a curved loss disagrees at the steps
// where the differences rise above the noise.
//
// Head directions (when no random direction could be judged). A direction that
// moves only the layout's "head" tensors (the output layer, after the last
// nonlinearity) moves no ReLU, max-pool or batch-norm decision: the gradient is
// smooth along it, its finite differences settle, and the whole product H u,
// every row, must match them (a random combination of the head's columns of H).
//
// Symmetry. H is symmetric, so for a verified head direction u and any
// direction v, u . (H v) must equal v . (H u), which finite differences pinned
// down: this checks H v along arbitrary (kinked) directions, through the head
// rows. Pairs of random directions must also satisfy v . (H w) = w . (H v): a
// product that treats rows and columns differently (a term of the R-operator's
// forward pass wrong, its backward pass right) breaks it.
//
// Tolerance of the dot products a = x . y and b (in Double, of the float32
// vectors given to and returned by the plugin): 1% of max(|a|, |b|), plus 1% of
// the spread sqrt(sum_i (x_i y_i)^2), which is what the sum adds up to when each
// product's error has its own sign (so entries each within 1% pass however much
// the sum cancels), plus 32 ulps of sum_i |x_i y_i| (rounding of the entries).
// A wrong block of H moves the sum by a sizeable part of its spread and fails.

/// The verdict on one HVP direction. `zeroCurvature`: at every step both H v and the finite
/// differences of gradients are within float32 noise of 0 (a loss linear along v), and agree;
/// the largest of the two norms is given.
enum HVPVerdict { case agrees(Double), zeroCurvature(Double), disagrees(String), inconclusive }

/// One direction compared: the float32 vector given to maml.hvp/1, its product, the verdict.
struct HVPProbe {
    var name: String
    var v: [Float]
    var hv: [Float]
    var verdict: HVPVerdict
}

/// H u from the plugin against central differences of gradients along u (the rule above).
/// `note` follows the name in the failure message.
func probeHVP(_ b: PluginBackbone, theta: [Float], data: CheckData, u: [Double], name: String, note: String = "")
    throws(BackboneError) -> HVPProbe {
    let v = u.map { Float($0) }
    let product = try b.hvp(theta, data, v)
    let hv = product.map(Double.init)
    let normA = euclideanNorm(hv)
    var estimates: [[Double]] = []
    var best: (relative: Double, estimate: [Double])?
    var flatSteps = 0, flatNorm = 0.0
    for h in finiteDifferenceSteps {
        let (plus, minus) = steppedPair(theta, u, h)
        let (_, gp) = try b.lossGrad(plus, data)
        let (_, gm) = try b.lossGrad(minus, data)
        var estimate = [Double](repeating: 0, count: theta.count)
        var normG = 0.0
        for i in theta.indices {
            estimate[i] = (Double(gp[i]) - Double(gm[i])) / (2 * h)
            normG += Double(gp[i]) * Double(gp[i]) + Double(gm[i]) * Double(gm[i])
        }
        let error = distance(estimate, hv)
        let scale = max(normA, euclideanNorm(estimate))
        let noise = float32NoiseUlps * 2 * normG.squareRoot() / (2 * h)
        let tolerance = finiteDifferenceRelativeTolerance * scale + noise
        let quiet = noise <= quietFraction * finiteDifferenceRelativeTolerance * scale
        if quiet && error <= tolerance {
            return HVPProbe(name: name, v: v, hv: product, verdict: .agrees(scale > 0 ? error / scale : 0))
        }
        guard quiet else {
            // Too noisy to judge a relative error; but if neither side rises above the noise,
            // there is no curvature along u for float32 gradients to show (not a kink).
            if scale <= noise && error <= tolerance { flatSteps += 1; flatNorm = max(flatNorm, scale) }
            continue
        }
        if scale > 0 && error / scale < (best?.relative ?? .infinity) { best = (error / scale, estimate) }
        estimates.append(estimate)
    }
    if flatSteps == finiteDifferenceSteps.count {
        return HVPProbe(name: name, v: v, hv: product, verdict: .zeroCurvature(flatNorm))
    }
    // Smooth at this scale if two successive estimates agree within 5%.
    let consistent = zip(estimates, estimates.dropFirst()).contains { a, c in
        distance(a, c) <= 0.05 * max(euclideanNorm(a), euclideanNorm(c))
    }
    guard consistent, let best else { return HVPProbe(name: name, v: v, hv: product, verdict: .inconclusive) }
    let normF = euclideanNorm(best.estimate)
    return HVPProbe(name: name, v: v, hv: product, verdict: .disagrees("""
        \(name)\(note): ||H v|| from maml.hvp/1 is \(sci(normA)), from finite differences of gradients \
        \(sci(normF)) (norm ratio \(sci(normF > 0 ? normA / normF : .nan)); relative error \
        \(sci(best.relative)) at the best of steps 1e-2 ... 1e-4, where the finite differences agree with each other)\
        \(worstRows(hv, best.estimate, layout: b.layout))
        """))
}

/// Checks the exact HVP along three random directions. After `deadline`, once a
/// direction agreed, no more are started (fewer verdicts come back).
func checkHVP(_ b: PluginBackbone, theta: [Float], data: CheckData, seed: UInt64,
              deadline: ContinuousClock.Instant? = nil) throws(BackboneError) -> [HVPVerdict] {
    let s = parameterScales(theta)
    var rng = RandomGenerator(seed: seed)
    var verdicts: [HVPVerdict] = []
    for k in 1...3 {
        if let deadline, ContinuousClock.now > deadline, verdicts.contains(where: \.isAgreement) { break }
        guard let u = scaledDirection(theta.indices.map { _ in rng.normal() }, scales: s) else { continue }
        verdicts.append(try probeHVP(b, theta: theta, data: data, u: u, name: "random direction \(k)").verdict)
    }
    return verdicts
}

// MARK: - Head directions and symmetry

/// What the head-direction and symmetry stage verified, or the failure it found.
struct HeadHVPResult {
    /// Relative errors of the head directions that agree with finite differences.
    var agreed: [Double] = []
    var inconclusive = 0
    /// Symmetry pairs checked (head x random, random x random) and the worst relative difference.
    var headPairs = 0, randomPairs = 0
    var worstAsymmetry = 0.0
    var failure: String?
}

/// The stage for models whose random directions all cross kinks: three random head
/// directions against finite differences, then symmetry (the comment at the top).
/// Nil when the layout marks no "head" tensor. After `deadline`, once a head
/// direction agreed, no more are started.
func checkHVPThroughHead(_ b: PluginBackbone, theta: [Float], data: CheckData, seed: UInt64,
                         deadline: ContinuousClock.Instant? = nil) throws(BackboneError) -> HeadHVPResult? {
    let head = (b.layout ?? []).filter { $0.role == "head" }
    guard !head.isEmpty else { return nil }
    let s = parameterScales(theta)
    var rng = RandomGenerator(seed: seed)
    var result = HeadHVPResult()
    var verified: [HVPProbe] = []
    for k in 1...3 {
        if !verified.isEmpty, let deadline, ContinuousClock.now > deadline { break }
        var w = [Double](repeating: 0, count: theta.count)
        for tensor in head { for i in tensor.offset..<(tensor.offset + tensor.count) { w[i] = rng.normal() } }
        guard let u = scaledDirection(w, scales: s) else { continue }   // head tensors of size 0
        let probe = try probeHVP(b, theta: theta, data: data, u: u, name: "head direction \(k)",
                                 note: " (it moves only the layout's \"head\" tensors: no ReLU or max-pool kink lies along it)")
        switch probe.verdict {
        case .agrees(let relative): result.agreed.append(relative); verified.append(probe)
        case .zeroCurvature: result.agreed.append(0); verified.append(probe)
        case .disagrees(let why): result.failure = why; return result
        case .inconclusive: result.inconclusive += 1
        }
    }
    guard !verified.isEmpty else { return result }

    var randoms: [HVPProbe] = []
    for k in 1...3 {
        guard let u = scaledDirection(theta.indices.map { _ in rng.normal() }, scales: s) else { continue }
        let v = u.map { Float($0) }
        randoms.append(HVPProbe(name: "random direction \(k)", v: v, hv: try b.hvp(theta, data, v), verdict: .inconclusive))
    }
    var pairs: [(HVPProbe, HVPProbe)] = verified.flatMap { u in randoms.map { (u, $0) } }
    result.headPairs = pairs.count
    for i in randoms.indices { for j in randoms.indices where j > i { pairs.append((randoms[i], randoms[j])) } }
    result.randomPairs = pairs.count - result.headPairs
    for (index, (x, y)) in pairs.enumerated() {
        let a = dotProduct(x.v, y.hv), c = dotProduct(y.v, x.hv)   // x . (H y), y . (H x)
        let spread = max(productSpread(x.v, y.hv), productSpread(y.v, x.hv))
        let rounding = float32NoiseUlps * (absoluteProductSum(x.v, y.hv) + absoluteProductSum(y.v, x.hv))
        let tolerance = finiteDifferenceRelativeTolerance * (max(abs(a), abs(c)) + spread) + rounding
        let relative = abs(a - c) / max(abs(a), abs(c), .leastNormalMagnitude)
        guard abs(a - c) <= tolerance else {
            let verdict = index < result.headPairs
                ? "H u agrees with finite differences of gradients, so H v is wrong (at least in the head tensors' rows)"
                : "maml.hvp/1 is not symmetric, so it is not the Hessian of the loss"
            result.failure = """
                symmetry: for \(x.name) u and \(y.name) v, u . (H v) is \(sci(a)) but v . (H u) is \(sci(c)) \
                (relative difference \(sci(relative)), tolerance \(sci(tolerance / max(abs(a), abs(c), .leastNormalMagnitude)))); \
                the Hessian is symmetric and \(verdict)
                """
            return result
        }
        result.worstAsymmetry = max(result.worstAsymmetry, relative)
    }
    return result
}

// MARK: - Helpers

extension HVPVerdict {
    /// Agrees with the finite differences, with or without curvature to compare.
    var isAgreement: Bool {
        switch self {
        case .agrees, .zeroCurvature: return true
        case .disagrees, .inconclusive: return false
        }
    }
    var isInconclusive: Bool { if case .inconclusive = self { return true } else { return false } }
}

/// "; the rows of tensor 'x' (role) are off the most (norm ratio r)" when the layout
/// has several tensors: where in H v the plugin and the finite differences part.
private func worstRows(_ hv: [Double], _ fd: [Double], layout: [LayoutTensor]?) -> String {
    guard let layout, layout.count > 1 else { return "" }
    var worst: (error: Double, tensor: LayoutTensor, ratio: Double)?
    for tensor in layout {
        let rows = tensor.offset..<(tensor.offset + tensor.count)
        let error = distance(Array(hv[rows]), Array(fd[rows]))
        guard error > (worst?.error ?? 0) else { continue }
        let normF = euclideanNorm(Array(fd[rows]))
        worst = (error, tensor, normF > 0 ? euclideanNorm(Array(hv[rows])) / normF : .nan)
    }
    guard let worst else { return "" }
    return "; the rows of tensor '\(worst.tensor.name)' (\(worst.tensor.role)) are off the most (norm ratio \(sci(worst.ratio)))"
}

private func euclideanNorm(_ a: [Double]) -> Double { a.reduce(0.0) { $0 + $1 * $1 }.squareRoot() }

private func distance(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
}

private func dotProduct(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

/// sqrt(sum_i (a_i b_i)^2): the size of a . b when its terms' errors have random signs.
private func productSpread(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0.0) { let p = Double($1.0) * Double($1.1); return $0 + p * p }.squareRoot()
}

private func absoluteProductSum(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
}
