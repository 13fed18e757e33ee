// MARK: - Implicit MAML (Rajeswaran, Finn, Kakade, Levine 2019)
//
// The inner problem is proximal: phi = argmin L_S(phi) + lambda/2 ||phi - theta||^2,
// approximated by k gradient steps phi <- phi - alpha (grad L_S(phi) + lambda (phi - theta)).
// At its solution d phi / d theta = (I + H_S(phi) / lambda)^-1, so the meta-gradient is
// x = (I + H/lambda)^-1 grad L_Q(phi), found by `cgSteps` conjugate-gradient iterations
// from x = 0, each one Hessian-vector product at phi. Nothing depends on the inner path:
// memory is one iterate and four vectors whatever k is.

extension MetaLearner {
    func implicitMAML(_ backbone: any Backbone, _ parameters: UnsafeBufferPointer<Float>, _ task: TaskBuffer,
                      _ ws: MetaWorkspace, _ output: UnsafeMutableBufferPointer<Float>) throws(TaskFault) -> Float {
        let n = ws.parameterCount, theta = parameters.baseAddress!, x = output.baseAddress!
        let lambda = Float(options.imamlLambda), g = ws.gradient.base
        let phi: UnsafeMutablePointer<Float>
        if innerSteps > 0 {
            phi = ws.iterate(1)
            copyVector(theta, to: phi, count: n)
        } else {
            phi = UnsafeMutablePointer(mutating: theta)   // read only: no inner step writes it
        }
        for j in 0..<innerSteps {
            Activity.mark(worker: ws.activitySlot, stage: .support, step: j)
            _ = try lossGrad(backbone, phi, task.support, g, n, .support(step: j))
            for i in 0..<n { phi[i] -= innerLR * (g[i] + lambda * (phi[i] - theta[i])) }
        }
        let b = ws.extra[0].base, r = ws.extra[1].base, p = ws.extra[2].base, ap = ws.extra[3].base
        Activity.mark(worker: ws.activitySlot, stage: .query)
        let queryLoss = try lossGrad(backbone, phi, task.query, b, n, .query)

        // Conjugate gradient on A x = b, A = I + H / lambda (symmetric), from x = 0.
        x.update(repeating: 0, count: n)
        copyVector(b, to: r, count: n)
        copyVector(b, to: p, count: n)
        var rr = dot(r, r, n)
        for c in 0..<options.cgSteps where rr > 0 {
            Activity.mark(worker: ws.activitySlot, stage: .hvp, step: c)
            try checkedHVP(backbone, phi, task.support, p, into: ap, ws, .conjugateGradient(step: c))
            for i in 0..<n { ap[i] = p[i] + ap[i] / lambda }
            let pap = dot(p, ap, n)
            guard pap.isFinite && pap > 0 else {
                // (I + H/lambda) is not positive definite along p (H has eigenvalues below -lambda
                // here) or the product overflowed: stop with the iterate so far when it is usable.
                guard pap.isFinite else { throw .nonFinite("conjugate-gradient step \(c)") }
                break
            }
            let step = Float(rr / pap)
            for i in 0..<n { x[i] += step * p[i]; r[i] -= step * ap[i] }
            let next = dot(r, r, n)
            let beta = Float(next / rr)
            rr = next
            for i in 0..<n { p[i] = r[i] + beta * p[i] }
        }
        guard allFinite(x, count: n) else { throw .nonFinite("implicit meta-gradient") }
        return queryLoss
    }
}

/// a . b in Double.
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
    var s = 0.0
    for i in 0..<n { s += Double(a[i]) * Double(b[i]) }
    return s
}
