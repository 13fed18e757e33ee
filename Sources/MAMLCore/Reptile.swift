// MARK: - Reptile (Nichol, Achiam, Schulman 2018)
//
// k steps of SGD or Adam on the support set from theta give phi; the task's
// "meta-gradient" is theta - phi, so the trainer's outer step with rate epsilon is
// theta <- theta + epsilon * mean(phi - theta), the paper's update. Only gradients are
// needed. The paper's outer-rate schedule (epsilon falling linearly to 0) is
// TrainerConfig.metaLR(iteration:); its inner Adam uses beta1 = 0.

extension MetaLearner {
    func reptile(_ backbone: any Backbone, _ parameters: UnsafeBufferPointer<Float>, _ task: TaskBuffer,
                 _ ws: MetaWorkspace, _ output: UnsafeMutableBufferPointer<Float>) throws(TaskFault) -> Float {
        let n = ws.parameterCount, theta = parameters.baseAddress!, out = output.baseAddress!
        guard innerSteps > 0 else {
            out.update(repeating: 0, count: n)
            return try lossOnly(backbone, theta, task.query, n, .query)
        }
        let phi = ws.iterate(1), g = ws.gradient.base
        copyVector(theta, to: phi, count: n)
        let adam = options.innerOptimizer == .adam
        if adam {
            ws.extra[0].base.update(repeating: 0, count: n)
            ws.extra[1].base.update(repeating: 0, count: n)
        }
        for j in 0..<innerSteps {
            Activity.mark(worker: ws.activitySlot, stage: .support, step: j)
            _ = try lossGrad(backbone, phi, task.support, g, n, .support(step: j))
            if adam {
                reptileAdamStep(phi, g, m: ws.extra[0].base, v: ws.extra[1].base, step: j + 1, count: n)
            } else {
                addScaled(phi, -innerLR, g, into: phi, count: n)
            }
        }
        for i in 0..<n { out[i] = theta[i] - phi[i] }
        Activity.mark(worker: ws.activitySlot, stage: .query)
        return try lossOnly(backbone, phi, task.query, n, .query)
    }

    /// One Adam step (beta1 = 0, beta2 = 0.999, eps = 1e-8: the Reptile paper's inner optimiser),
    /// t = `step`, rate innerLR; also the evaluation's inner step for Reptile checkpoints.
    func reptileAdamStep(_ phi: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
                         m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, step t: Int, count n: Int) {
        let beta1: Float = 0, beta2: Float = 0.999, eps: Float = 1e-8
        let c1 = 1 - Float.pow(beta1, t), c2 = 1 - Float.pow(beta2, t)
        for i in 0..<n {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
            phi[i] -= innerLR * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
        }
    }
}

private extension Float {
    static func pow(_ x: Float, _ t: Int) -> Float { var r: Float = 1; for _ in 0..<t { r *= x }; return r }
}
