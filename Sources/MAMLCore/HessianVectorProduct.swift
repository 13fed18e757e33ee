// MARK: - Hessian-vector products
//
// Exact when the backbone provides one ("maml.hvp/1"); otherwise a central
// finite difference of two gradients along the unit direction u = v / ||v||:
//
//     H v ~ (g(theta + eps u) - g(theta - eps u)) * ||v|| / (2 eps)
//
// Step choice: eps = 1e-3 * max(1, ||theta||_2). The step is a fixed fraction
// of the parameter norm, so the float32 rounding of theta +- eps u (about
// 6e-8 * ||theta|| in norm) stays ~1e-4 of the step whatever the model's scale,
// and the max(1, .) keeps the step from vanishing near theta = 0. The O(eps^2)
// truncation error is then ~1e-6 relative for smooth models. Models with kinks
// (ReLU) may straddle one inside the step; that is the price of no exact HVP.

/// A human-readable note on the fallback, logged once by the trainer and evaluator.
public let finiteDifferenceHVPNote =
    "finite-difference HVP: the backbone has no exact Hessian-vector product; using central " +
    "differences of two gradients, eps = 1e-3 * max(1, ||theta||)"

/// The finite-difference step for a parameter vector of norm `thetaNorm`.
@inline(__always)
func finiteDifferenceStep(thetaNorm: Double) -> Double { 1e-3 * max(1.0, thetaNorm) }

/// `output` = H(theta) v on `batch`, exact or by finite differences (scratch: two P-float buffers).
/// A zero `v` gives a zero product without calling the backbone.
func hvp(backbone: any Backbone, params: UnsafePointer<Float>, batch: Batch,
                          vector: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                          count n: Int, scratchTheta: UnsafeMutablePointer<Float>,
                          scratchGradient: UnsafeMutablePointer<Float>) throws(BackboneError) {
    if allZero(vector, count: n) {
        output.update(repeating: 0, count: n)
        return
    }
    if backbone.providesHVP {
        try backbone.hvp(params: UnsafeBufferPointer(start: params, count: n), batch: batch,
                                          v: UnsafeBufferPointer(start: vector, count: n),
                                          output: UnsafeMutableBufferPointer(start: output, count: n))
        return
    }
    let vNorm = norm2(vector, count: n)
    let eps = finiteDifferenceStep(thetaNorm: norm2(params, count: n))
    // theta +- eps * u with u = v / ||v|| formed in Double, so a tiny (even subnormal) v cannot overflow.
    let along = eps / vNorm
    let theta = UnsafeBufferPointer(start: UnsafePointer(scratchTheta), count: n)
    for i in 0..<n { scratchTheta[i] = params[i] + Float(along * Double(vector[i])) }
    _ = try backbone.lossGrad(params: theta, batch: batch,
                                     grad: UnsafeMutableBufferPointer(start: output, count: n))
    for i in 0..<n { scratchTheta[i] = params[i] - Float(along * Double(vector[i])) }
    _ = try backbone.lossGrad(params: theta, batch: batch,
                                     grad: UnsafeMutableBufferPointer(start: scratchGradient, count: n))
    let scale = Float(vNorm / (2 * eps))
    for i in 0..<n { output[i] = (output[i] - scratchGradient[i]) * scale }
}
