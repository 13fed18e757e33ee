// MARK: - Inner loops with a rate vector: Meta-SGD, ANIL, MAML++ (LSLR, multi-step loss)
//
// One inner step is theta_{j+1} = theta_j - a_j (.) g_j with g_j = grad L_S(theta_j)
// and a_j a vector of rates: Meta-SGD's learned a (every step), ANIL's alpha on the
// head and 0 elsewhere, LSLR's learned rate of each (step, tensor), or alpha
// everywhere (multi-step loss alone). Reverse accumulation from v = w_k grad L_Q(theta_k):
//
//   d/da_j  = -g_j (.) v                      (before v moves on; summed per group for LSLR)
//   v      <- v - H_S(theta_j) (a_j (.) v)     (one HVP; skipped by fomaml)
//   v      <- v + w_j grad L_Q(theta_j)        (multi-step loss, j >= 1)
//
// and v ends as d/dtheta. ANIL's body gets its meta-gradient through the HVP of the
// head-only step (second order), as in Raghu et al. With multi-step loss the objective is
// sum_j w_j L_Q(theta_j); the reported loss is L_Q(theta_k), comparable across algorithms.

extension MetaLearner {
    /// MAML++ step weights w_1 ... w_k at meta-iteration i (Antoniou et al. 2019): uniform at
    /// first, the earlier steps' weights falling linearly to 0.03/k over the first 15% of the
    /// annealing horizon, the last step taking the rest.
    func stepWeights(iteration i: Int) -> [Double] {
        let k = innerSteps
        guard options.multiStepLoss, k > 1 else { return [Double](repeating: 0, count: max(k - 1, 0)) + [1] }
        let horizon = max(1.0, 0.15 * Double(options.annealIterations))
        let floor = 0.03 / Double(k), start = 1 / Double(k)
        let early = max(floor, start - Double(i) * (start - floor) / horizon)
        return [Double](repeating: early, count: k - 1) + [1 - Double(k - 1) * early]
    }

    func withRateVectors(_ backbone: any Backbone, _ parameters: UnsafeBufferPointer<Float>, _ task: TaskBuffer,
                         _ ws: MetaWorkspace, _ plan: MetaPlan,
                         _ output: UnsafeMutableBufferPointer<Float>) throws(TaskFault) -> Float {
        let n = plan.modelCount, k = innerSteps, worker = ws.activitySlot
        let theta0 = parameters.baseAddress!, learned = theta0 + n
        let out = output.baseAddress!, rateGrad = out + n
        let rate = ws.extra[0].base, scaled = ws.extra[1].base, queryGradient = ws.extra[2].base
        let keepsGradients = plan.rateCount > 0
        @inline(__always) func theta(_ j: Int) -> UnsafePointer<Float> { j == 0 ? theta0 : UnsafePointer(ws.iterate(j)) }
        @inline(__always) func supportGradient(_ j: Int) -> UnsafeMutablePointer<Float> {
            keepsGradients ? ws.extra[3 + j].base : ws.gradient.base
        }
        /// a_j: Meta-SGD's learned vector itself; LSLR's row for step j, expanded into `rate`; else
        /// `rate` as filled once below (ANIL: alpha on the head, 0 elsewhere; otherwise alpha).
        func rates(_ j: Int) -> UnsafePointer<Float> {
            if options.lslr {
                for (g, r) in plan.groups.enumerated() { let a = learned[j * plan.groups.count + g]; for i in r { rate[i] = a } }
            }
            return algorithm == .metaSGD ? learned : UnsafePointer(rate)
        }
        if algorithm == .anil {
            rate.update(repeating: 0, count: n)
            for r in plan.head { for i in r { rate[i] = innerLR } }
        } else if !options.lslr && algorithm != .metaSGD {
            rate.update(repeating: innerLR, count: n)
        }

        for j in 0..<k {
            Activity.mark(worker: worker, stage: .support, step: j)
            let g = supportGradient(j)
            _ = try lossGrad(backbone, theta(j), task.support, g, n, .support(step: j))
            let a = rates(j), next = ws.iterate(j + 1), from = theta(j)
            for i in 0..<n { next[i] = from[i] - a[i] * g[i] }
        }

        let weights = stepWeights(iteration: ws.iteration)
        let v = out
        Activity.mark(worker: worker, stage: .query)
        let queryLoss = try lossGrad(backbone, theta(k), task.query, v, n, .query)
        if options.multiStepLoss { let w = Float(weights[k - 1]); for i in 0..<n { v[i] *= w } }
        rateGrad.update(repeating: 0, count: plan.rateCount)
        for j in stride(from: k - 1, through: 0, by: -1) {
            let a = rates(j)
            if keepsGradients {
                let g = supportGradient(j)
                if algorithm == .metaSGD {
                    for i in 0..<n { rateGrad[i] -= g[i] * v[i] }
                } else {
                    for (gi, r) in plan.groups.enumerated() {
                        var sum = 0.0
                        for i in r { sum += Double(g[i]) * Double(v[i]) }
                        rateGrad[j * plan.groups.count + gi] = Float(-sum)
                    }
                }
            }
            if algorithm != .fomaml {
                for i in 0..<n { scaled[i] = a[i] * v[i] }
                Activity.mark(worker: worker, stage: .hvp, step: j)
                try checkedHVP(backbone, theta(j), task.support, scaled, into: ws.hv.base, ws, .hvp(step: j))
                let hv = ws.hv.base
                for i in 0..<n { v[i] -= hv[i] }
            }
            if options.multiStepLoss && j >= 1 {
                Activity.mark(worker: worker, stage: .query)
                _ = try lossGrad(backbone, theta(j), task.query, queryGradient, n, .query)
                let w = Float(weights[j - 1])
                for i in 0..<n { v[i] += w * queryGradient[i] }
            }
        }
        return queryLoss
    }
}
