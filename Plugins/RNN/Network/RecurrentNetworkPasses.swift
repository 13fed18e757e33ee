import MAMLKernels
import MAMLPluginKit

// MARK: - RecurrentNetwork: forward, R-forward, backward through time and R-backward
//
// Per layer (X the layer input [T n, in], rows time-major; H_t [n, H]; A the gates):
//   forward     A_in = X W_ih^T + b   (one GEMM for all steps)
//               per step: A_h = H_{t-1} W_hh^T (+ b_hn), cell pointwise -> gates, H_t (, c_t)
//   R-forward   R A_in = X V_ih^T + v_b + R X W_ih^T;  R A_h = H_{t-1} V_hh^T + R H_{t-1} W_hh^T (+ v_hn),
//               cell pointwise on dual numbers
//   backward    per step, t = T-1 ... 0: cell pointwise backward of (top_t + carry) -> dA_in, dA_h,
//               carry = direct part + dA_h W_hh;  after the loop: dW_ih = dA_in^T X,
//               dW_hh = dA_h^T H_{0..T-1}, biases = column sums, the layer below's top = dA_in W_ih
//   R-backward  the same on duals (values and R-values together), plus the R-terms of the
//               products: R carry += dA_h V_hh, R dW_ih += dA_in^T R X, R dW_hh += dA_h^T R H,
//               R below += dA_in V_ih
// The head is an affine map on the top layer's hidden states (all steps or the last).
// Vector-Jacobian product: the forward pass, then backward from the given d s / d outputs
// ([n, steps, classes], forward's layout: every step, or the last only) instead of the
// loss head's.

extension RecurrentNetwork {
    // MARK: Entry points (the batch must be valid: see PluginBatch)

    /// Predictions or logits of n sequences into output (n * outputElements floats).
    public func forward(params: UnsafePointer<Float>, batch: PluginBatch, output: UnsafeMutablePointer<Float>) throws(PluginError) {
        try reserve(batch.n)
        try forwardPass(params, batch.x, batch.n, direction: nil)
        output.update(from: buffer(logits), count: batch.n * outSteps * config.classes)
    }

    /// Mean loss (accumulated in Double); the gradient into grad when it is non-nil.
    public func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch, grad out: UnsafeMutablePointer<Float>?) throws(PluginError) -> Float {
        try reserve(batch.n)
        try forwardPass(params, batch.x, batch.n, direction: nil)
        let value = LossHead.evaluate(config.loss, outputs: buffer(logits), n: batch.n * outSteps, d: config.classes,
                                      batch: batch, probabilities: buffer(probs), gradient: out == nil ? nil : buffer(grad))
        if let out { backward(params, batch.n, direction: nil, output: out) }
        return Float(value)
    }

    /// output = Hessian of the mean loss times v (parameterCount floats each, not aliased).
    public func hvp(params: UnsafePointer<Float>, batch: PluginBatch, v: UnsafePointer<Float>,
                    output: UnsafeMutablePointer<Float>) throws(PluginError) {
        try reserve(batch.n)
        try forwardPass(params, batch.x, batch.n, direction: v)
        let rows = batch.n * outSteps
        _ = LossHead.evaluate(config.loss, outputs: buffer(logits), n: rows, d: config.classes, batch: batch,
                              probabilities: buffer(probs), gradient: buffer(grad))
        LossHead.hessianTimes(config.loss, buffer(rLogits), n: rows, d: config.classes,
                              probabilities: buffer(probs), into: buffer(rGrad))
        backward(params, batch.n, direction: v, output: output)
    }

    /// grad = d s / d params for d s / d outputs = outputGrad (n * outputElements floats, laid out
    /// like forward's output: [n, length, classes] for head "every", [n, classes] for "last"):
    /// BPTT from outputGrad instead of the loss head's gradient. Targets are not read.
    public func vjp(params: UnsafePointer<Float>, batch: PluginBatch, outputGrad: UnsafePointer<Float>,
                    grad out: UnsafeMutablePointer<Float>) throws(PluginError) {
        try reserve(batch.n)
        try forwardPass(params, batch.x, batch.n, direction: nil)
        buffer(grad).update(from: outputGrad, count: batch.n * outSteps * config.classes)
        backward(params, batch.n, direction: nil, output: out)
    }

    // MARK: Helpers

    /// Layer l's input sequence [T n, in] and its R-values (nil for the data, whose R is 0).
    @inline(__always)
    func layerInput(_ l: Int, _ n: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>?) {
        if l == 0 { return (buffer(x0), nil) }
        let below = layerUnits[l - 1], skip = n * config.hidden   // past the zero initial state
        return (buffer(below.h) + skip, buffer(below.rh) + skip)
    }

    /// The top layer's hidden states the head reads: [outSteps n, H] rows and their R-values.
    @inline(__always)
    func headInput(_ n: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let u = layerUnits[config.layers - 1], first = (config.length + 1 - outSteps) * n * config.hidden
        return (buffer(u.h) + first, buffer(u.rh) + first)
    }

    /// Every row of c [rows, width] = bias (or 0 when nil) placed at column `at`, then the rest zero (C: mk_fill_rows).
    @inline(__always)
    func fillRows(_ c: UnsafeMutablePointer<Float>, rows: Int, width: Int, bias: UnsafePointer<Float>?, count: Int, at: Int = 0) {
        mk_fill_rows(c, rows, width, bias, count, at)
    }

    /// [a, b, k] -> [b, a, k] for an [a, b] grid of k-float cells.
    @inline(__always)
    func swapAxes(_ src: UnsafePointer<Float>, _ a: Int, _ b: Int, _ k: Int, into dst: UnsafeMutablePointer<Float>) {
        for i in 0..<a { for j in 0..<b { (dst + (j * a + i) * k).update(from: src + (i * b + j) * k, count: k) } }
    }

    // MARK: Forward and R-forward

    func forwardPass(_ params: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, direction v: UnsafePointer<Float>?) throws(PluginError) {
        let t = config.length, f = config.features, h = config.hidden, gh = config.cell.gates * h, nh = n * h
        swapAxes(x, n, t, f, into: buffer(x0))   // [n, T, F] -> [T, n, F]
        let hidden = buffer(hid), rHidden = buffer(rHid)
        for (l, layer) in layerList.enumerated() {
            let u = layerUnits[l], (input, rInput) = layerInput(l, n), rows = t * n, width = layer.inputs
            let gates = buffer(u.gates), rGates = buffer(u.rGates)
            let bhn: UnsafePointer<Float>? = layer.bhn >= 0 ? params + layer.bhn : nil
            fillRows(gates, rows: rows, width: gh, bias: params + layer.bias, count: gh)
            Kernels.gemm(.none, .transposed, m: rows, n: gh, k: width, a: input, lda: width, b: params + layer.wih,
                         ldb: width, beta: 1, c: gates, ldc: gh)
            if let v {
                fillRows(rGates, rows: rows, width: gh, bias: v + layer.bias, count: gh)
                Kernels.gemm(.none, .transposed, m: rows, n: gh, k: width, a: input, lda: width, b: v + layer.wih,
                             ldb: width, beta: 1, c: rGates, ldc: gh)
                if let rInput {
                    Kernels.gemm(.none, .transposed, m: rows, n: gh, k: width, a: rInput, lda: width, b: params + layer.wih,
                                 ldb: width, beta: 1, c: rGates, ldc: gh)
                }
            }
            let hs = buffer(u.h), rhs = buffer(u.rh), cs = buffer(u.c), rcs = buffer(u.rc)
            hs.update(repeating: 0, count: nh); rhs.update(repeating: 0, count: nh)
            if config.cell == .lstm { cs.update(repeating: 0, count: nh); rcs.update(repeating: 0, count: nh) }
            let whh = params + layer.whh
            for s in 0..<t {
                let hPrev = hs + s * nh, rhPrev = rhs + s * nh
                fillRows(hidden, rows: n, width: gh, bias: bhn, count: h, at: 2 * h)
                if s > 0 {   // the initial state is zero
                    Kernels.gemm(.none, .transposed, m: n, n: gh, k: h, a: hPrev, lda: h, b: whh, ldb: h, beta: 1, c: hidden, ldc: gh)
                }
                if let v {
                    fillRows(rHidden, rows: n, width: gh, bias: bhn == nil ? nil : v + layer.bhn, count: h, at: 2 * h)
                    if s > 0 {
                        Kernels.gemm(.none, .transposed, m: n, n: gh, k: h, a: hPrev, lda: h, b: v + layer.whh, ldb: h,
                                     beta: 1, c: rHidden, ldc: gh)
                        Kernels.gemm(.none, .transposed, m: n, n: gh, k: h, a: rhPrev, lda: h, b: whh, ldb: h,
                                     beta: 1, c: rHidden, ldc: gh)
                    }
                }
                let r = v != nil
                var step = mk_cell_step(
                    gates: mk_pair(v: gates + s * n * gh, r: r ? rGates + s * n * gh : nil),
                    hidden: mk_pair(v: hidden, r: r ? rHidden : nil),
                    h_prev: mk_pair(v: hPrev, r: r ? rhPrev : nil), h_new: mk_pair(v: hPrev + nh, r: r ? rhPrev + nh : nil),
                    c_prev: mk_pair(v: cs + s * nh, r: r ? rcs + s * nh : nil), c_new: mk_pair(v: cs + (s + 1) * nh, r: r ? rcs + (s + 1) * nh : nil),
                    extra: mk_pair(v: buffer(u.extra) + s * nh, r: r ? buffer(u.rExtra) + s * nh : nil))
                let probe = mk_cell_forward(config.cell.kernelCode, r ? 1 : 0, n, h, &step)
                guard probe.isFinite else {
                    throw PluginError(.numerical, "rnn: the sequence explodes: layer \(l) step \(s + 1) of \(t) has a non-finite gate pre-activation (\(config.cell.rawValue) cell; inputs, weights or learning rates too large)")
                }
            }
        }
        // Head: logits = H W_o^T + b_o at the output steps (R: H V_o^T + v_bo + R H W_o^T).
        let k = config.classes, rows = outSteps * n, (src, rSrc) = headInput(n)
        let lt = buffer(logitsT)
        fillRows(lt, rows: rows, width: k, bias: params + headBias, count: k)
        Kernels.gemm(.none, .transposed, m: rows, n: k, k: h, a: src, lda: h, b: params + headWeight, ldb: h, beta: 1, c: lt, ldc: k)
        swapAxes(lt, outSteps, n, k, into: buffer(logits))
        if let v {
            let rlt = buffer(rLogitsT)
            fillRows(rlt, rows: rows, width: k, bias: v + headBias, count: k)
            Kernels.gemm(.none, .transposed, m: rows, n: k, k: h, a: src, lda: h, b: v + headWeight, ldb: h, beta: 1, c: rlt, ldc: k)
            Kernels.gemm(.none, .transposed, m: rows, n: k, k: h, a: rSrc, lda: h, b: params + headWeight, ldb: h, beta: 1, c: rlt, ldc: k)
            swapAxes(rlt, outSteps, n, k, into: buffer(rLogits))
        }
    }

    // MARK: Backward and R-backward

    /// Backward from the loss gradient at the outputs: the gradient (direction nil) or, after an
    /// R-forward with direction v, the Hessian-vector product, into output.
    func backward(_ params: UnsafePointer<Float>, _ n: Int, direction v: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) {
        let t = config.length, h = config.hidden, gh = config.cell.gates * h, nh = n * h, k = config.classes
        let rows = outSteps * n, (src, rSrc) = headInput(n)
        let g = buffer(gradT), rg = buffer(rGradT)
        swapAxes(buffer(grad), n, outSteps, k, into: g)
        if v != nil { swapAxes(buffer(rGrad), n, outSteps, k, into: rg) }

        // Head. dW_o = G^T H, db_o = sums of G, top = G W_o (R: RG for G, plus G^T R H and G V_o).
        let wo = params + headWeight
        sumOverSteps(m: k, n: h, k: rows, a: v == nil ? g : rg, lda: k, b: src, ldb: h,
                     beta: 0, c: output + headWeight, ldc: h)
        columnSums(v == nil ? g : rg, rows: rows, cols: k, stride: k, into: output + headBias)
        var top = buffer(self.top), rTop = buffer(self.rTop), below = buffer(self.below), rBelow = buffer(self.rBelow)
        let topStart = (t - outSteps) * nh
        if outSteps < t {
            top.update(repeating: 0, count: t * nh)
            if v != nil { rTop.update(repeating: 0, count: t * nh) }
        }
        Kernels.gemm(.none, .none, m: rows, n: h, k: k, a: g, lda: k, b: wo, ldb: h, beta: 0, c: top + topStart, ldc: h)
        if let v {
            sumOverSteps(m: k, n: h, k: rows, a: g, lda: k, b: rSrc, ldb: h, beta: 1, c: output + headWeight, ldc: h)
            Kernels.gemm(.none, .none, m: rows, n: h, k: k, a: rg, lda: k, b: wo, ldb: h, beta: 0, c: rTop + topStart, ldc: h)
            Kernels.gemm(.none, .none, m: rows, n: h, k: k, a: g, lda: k, b: v + headWeight, ldb: h, beta: 1, c: rTop + topStart, ldc: h)
        }

        let gru = config.cell == .gru, r = v != nil
        let dIn = buffer(dax), rdIn = buffer(rDax)
        let dHid = gru ? buffer(dah) : dIn, rdHid = gru ? buffer(rDah) : rdIn
        let carryB = buffer(carry), rCarryB = buffer(rCarry), cCarryB = buffer(cCarry), rcCarryB = buffer(rcCarry)
        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let layer = layerList[l], u = layerUnits[l], whh = params + layer.whh
            let hs = buffer(u.h), rhs = buffer(u.rh), cs = buffer(u.c), rcs = buffer(u.rc)
            let gates = buffer(u.gates), rGates = buffer(u.rGates)
            carryB.update(repeating: 0, count: nh); cCarryB.update(repeating: 0, count: nh)
            if r { rCarryB.update(repeating: 0, count: nh); rcCarryB.update(repeating: 0, count: nh) }
            for s in stride(from: t - 1, through: 0, by: -1) {
                var step = mk_cell_step(
                    gates: mk_pair(v: gates + s * n * gh, r: r ? rGates + s * n * gh : nil),
                    hidden: mk_pair(v: gates, r: nil),   // not read backward
                    h_prev: mk_pair(v: hs + s * nh, r: r ? rhs + s * nh : nil), h_new: mk_pair(v: hs + (s + 1) * nh, r: r ? rhs + (s + 1) * nh : nil),
                    c_prev: mk_pair(v: cs + s * nh, r: r ? rcs + s * nh : nil), c_new: mk_pair(v: cs + (s + 1) * nh, r: r ? rcs + (s + 1) * nh : nil),
                    extra: mk_pair(v: buffer(u.extra) + s * nh, r: r ? buffer(u.rExtra) + s * nh : nil))
                var grads = mk_cell_grads(
                    top: mk_pair(v: top + s * nh, r: r ? rTop + s * nh : nil), carry: mk_pair(v: carryB, r: r ? rCarryB : nil),
                    cell_carry: mk_pair(v: cCarryB, r: r ? rcCarryB : nil),
                    d_input: mk_pair(v: dIn + s * n * gh, r: r ? rdIn + s * n * gh : nil),
                    d_hidden: mk_pair(v: dHid + s * n * gh, r: r ? rdHid + s * n * gh : nil))
                mk_cell_backward(config.cell.kernelCode, r ? 1 : 0, n, h, &step, &grads)
                guard s > 0 else { break }   // h_0 is constant
                Kernels.gemm(.none, .none, m: n, n: h, k: gh, a: dHid + s * n * gh, lda: gh, b: whh, ldb: h,
                             beta: 1, c: carryB, ldc: h)
                if let v {
                    Kernels.gemm(.none, .none, m: n, n: h, k: gh, a: rdHid + s * n * gh, lda: gh, b: whh, ldb: h,
                                 beta: 1, c: rCarryB, ldc: h)
                    Kernels.gemm(.none, .none, m: n, n: h, k: gh, a: dHid + s * n * gh, lda: gh, b: v + layer.whh, ldb: h,
                                 beta: 1, c: rCarryB, ldc: h)
                }
            }
            // Parameter gradients over all steps at once (R: the R-gradients plus the cross terms).
            let (input, rInput) = layerInput(l, n), width = layer.inputs, all = t * n
            let aIn = r ? rdIn : dIn, aHid = r ? rdHid : dHid
            sumOverSteps(m: gh, n: width, k: all, a: aIn, lda: gh, b: input, ldb: width,
                         beta: 0, c: output + layer.wih, ldc: width)
            sumOverSteps(m: gh, n: h, k: all, a: aHid, lda: gh, b: hs, ldb: h,
                         beta: 0, c: output + layer.whh, ldc: h)
            if r {
                if let rInput {
                    sumOverSteps(m: gh, n: width, k: all, a: dIn, lda: gh, b: rInput, ldb: width,
                                 beta: 1, c: output + layer.wih, ldc: width)
                }
                sumOverSteps(m: gh, n: h, k: all, a: dHid, lda: gh, b: rhs, ldb: h,
                             beta: 1, c: output + layer.whh, ldc: h)
            }
            columnSums(aIn, rows: all, cols: gh, stride: gh, into: output + layer.bias)
            if layer.bhn >= 0 { columnSums(aHid + 2 * h, rows: all, cols: h, stride: gh, into: output + layer.bhn) }
            guard l > 0 else { break }
            // The layer below's top gradient: dA_in W_ih (R: R dA_in W_ih + dA_in V_ih).
            Kernels.gemm(.none, .none, m: all, n: width, k: gh, a: dIn, lda: gh, b: params + layer.wih, ldb: width,
                         beta: 0, c: below, ldc: width)
            if let v {
                Kernels.gemm(.none, .none, m: all, n: width, k: gh, a: rdIn, lda: gh, b: params + layer.wih, ldb: width,
                             beta: 0, c: rBelow, ldc: width)
                Kernels.gemm(.none, .none, m: all, n: width, k: gh, a: dIn, lda: gh, b: v + layer.wih, ldb: width,
                             beta: 1, c: rBelow, ldc: width)
            }
            swap(&top, &below); swap(&rTop, &rBelow)
        }
    }

    /// A weight gradient summed over all steps and examples (C = A^T B, k = T n rows): the C
    /// kernels beat OpenBLAS on these transposed shapes up to about a million multiply-adds
    /// (Kernels.swift's table: TN 32x128x128 12 us vs 18 us), past gemm's general crossover.
    @inline(__always)
    func sumOverSteps(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m * n * k <= 1 << 20 {
            Kernels.cGEMM(.transposed, .none, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else {
            Kernels.gemm(.transposed, .none, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// out[j] = sum over rows of m[row * stride + j] (Double accumulation, in row order: C, vectorised).
    @inline(__always)
    func columnSums(_ m: UnsafePointer<Float>, rows: Int, cols: Int, stride: Int, into out: UnsafeMutablePointer<Float>) {
        mk_col_sums_f64(m, rows, cols, stride, out)
    }
}
