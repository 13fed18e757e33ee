import MAMLKernels
import MAMLPluginKit

// MARK: - ConvNetwork: forward, R-forward, backward and R-backward passes
//
// Per block l (CNHW activations, M = n * Ho * Wo positions per channel):
//   forward    cols = im2col(in);  pre = W cols + b;  [pre <- zh, act = gamma zh + beta];
//              pooled: out = relu(maxpool(act)) (winners remembered; max and ReLU commute,
//              so ReLU runs on the 4x smaller map); else out = act = relu(act)
//   R-forward  Rpre = V cols + c + W im2col(R in);  [Rpre <- R zh, R act = BN R-op];
//              R out = R act at the winners, masked where out = 0
//   backward   g out -> relu mask -> scatter to winners -> [BN backward] -> dW = g cols^T,
//              db = row sums, g in = col2im(W^T g)
//   R-backward the same on (g, Rg) together, plus the cross terms:
//              R dW = Rg cols^T + g (R cols)^T,  R g in = col2im(W^T Rg + V^T g)
// The head is a dense layer on the flattened features (the same math as the MLP's
// DenseNetwork, written here: CNNNetwork does not depend on MLPNetwork).
// Vector-Jacobian product: the forward pass, then backward from the given d s / d logits
// instead of the loss head's; batch norm's backward is that of the batch statistics the
// forward pass used, so the product is the exact derivative of forward on this batch.
//
// How it runs (the math above is unchanged; Sources/MAMLKernels/conv_ops.c has the kernels):
// stride-1 blocks go a few examples at a time (convForward, convBackward: im2col chunks stay
// in L2), the input gradient is a convolution of g with the flipped weights, whose im2col
// also gives dW; under batch norm the conv bias is left out (it cancels, its gradient is 0);
// pooled blocks normalise + pool + ReLU in one kernel and backprop through the winners
// without a zeroed map; the first block (1-3 input channels) is a direct convolution, and on
// gradient passes its maps are never stored (firstBlockFused: mk_bn_pool_relu_thin forward,
// mk_bn_pool_backward_thin backward compute its planes again instead).
// Stride-2 blocks and the R-passes' batch norm keep the whole-batch Swift code.

extension ConvNetwork {
    // MARK: Entry points (the batch must be valid: see PluginBatch)

    /// Logits (CE) or predictions (MSE) of n examples into output (n * classes floats).
    public func forward(params: UnsafePointer<Float>, batch: PluginBatch, output: UnsafeMutablePointer<Float>) throws(PluginError) {
        try reserve(batch.n)
        forwardPass(params, batch.x, batch.n, direction: nil)
        output.update(from: buffer(logitUnit), count: batch.n * config.classes)
    }

    /// Mean loss (accumulated in Double); the gradient into grad when it is non-nil.
    public func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch, grad: UnsafeMutablePointer<Float>?) throws(PluginError) -> Float {
        try reserve(batch.n)
        forwardPass(params, batch.x, batch.n, direction: nil)
        let value = LossHead.evaluate(config.loss, outputs: buffer(logitUnit), n: batch.n, d: config.classes, batch: batch,
                                      probabilities: buffer(probUnit), gradient: grad == nil ? nil : buffer(gLogitUnit))
        if let grad { backward(params, batch.x, batch.n, direction: nil, output: grad) }
        return Float(value)
    }

    /// output = Hessian of the mean loss times v (parameterCount floats each, not aliased).
    public func hvp(params: UnsafePointer<Float>, batch: PluginBatch, v: UnsafePointer<Float>,
                    output: UnsafeMutablePointer<Float>) throws(PluginError) {
        try reserve(batch.n)
        forwardPass(params, batch.x, batch.n, direction: v)
        _ = LossHead.evaluate(config.loss, outputs: buffer(logitUnit), n: batch.n, d: config.classes, batch: batch,
                              probabilities: buffer(probUnit), gradient: buffer(gLogitUnit))
        LossHead.hessianTimes(config.loss, buffer(rLogitUnit), n: batch.n, d: config.classes,
                              probabilities: buffer(probUnit), into: buffer(rgLogitUnit))
        backward(params, batch.x, batch.n, direction: v, output: output)
    }

    /// grad = d s / d params for d s / d logits = outputGrad (n * classes floats): backward from
    /// outputGrad instead of the loss head's gradient, through the same forward pass (batch
    /// statistics of this batch). Targets are not read.
    public func vjp(params: UnsafePointer<Float>, batch: PluginBatch, outputGrad: UnsafePointer<Float>,
                    grad: UnsafeMutablePointer<Float>) throws(PluginError) {
        try reserve(batch.n)
        forwardPass(params, batch.x, batch.n, direction: nil)
        buffer(gLogitUnit).update(from: outputGrad, count: batch.n * config.classes)
        backward(params, batch.x, batch.n, direction: nil, output: grad)
    }

    // MARK: Block inputs

    /// Block l's input: the host's NCHW x for block 0, the previous block's CNHW output after.
    @inline(__always)
    func blockInput(_ l: Int, _ x: UnsafePointer<Float>, _ n: Int) -> (UnsafePointer<Float>, channelStride: Int, batchStride: Int) {
        let g = blocks[l].conv, plane = g.inHeight * g.inWidth
        if l == 0 { return (x, plane, g.inChannels * plane) }
        return (UnsafePointer(buffer(blocks[l - 1].outUnit)), n * plane, plane)
    }

    /// im2col of block l's R-input (l >= 1) into the R-cols buffer.
    @inline(__always)
    func rCols(_ l: Int, _ n: Int) -> UnsafeMutablePointer<Float> {
        let g = blocks[l].conv, plane = g.inHeight * g.inWidth, rcols = buffer(rColsUnit)
        Conv2D.im2col(g, input: buffer(blocks[l - 1].rOutUnit), n: n, channelStride: n * plane, batchStride: plane, cols: rcols)
        return rcols
    }

    // MARK: Forward and R-forward

    func forwardPass(_ params: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, direction v: UnsafePointer<Float>?) {
        // Under batch norm the conv bias cancels exactly (the batch mean absorbs it, and so
        // does the R-mean its direction): it is left out of pre and Rpre (GEMMs with beta 0).
        let batchNorm = config.norm == .batch
        for l in blocks.indices {
            let b = blocks[l], g = b.conv
            let pre = buffer(b.preUnit), act = buffer(b.actUnit), m = n * g.outPlane, count = g.outChannels * m
            let rpre = buffer(b.rPreUnit), ract = buffer(b.rActUnit)
            if l == 0 && firstBlockFused(n, v) {
                // Convolution, batch norm, pool and ReLU without the 4x larger map (conv_ops.c).
                let (input, cs, bs) = blockInput(0, x, n)
                mk_bn_pool_relu_thin(input, g.inChannels, n, g.inHeight, g.inWidth, g.kernel, cs, bs,
                                     params + b.weightOffset, g.outChannels, config.eps, params + b.gammaOffset,
                                     params + b.betaOffset, means + b.statOffset, invStd + b.statOffset,
                                     buffer(b.poolUnit), winners(b), buffer(b.winUnit), chunks, chunks + chunkFloats)
                continue
            }
            if g.isSameStride1 {
                convForward(l, params, x, n, v)
            } else {
                let cols = buffer(b.colsUnit)
                let (input, cs, bs) = blockInput(l, x, n)
                Conv2D.im2col(g, input: input, n: n, channelStride: cs, batchStride: bs, cols: cols)
                Conv2D.forward(g, weight: params + b.weightOffset, bias: batchNorm ? nil : params + b.biasOffset,
                               cols: cols, n: n, output: pre)
                if let v {
                    Conv2D.forward(g, weight: v + b.weightOffset, bias: batchNorm ? nil : v + b.biasOffset,
                                   cols: cols, n: n, output: rpre)
                    if l > 0 {
                        Conv2D.forward(g, weight: params + b.weightOffset, bias: nil, cols: rCols(l, n), n: n,
                                       output: rpre, accumulate: true)
                    }
                }
            }
            switch config.norm {
            case .batch:
                let stat = b.statOffset
                if b.pooled && g.isSameStride1 {
                    // Mean from convForward's row sums; normalise, pool and ReLU in one sweep
                    // (y = gamma zh + beta is never stored).
                    mk_bn_stats(pre, g.outChannels, m, config.eps, rowSums, means + stat, invStd + stat)
                    mk_bn_pool_relu(pre, g.outChannels, n, g.outHeight, g.outWidth, means + stat, invStd + stat,
                                    params + b.gammaOffset, params + b.betaOffset, buffer(b.poolUnit), winners(b),
                                    buffer(b.winUnit))
                } else {
                    mk_bn_forward(pre, g.outChannels, m, config.eps, params + b.gammaOffset, params + b.betaOffset,
                                  act, invStd + stat)
                }
                if let v {
                    BatchNorm.rForward(normalized: pre, invStd: invStd + stat, channels: g.outChannels, count: m,
                                       gamma: params + b.gammaOffset, rz: rpre, rGamma: v + b.gammaOffset,
                                       rBeta: v + b.betaOffset, rNormalized: rpre, rOutput: ract, kappa: kappa + stat)
                }
            case .none:
                act.update(from: pre, count: count)
                if v != nil { ract.update(from: rpre, count: count) }
            }
            if b.pooled {
                // Pool, then ReLU on the 4x smaller pooled map: max and ReLU commute, and so do
                // their derivatives (a window whose maximum is <= 0 passes nothing either way).
                // The mask pooled > 0 also serves backward.
                let pool = buffer(b.poolUnit)
                let planes = g.outChannels * n, outCount = n * b.outSize
                if !(batchNorm && g.isSameStride1) {  // else pooled above
                    MaxPool.forward(input: act, planes: planes, height: g.outHeight, width: g.outWidth,
                                    window: Self.window, output: pool, argmax: winners(b))
                    for i in 0..<outCount { pool[i] = pool[i] > 0 ? pool[i] : 0 }
                }
                if v != nil {
                    let rpool = buffer(b.rPoolUnit)
                    MaxPool.gather(input: ract, argmax: winners(b), planes: planes, height: g.outHeight,
                                   width: g.outWidth, window: Self.window, output: rpool)
                    for i in 0..<outCount { rpool[i] = pool[i] > 0 ? rpool[i] : 0 }
                }
            } else {
                // ReLU: the mask act > 0 also serves backward.
                if v != nil { for i in 0..<count { ract[i] = act[i] > 0 ? ract[i] : 0 } }
                for i in 0..<count { act[i] = act[i] > 0 ? act[i] : 0 }
            }
        }
        // Head: logits = feat Wh^T + bh (R: feat Vh^T + vb + R feat Wh^T).
        let last = blocks[blocks.count - 1], f = featureCount, k = config.classes
        let feat = buffer(featUnit), logits = buffer(logitUnit)
        flatten(buffer(last.outUnit), n, into: feat)
        affine(feat, n, params + headWeightOffset, params + headBiasOffset, into: logits)
        if let v {
            let rfeat = buffer(rFeatUnit), rlogits = buffer(rLogitUnit)
            flatten(buffer(last.rOutUnit), n, into: rfeat)
            affine(feat, n, v + headWeightOffset, v + headBiasOffset, into: rlogits)
            Kernels.gemm(.none, .transposed, m: n, n: k, k: f, a: rfeat, lda: f, b: params + headWeightOffset, ldb: f,
                         beta: 1, c: rlogits, ldc: k)
        }
    }

    /// out[n, classes] = feat[n, F] w^T + b.
    @inline(__always)
    func affine(_ feat: UnsafePointer<Float>, _ n: Int, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                into out: UnsafeMutablePointer<Float>) {
        let k = config.classes, f = featureCount
        Kernels.broadcastRows(b, into: out, rows: n, width: k)
        Kernels.gemm(.none, .transposed, m: n, n: k, k: f, a: feat, lda: f, b: w, ldb: f, beta: 1, c: out, ldc: k)
    }

    /// CNHW [C, n, P] -> [n, C*P] (PyTorch's flatten order per example).
    func flatten(_ src: UnsafePointer<Float>, _ n: Int, into dst: UnsafeMutablePointer<Float>) {
        let plane = featureCount / blocks[blocks.count - 1].conv.outChannels, channels = featureCount / plane
        for c in 0..<channels {
            for b in 0..<n { (dst + b * featureCount + c * plane).update(from: src + (c * n + b) * plane, count: plane) }
        }
    }

    /// [n, C*P] -> CNHW [C, n, P].
    func unflatten(_ src: UnsafePointer<Float>, _ n: Int, into dst: UnsafeMutablePointer<Float>) {
        let plane = featureCount / blocks[blocks.count - 1].conv.outChannels, channels = featureCount / plane
        for c in 0..<channels {
            for b in 0..<n { (dst + (c * n + b) * plane).update(from: src + b * featureCount + c * plane, count: plane) }
        }
    }

    // MARK: Backward and R-backward

    /// Backward from the loss gradient at the logits: the gradient (direction nil) or, after an
    /// R-forward with direction v, the Hessian-vector product, into output.
    func backward(_ params: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int,
                  direction v: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) {
        let k = config.classes, f = featureCount
        let feat = buffer(featUnit), gl = buffer(gLogitUnit), rgl = buffer(rgLogitUnit)
        let wh = params + headWeightOffset
        // Head. Gradient: dWh = g^T feat, dbh = sums of g, g feat = g Wh.
        // HVP: R dWh = Rg^T feat + g^T R feat, R dbh = sums of Rg, R g feat = Rg Wh + g Vh.
        let top = v == nil ? gl : rgl
        Kernels.gemm(.transposed, .none, m: k, n: f, k: n, a: top, lda: k, b: feat, ldb: f,
                     beta: 0, c: output + headWeightOffset, ldc: f)
        columnSums(top, n, k, into: output + headBiasOffset)
        let gFeat = buffer(gFeatUnit), rgFeat = buffer(rgFeatUnit)
        Kernels.gemm(.none, .none, m: n, n: f, k: k, a: gl, lda: k, b: wh, ldb: f, beta: 0, c: gFeat, ldc: f)
        var g = buffer(gUnits.0), gOther = buffer(gUnits.1)
        var rg = buffer(rgUnits.0), rgOther = buffer(rgUnits.1)
        unflatten(gFeat, n, into: g)
        if let v {
            Kernels.gemm(.transposed, .none, m: k, n: f, k: n, a: gl, lda: k, b: buffer(rFeatUnit), ldb: f,
                         beta: 1, c: output + headWeightOffset, ldc: f)
            Kernels.gemm(.none, .none, m: n, n: f, k: k, a: rgl, lda: k, b: wh, ldb: f, beta: 0, c: rgFeat, ldc: f)
            Kernels.gemm(.none, .none, m: n, n: f, k: k, a: gl, lda: k, b: v + headWeightOffset, ldb: f,
                         beta: 1, c: rgFeat, ldc: f)
            unflatten(rgFeat, n, into: rg)
        }

        let dcols = buffer(dColsUnit)
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
            let b = blocks[l], geo = b.conv, m = n * geo.outPlane, count = geo.outChannels * m
            if l == 0 && firstBlockFused(n, v) {
                // The first block's gradient in one pass: zh again and batch norm's dz one plane at
                // a time, straight into the weight gradient (no input gradient; the bias gradient is 0).
                let (input, cs, bs) = blockInput(0, x, n)
                thinAccumulator.update(repeating: 0, count: geo.weightCount)
                mk_bn_pool_backward_thin(params + b.weightOffset, means + b.statOffset, invStd + b.statOffset,
                                         geo.outChannels, n, geo.outHeight,
                                         geo.outWidth, params + b.gammaOffset, g, buffer(b.poolUnit), winners(b),
                                         buffer(b.winUnit), output + b.gammaOffset, output + b.betaOffset, input,
                                         geo.inChannels, geo.kernel, cs, bs, thinAccumulator, chunks, chunks + chunkFloats)
                for i in 0..<geo.weightCount { output[b.weightOffset + i] = Float(thinAccumulator[i]) }
                (output + b.biasOffset).update(repeating: 0, count: geo.outChannels)
                break
            }
            var normDone = false
            if b.pooled && geo.isSameStride1 && config.norm == .batch && v == nil {
                // ReLU mask, scatter to the winners and batch norm in one kernel (conv_ops.c).
                mk_bn_pool_backward(buffer(b.preUnit), invStd + b.statOffset, geo.outChannels, n, geo.outHeight,
                                    geo.outWidth, params + b.gammaOffset, g, buffer(b.poolUnit), winners(b),
                                    buffer(b.winUnit), gOther,
                                    output + b.gammaOffset, output + b.betaOffset)
                swap(&g, &gOther)
                normDone = true
            } else if b.pooled {
                // ReLU mask on the pooled map (see forwardPass), then route to the winners.
                let planes = geo.outChannels * n, pool = buffer(b.poolUnit), outCount = n * b.outSize
                for i in 0..<outCount { g[i] = pool[i] > 0 ? g[i] : 0 }  // branch-free: vectorises
                MaxPool.scatter(gradOut: g, argmax: winners(b), planes: planes, height: geo.outHeight,
                                width: geo.outWidth, window: Self.window, gradIn: gOther)
                swap(&g, &gOther)
                if v != nil {
                    for i in 0..<outCount { rg[i] = pool[i] > 0 ? rg[i] : 0 }
                    MaxPool.scatter(gradOut: rg, argmax: winners(b), planes: planes, height: geo.outHeight,
                                    width: geo.outWidth, window: Self.window, gradIn: rgOther)
                    swap(&rg, &rgOther)
                }
            } else {
                let act = buffer(b.actUnit)
                for i in 0..<count { g[i] = act[i] > 0 ? g[i] : 0 }
                if v != nil { for i in 0..<count { rg[i] = act[i] > 0 ? rg[i] : 0 } }
            }
            // Batch norm (in place).
            if config.norm == .batch && !normDone {
                let stat = b.statOffset
                if let v {
                    BatchNorm.rBackward(normalized: buffer(b.preUnit), rNormalized: buffer(b.rPreUnit),
                                        invStd: invStd + stat, kappa: kappa + stat, channels: geo.outChannels, count: m,
                                        gamma: params + b.gammaOffset, rGamma: v + b.gammaOffset, grad: g, rGrad: rg,
                                        rdGamma: output + b.gammaOffset, rdBeta: output + b.betaOffset)
                } else {
                    BatchNorm.backward(normalized: buffer(b.preUnit), invStd: invStd + stat, channels: geo.outChannels,
                                       count: m, gamma: params + b.gammaOffset, grad: g,
                                       dGamma: output + b.gammaOffset, dBeta: output + b.betaOffset)
                }
            }
            if geo.isSameStride1 {
                convBackward(l, params, x, n, v, g, rg, gOther, rgOther, output)
                guard l > 0 else { break }
                swap(&g, &gOther)
                if v != nil { swap(&rg, &rgOther) }
                continue
            }
            // Convolution, with the block's cols from the forward pass of this call.
            let cols = buffer(b.colsUnit)
            let w = params + b.weightOffset
            Conv2D.parameterGradient(geo, gradOut: v == nil ? g : rg, cols: cols, n: n,
                                     weightGrad: output + b.weightOffset, biasGrad: output + b.biasOffset)
            guard l > 0 else { break }
            if v != nil {
                Conv2D.parameterGradient(geo, gradOut: g, cols: rCols(l, n), n: n, weightGrad: output + b.weightOffset,
                                         biasGrad: nil, accumulate: true)
            }
            if let v {
                Conv2D.colsGradient(geo, weight: w, gradOut: rg, n: n, colsGrad: dcols)
                Conv2D.colsGradient(geo, weight: v + b.weightOffset, gradOut: g, n: n, colsGrad: dcols, accumulate: true)
                Conv2D.col2im(geo, cols: dcols, n: n, output: rgOther)
                swap(&rg, &rgOther)
            }
            Conv2D.colsGradient(geo, weight: w, gradOut: g, n: n, colsGrad: dcols)
            Conv2D.col2im(geo, cols: dcols, n: n, output: gOther)
            swap(&g, &gOther)
        }
    }

    // MARK: Stride-1 convolutions a chunk of examples at a time
    //
    // Whole-batch cols of conv4's second block at 75 examples are 34 MB: written by im2col,
    // read back by the GEMM's packing, and again by backward's weight gradient, all through
    // DRAM. Chunks of a few examples (chunkLimit floats) are written and packed while in L2,
    // and backward builds its chunks again from the block input (cheaper than reading them
    // back). The input gradient is a convolution of the output gradient with the flipped
    // weights (mk_conv_flip): one more im2col chunk and a GEMM with K = Cout*k*k, instead of
    // W^T g (K = Cout) into a zeroed whole-batch cols and col2im's scattered adds.

    /// Examples per chunk of block l (at least one).
    @inline(__always)
    func chunkExamples(_ l: Int) -> Int {
        let rows = Self.chunkRows(blocks[l].conv, l), p = blocks[l].conv.outPlane
        var step = max(1, chunkFloats / (rows * p))
        while step > 1 && rows * Self.padded(step * p) > chunkFloats { step -= 1 }
        return step
    }

    /// Block l runs as a direct convolution (mk_conv_thin_*): the first block with at most 27 floats
    /// per patch (1 or 3 input channels at k = 3), under batch norm (the kernels add no bias).
    @inline(__always)
    func isThin(_ l: Int) -> Bool {
        let g = blocks[l].conv
        return l == 0 && g.patchSize <= 27 && config.norm == .batch
            && mk_conv_thin_scratch(g.inChannels, chunkExamples(l), g.inHeight, g.inWidth, g.kernel) <= chunkFloats
    }

    /// The first block runs fused, its n*h*w maps never stored (mk_bn_pool_relu_thin forward,
    /// mk_bn_pool_backward_thin backward): gradient passes (no direction) of a thin, pooled,
    /// batch-normed first block whose whole batch's padded input fits in a chunk. The R-passes
    /// need the maps (batch norm's R-operator reads all of zh) and keep the unfused kernels.
    @inline(__always)
    func firstBlockFused(_ n: Int, _ v: UnsafePointer<Float>?) -> Bool {
        let b = blocks[0], g = b.conv
        return v == nil && b.pooled && g.isSameStride1 && isThin(0) && g.outPlane <= chunkFloats
            && mk_conv_thin_scratch(g.inChannels, n, g.inHeight, g.inWidth, g.kernel) <= chunkFloats
    }

    /// im2col (row stride ld) of examples [b0, b0 + count) of a CNHW map with the geometry's input shape.
    @inline(__always)
    func chunkCols(_ g: ConvGeometry, _ map: UnsafePointer<Float>, channels: Int, n: Int, _ b0: Int, _ count: Int,
                   into cols: UnsafeMutablePointer<Float>, _ ld: Int) {
        let plane = g.inHeight * g.inWidth
        mk_im2col_same(map + b0 * plane, channels, count, g.inHeight, g.inWidth, g.kernel, n * plane, plane, cols, ld)
    }

    /// out[rows, width] (row stride ldc) = a[rows, k] b[k, width] (b's row stride ldb) (+ bias per row),
    /// or += (accumulate).
    @inline(__always)
    func product(_ rows: Int, _ width: Int, _ k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ ldb: Int,
                 bias: UnsafePointer<Float>? = nil, _ out: UnsafeMutablePointer<Float>, _ ldc: Int, accumulate: Bool = false) {
        var beta: Float = accumulate ? 1 : 0
        if let bias, !accumulate {
            for o in 0..<rows { (out + o * ldc).update(repeating: bias[o], count: width) }
            beta = 1
        }
        Kernels.gemm(.none, .none, m: rows, n: width, k: k, a: a, lda: k, b: b, ldb: ldb, beta: beta, c: out, ldc: ldc)
    }

    /// Stride-1 block l: pre = W cols (+ b), and with v, Rpre = V cols (+ c) + W R cols.
    func convForward(_ l: Int, _ params: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int,
                     _ v: UnsafePointer<Float>?) {
        let b = blocks[l], g = b.conv, p = g.outPlane, kp = g.patchSize, ld = n * p
        let (input, cs, bs) = blockInput(l, x, n)
        let cols = chunks, rcols = chunks + chunkFloats
        let pre = buffer(b.preUnit), rpre = buffer(b.rPreUnit), withBias = config.norm != .batch
        let step = chunkExamples(l)
        if !withBias { rowSums.update(repeating: 0, count: g.outChannels) }
        if isThin(l) {  // block 0 (no R input)
            for b0 in stride(from: 0, to: n, by: step) {
                let count = min(step, n - b0)
                mk_conv_thin_forward(input + b0 * bs, g.inChannels, count, g.inHeight, g.inWidth, g.kernel, cs, bs,
                                     params + b.weightOffset, g.outChannels, pre + b0 * p, ld, rowSums, rcols)
                if let v {
                    mk_conv_thin_forward(input + b0 * bs, g.inChannels, count, g.inHeight, g.inWidth, g.kernel, cs, bs,
                                         v + b.weightOffset, g.outChannels, rpre + b0 * p, ld, nil, rcols)
                }
            }
            return
        }
        for b0 in stride(from: 0, to: n, by: step) {
            let count = min(step, n - b0), width = count * p, lw = Self.padded(width)
            mk_im2col_same(input + b0 * bs, g.inChannels, count, g.inHeight, g.inWidth, g.kernel, cs, bs, cols, lw)
            product(g.outChannels, width, kp, params + b.weightOffset, cols, lw,
                    bias: withBias ? params + b.biasOffset : nil, pre + b0 * p, ld)
            // Batch norm's sums of pre, from the chunk while it is in cache.
            if !withBias { mk_row_sums(pre + b0 * p, g.outChannels, width, ld, rowSums) }
            guard let v else { continue }
            product(g.outChannels, width, kp, v + b.weightOffset, cols, lw, bias: withBias ? v + b.biasOffset : nil,
                    rpre + b0 * p, ld)
            guard l > 0 else { continue }
            chunkCols(g, buffer(blocks[l - 1].rOutUnit), channels: g.inChannels, n: n, b0, count, into: rcols, lw)
            product(g.outChannels, width, kp, params + b.weightOffset, rcols, lw, rpre + b0 * p, ld, accumulate: true)
        }
    }

    /// Stride-1 block l's backward from its output gradient g (and Rg): dW = g cols^T (R: Rg cols^T +
    /// g (R cols)^T), db, and for l > 0 the input gradient into gIn (R: into rgIn).
    ///
    /// From block 1 on, one im2col of g serves both products: the input gradient is Wf gcols (Wf
    /// the flipped weights) and the weight gradient, flipped, is in gcols^T: dW[o, c, ky, kx] =
    /// sum over positions of in[c, pos] gcols[(o, k-1-ky, k-1-kx), pos] (stride 1, padding (k-1)/2).
    func convBackward(_ l: Int, _ params: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int,
                      _ v: UnsafePointer<Float>?, _ g: UnsafeMutablePointer<Float>, _ rg: UnsafeMutablePointer<Float>,
                      _ gIn: UnsafeMutablePointer<Float>, _ rgIn: UnsafeMutablePointer<Float>,
                      _ output: UnsafeMutablePointer<Float>) {
        let b = blocks[l], geo = b.conv, p = geo.outPlane, kp = geo.patchSize, ld = n * p
        let cin = geo.inChannels, cout = geo.outChannels, kk = cout * geo.kernel * geo.kernel
        let (input, cs, bs) = blockInput(l, x, n)
        let cols = chunks, other = chunks + chunkFloats
        let top = v == nil ? g : rg, dW = output + b.weightOffset
        let wf = flipped, vf = flipped + flipStride, dWf = flipped + 2 * flipStride
        if l > 0 {
            mk_conv_flip(params + b.weightOffset, cout, cin, geo.kernel, wf)
            if let v { mk_conv_flip(v + b.weightOffset, cout, cin, geo.kernel, vf) }
        }
        // Output-gradient cols: the same shapes as the input's (stride 1, "same" padding).
        let outGeo = ConvGeometry(inChannels: cout, inHeight: geo.outHeight, inWidth: geo.outWidth,
                                  outChannels: cin, kernel: geo.kernel, stride: 1, padding: geo.padding)
        let step = chunkExamples(l)
        let thin = isThin(l)
        if thin { thinAccumulator.update(repeating: 0, count: geo.weightCount) }
        for b0 in stride(from: 0, to: n, by: step) {
            let count = min(step, n - b0), width = count * p, lw = Self.padded(width), first: Float = b0 == 0 ? 0 : 1
            if thin {
                mk_conv_thin_weight_grad(input + b0 * bs, cin, count, geo.inHeight, geo.inWidth, geo.kernel, cs, bs,
                                         top + b0 * p, cout, ld, thinAccumulator, other)
                continue
            }
            if l == 0 {  // no input gradient: cols of the (thin) input are cheaper than those of g
                mk_im2col_same(input + b0 * bs, cin, count, geo.inHeight, geo.inWidth, geo.kernel, cs, bs, cols, lw)
                Kernels.gemm(.none, .transposed, m: cout, n: kp, k: width, a: top + b0 * p, lda: ld, b: cols,
                             ldb: lw, beta: first, c: dW, ldc: kp)
                continue
            }
            chunkCols(outGeo, g, channels: cout, n: n, b0, count, into: cols, lw)
            // dWf [cout*k*k, cin] = gcols in^T: this operand order packs faster than in gcols^T.
            if v == nil {
                Kernels.gemm(.none, .transposed, m: kk, n: cin, k: width, a: cols, lda: lw, b: input + b0 * bs, ldb: cs,
                             beta: first, c: dWf, ldc: cin)
            } else {
                chunkCols(outGeo, rg, channels: cout, n: n, b0, count, into: other, lw)
                Kernels.gemm(.none, .transposed, m: kk, n: cin, k: width, a: other, lda: lw, b: input + b0 * bs, ldb: cs,
                             beta: first, c: dWf, ldc: cin)
                Kernels.gemm(.none, .transposed, m: kk, n: cin, k: width, a: cols, lda: lw,
                             b: buffer(blocks[l - 1].rOutUnit) + b0 * p, ldb: ld, beta: 1, c: dWf, ldc: cin)
            }
            product(cin, width, kk, wf, cols, lw, gIn + b0 * p, ld)
            guard v != nil else { continue }
            product(cin, width, kk, vf, cols, lw, rgIn + b0 * p, ld)
            product(cin, width, kk, wf, other, lw, rgIn + b0 * p, ld, accumulate: true)
        }
        if l > 0 { mk_conv_unflip_t(dWf, cout, cin, geo.kernel, dW) }  // back to [cout, cin, k, k]
        if thin { for i in 0..<geo.weightCount { dW[i] = Float(thinAccumulator[i]) } }
        // Under batch norm the bias gradient (and its R-derivative) is exactly 0: see forwardPass.
        let db = output + b.biasOffset
        for o in 0..<cout {
            db[o] = config.norm == .batch ? 0 : Float(BatchNorm.chunkedSum(top + o * ld, nil, ld))
        }
    }

    /// out[j] = sum over rows of m[row, j] (Double accumulation).
    func columnSums(_ m: UnsafePointer<Float>, _ rows: Int, _ cols: Int, into out: UnsafeMutablePointer<Float>) {
        for j in 0..<cols {
            var s = 0.0
            for r in 0..<rows { s += Double(m[r * cols + j]) }
            out[j] = Float(s)
        }
    }
}
