import MAMLKernels
import MAMLPluginKit

// MARK: - A stack of dense layers with exact gradients and Hessian-vector products
//
// sizes [d0, d1, ..., dL]: layer l maps d_l inputs to d_{l+1} outputs, z = a W^T + b,
// with the activation (relu or tanh) between layers and none after the last. The
// head is MSE (mean over all n * dL squared errors) or softmax cross-entropy over dL
// classes (stable log-sum-exp). Parameters: for each layer, W [d_{l+1}, d_l] row-major
// then b [d_{l+1}].
//
// Gradient: backprop. Hessian-vector product: Pearlmutter's R-operator, forward over
// reverse. With direction v = (V_l, c_l) per layer:
//   R-forward   Rz_l = Ra_l W_l^T + a_l V_l^T + c_l  (Ra_0 = 0),  Ra_{l+1} = s'(z_l) Rz_l
//   head        Rg_L = d^2 loss/dz^2 Rz_L  (MSE: 2 Rz / (n dL); CE: p (Rz - p.Rz) / n per row)
//   R-backward  R dW_l = Rg_l^T a_l + g_l^T Ra_l,   R db_l = sum over rows of Rg_l
//               Rga = Rg_l W_l + g_l V_l,   Rg_{l-1} = s'(z) Rga + s''(z) ga Rz_{l-1}
// where s'' = 0 for relu and s'' = -2 a (1 - a^2) for tanh (a = tanh z).
//
// Vector-Jacobian product ("maml.vjp/1"): the forward pass, then the gradient chain and
// weight gradients of loss_grad from g_L = the given d s / d z_out instead of the head's.
//
// hvp reuses the forward pass and gradient chain of the last loss_grads (two slots)
// when params and batch are bitwise the same, as in MAML's support HVP at theta_j.
// Scratch is preallocated for the largest batch seen so far and reused: no
// allocation per call in the steady state. One instance, one thread at a time.
// The element-wise passes (bias + activation, derivative products, tanh's R-backward step,
// bias gradients) are C kernels (MAMLKernels dense_ops.c: 16 wide under AVX-512, where
// Swift's baseline x86-64 build ran 4 wide); tanh is its vector tanh, not libm's.

/// A dense network with loss, gradient and exact Hessian-vector product.
public final class DenseNetwork {
    /// The nonlinearity between layers.
    public enum Activation: String, Sendable, CaseIterable { case relu, tanh }
    /// The loss head.
    public enum Loss: String, Sendable, CaseIterable {
        case mse
        case softmaxCrossEntropy = "softmax-ce"
    }

    /// Layer widths [inputs, hidden..., outputs].
    public let sizes: [Int]
    /// Shape of one example's input (flattened into the sizes[0] inputs of the first layer).
    public let inputShape: [Int]
    public let activation: Activation
    public let loss: Loss
    public let parameterCount: Int

    private let layers: Int
    private let dims: UnsafeMutablePointer<Int>        // sizes, layers + 1 entries
    private let weightOffset: UnsafeMutablePointer<Int>
    private let biasOffset: UnsafeMutablePointer<Int>

    // Scratch: every buffer is `capacity` rows of its own width. A buffer's start is
    // scratch + rowOffset * capacity, with rowOffset the sum of the widths before it.
    // Shared buffers hold the R-passes; each of `slotCount` slots holds one forward and
    // gradient chain (activations, output, CE probabilities, d loss / d z per layer)
    // with the key of the (params, batch) it came from, so hvp can reuse what the
    // matching loss_grad computed (see DenseForwardKey).
    private static let slotCount = 2
    private var capacity = 0
    private var scratch: UnsafeMutablePointer<Float>
    private let rActRow: UnsafeMutablePointer<Int>     // Ra_l, l = 1..<layers (width d_l)
    private let rPreRow: UnsafeMutablePointer<Int>     // Rz_l, l = 0..<layers (width d_{l+1})
    private let rgRow: Int, rgaRow: Int
    private let zRow: UnsafeMutablePointer<Int>        // per slot: a_l for l = 1..<layers, z_out at l = layers
    private let gRow: UnsafeMutablePointer<Int>        // per slot: d loss / d z_l, l = 0..<layers (width d_{l+1})
    private let probRow: Int                           // per slot: CE probabilities
    private let slotRows: Int, sharedRows: Int, rowsTotal: Int
    private var keys: [DenseForwardKey]
    private var nextSlot = 0

    /// Sizes need at least two entries, all >= 1 (CE needs >= 2 outputs). Not checked
    /// beyond preconditions: `init(_ config:)` validates a plugin config first. The
    /// input shape defaults to [sizes[0]].
    public init(sizes: [Int], activation: Activation, loss: Loss, inputShape: [Int]? = nil) {
        precondition(sizes.count >= 2 && sizes.allSatisfy { $0 >= 1 }, "DenseNetwork sizes \(sizes)")
        self.sizes = sizes
        self.inputShape = inputShape ?? [sizes[0]]
        self.activation = activation
        self.loss = loss
        layers = sizes.count - 1
        dims = .allocate(capacity: sizes.count)
        weightOffset = .allocate(capacity: layers)
        biasOffset = .allocate(capacity: layers)
        var count = 0
        for (i, d) in sizes.enumerated() { dims[i] = d }
        for l in 0..<layers {
            weightOffset[l] = count
            count += sizes[l + 1] * sizes[l]
            biasOffset[l] = count
            count += sizes[l + 1]
        }
        parameterCount = count

        rActRow = .allocate(capacity: layers + 1)
        rPreRow = .allocate(capacity: layers)
        var rows = 0
        for l in 1..<max(layers, 1) { rActRow[l] = rows; rows += sizes[l] }
        for l in 0..<layers { rPreRow[l] = rows; rows += sizes[l + 1] }
        let widest = sizes.max()!
        rgRow = rows; rows += widest
        rgaRow = rows; rows += widest
        sharedRows = rows
        // Slot-relative rows.
        zRow = .allocate(capacity: layers + 1)
        gRow = .allocate(capacity: layers)
        rows = 0
        for l in 1...layers { zRow[l] = rows; rows += sizes[l] }
        for l in 0..<layers { gRow[l] = rows; rows += sizes[l + 1] }
        probRow = rows; rows += sizes[layers]
        slotRows = rows
        rowsTotal = sharedRows + Self.slotCount * slotRows
        scratch = .allocate(capacity: 1)
        keys = (0..<Self.slotCount).map { _ in
            DenseForwardKey(parameterCount: count, inputCount: sizes[0], outputCount: sizes[sizes.count - 1],
                            usesLabels: loss == .softmaxCrossEntropy)
        }
    }

    deinit {
        dims.deallocate(); weightOffset.deallocate(); biasOffset.deallocate()
        rActRow.deallocate(); rPreRow.deallocate(); zRow.deallocate(); gRow.deallocate()
        scratch.deallocate()
        for key in keys { key.deallocate() }
    }

    public var inputCount: Int { sizes[0] }
    public var outputCount: Int { sizes[layers] }
    public var outputShape: [Int] { [outputCount] }

    // MARK: Layout and initialisation

    /// "layer<l>.weight" [out, in] and "layer<l>.bias" [out]; the last layer is the "head".
    public var layout: [LayoutTensor] {
        (0..<layers).flatMap { l -> [LayoutTensor] in
            let role = l == layers - 1 ? "head" : "body"
            return [LayoutTensor(name: "layer\(l).weight", offset: weightOffset[l], shape: [sizes[l + 1], sizes[l]], role: role),
                    LayoutTensor(name: "layer\(l).bias", offset: biasOffset[l], shape: [sizes[l + 1]], role: role)]
        }
    }

    /// PyTorch nn.Linear's default: W and b uniform in +-1/sqrt(fan_in), drawn layer by
    /// layer (weights row-major, then biases) from SplitMix64(seed).
    public func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>) {
        var rng = SplitMix64(seed: seed)
        for l in 0..<layers {
            let bound = 1 / Float(dims[l]).squareRoot()
            for i in 0..<(dims[l + 1] * dims[l]) { params[weightOffset[l] + i] = rng.nextFloat(symmetric: bound) }
            for i in 0..<dims[l + 1] { params[biasOffset[l] + i] = rng.nextFloat(symmetric: bound) }
        }
    }

    /// Floating-point operations of one loss_grad on a batch of n: 2 per multiply-add of
    /// the matrix products (forward, weight gradient, input gradient below the first
    /// layer) plus one per bias add and bias-gradient add; activations and the loss are
    /// not counted.
    public func flops(batch n: Int) -> UInt64 {
        var total: UInt64 = 0
        for l in 0..<layers {
            let mac = UInt64(n) * UInt64(dims[l]) * UInt64(dims[l + 1])
            total += 2 * mac * (l > 0 ? 3 : 2) + 2 * UInt64(n) * UInt64(dims[l + 1])
        }
        return total
    }

    // MARK: Entry points (the batch must be valid: see PluginBatch)

    /// Predictions (MSE) or logits (CE) of n examples into output (n * outputCount floats).
    public func forward(params: UnsafePointer<Float>, batch: PluginBatch, output: UnsafeMutablePointer<Float>) {
        reserve(batch.n)
        let slot = claimSlot()
        forwardPass(params, batch.x, batch.n, slot)
        output.update(from: z(slot, layers), count: batch.n * outputCount)
    }

    /// Mean loss (accumulated in Double); the gradient into grad when it is non-nil.
    public func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch, grad: UnsafeMutablePointer<Float>?) -> Float {
        reserve(batch.n)
        let slot = claimSlot()
        forwardPass(params, batch.x, batch.n, slot)
        let value = head(batch, slot, withGradient: grad != nil)
        if let grad {
            gradientChain(params, batch.n, slot)
            weightGradients(batch.x, batch.n, slot, into: grad)
            keys[slot].store(params, batch)
        }
        return Float(value)
    }

    /// output = Hessian of the mean loss times v (parameterCount floats each, not aliased).
    /// Reuses the forward pass and gradient chain of an earlier loss_grad at bitwise the
    /// same (params, batch) if a slot still holds it; the arithmetic is the same either way.
    public func hvp(params: UnsafePointer<Float>, batch: PluginBatch, v: UnsafePointer<Float>,
                    output: UnsafeMutablePointer<Float>) {
        reserve(batch.n)
        var slot = -1
        for s in 0..<Self.slotCount where keys[s].matches(params, batch) { slot = s; break }
        if slot < 0 {
            slot = claimSlot()
            forwardPass(params, batch.x, batch.n, slot)
            _ = head(batch, slot, withGradient: true)
            gradientChain(params, batch.n, slot)
            keys[slot].store(params, batch)
        }
        rForwardPass(params, batch.x, batch.n, direction: v, slot)
        headHessian(batch.n, slot, into: buffer(rgRow))
        rBackward(params, batch.x, batch.n, v: v, slot, output: output)
    }

    /// grad = d s / d params for d s / d outputs = outputGrad (n * outputCount floats): the backward
    /// pass of lossGrad from outputGrad instead of the loss head's gradient. Targets are not read.
    /// The slot it uses is not kept for hvp (its chain is not the loss's).
    public func vjp(params: UnsafePointer<Float>, batch: PluginBatch, outputGrad: UnsafePointer<Float>,
                    grad: UnsafeMutablePointer<Float>) {
        reserve(batch.n)
        let slot = claimSlot()
        forwardPass(params, batch.x, batch.n, slot)
        g(slot, layers - 1).update(from: outputGrad, count: batch.n * outputCount)
        gradientChain(params, batch.n, slot)
        weightGradients(batch.x, batch.n, slot, into: grad)
    }

    // MARK: Scratch

    @inline(__always) private func buffer(_ row: Int) -> UnsafeMutablePointer<Float> { scratch + row * capacity }
    /// Slot buffers: a_l (l < layers) or the output z (l == layers); d loss / d z_l; CE probabilities.
    @inline(__always) private func z(_ slot: Int, _ l: Int) -> UnsafeMutablePointer<Float> {
        buffer(sharedRows + slot * slotRows + zRow[l])
    }
    @inline(__always) private func g(_ slot: Int, _ l: Int) -> UnsafeMutablePointer<Float> {
        buffer(sharedRows + slot * slotRows + gRow[l])
    }
    @inline(__always) private func prob(_ slot: Int) -> UnsafeMutablePointer<Float> {
        buffer(sharedRows + slot * slotRows + probRow)
    }
    /// The input of layer l: x or a_l in the slot.
    @inline(__always) private func layerInput(_ x: UnsafePointer<Float>, _ slot: Int, _ l: Int) -> UnsafePointer<Float> {
        l == 0 ? x : UnsafePointer(z(slot, l))
    }

    /// Grows the scratch when a batch is larger than any before (the only allocation).
    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        scratch.deallocate()
        scratch = .allocate(capacity: rowsTotal * n)
        capacity = n
        for s in 0..<Self.slotCount { keys[s].invalidate() }  // the slots' contents are gone
    }

    /// The next slot round-robin, its key invalidated before it is overwritten.
    private func claimSlot() -> Int {
        let slot = nextSlot
        nextSlot = (nextSlot + 1) % Self.slotCount
        keys[slot].invalidate()
        return slot
    }

    // MARK: Forward and R-forward

    private func forwardPass(_ params: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, _ slot: Int) {
        for l in 0..<layers {
            let fin = dims[l], fout = dims[l + 1]
            let out = z(slot, l + 1)
            affine(layerInput(x, slot, l), n, fin, fout, params + weightOffset[l], params + biasOffset[l], into: out,
                   activation: l < layers - 1 ? actCode : 0)
        }
    }

    /// Rz_l = Ra_l W_l^T + a_l V_l^T + c_l and Ra_{l+1} = s'(z_l) Rz_l, from the slot's activations.
    private func rForwardPass(_ params: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int,
                              direction v: UnsafePointer<Float>, _ slot: Int) {
        var rInput: UnsafePointer<Float>? = nil  // Ra_l; nil means zero (l = 0)
        for l in 0..<layers {
            let fin = dims[l], fout = dims[l + 1]
            let r = buffer(rPreRow[l])
            Kernels.gemm(.none, .transposed, m: n, n: fout, k: fin, a: layerInput(x, slot, l), lda: fin,
                         b: v + weightOffset[l], ldb: fin, beta: 0, c: r, ldc: fout)
            if let rInput {
                Kernels.gemm(.none, .transposed, m: n, n: fout, k: fin, a: rInput, lda: fin,
                             b: params + weightOffset[l], ldb: fin, beta: 1, c: r, ldc: fout)
            }
            guard l < layers - 1 else { mk_dense_bias_act(0, r, v + biasOffset[l], n, fout); break }
            // Rz += c_l, then Ra_{l+1} = s'(z_l) Rz in the same pass.
            let ra = buffer(rActRow[l + 1])
            mk_dense_bias_deriv(actCode, r, v + biasOffset[l], z(slot, l + 1), ra, n, fout)
            rInput = UnsafePointer(ra)
        }
    }

    /// out[n, fout] = act(input[n, fin] W^T + b): the GEMM with beta 0, then bias and activation
    /// in one C pass (MAMLKernels dense_ops.c; the sum + bias rounds as the old beta-1 GEMM did).
    @inline(__always)
    private func affine(_ input: UnsafePointer<Float>, _ n: Int, _ fin: Int, _ fout: Int,
                        _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                        activation act: Int32) {
        Kernels.gemm(.none, .transposed, m: n, n: fout, k: fin, a: input, lda: fin, b: w, ldb: fin,
                     beta: 0, c: out, ldc: fout)
        mk_dense_bias_act(act, out, b, n, fout)
    }

    /// The activation's code in dense_ops.c: 1 relu, 2 tanh (0 is none, the last layer).
    private var actCode: Int32 { activation == .relu ? 1 : 2 }

    // MARK: Loss head

    public var lossKind: PluginLossKind { loss == .mse ? .mse : .softmaxCrossEntropy }

    /// The mean loss from the slot's output; with `withGradient`, d loss / d z_out into the
    /// slot's last g (CE probabilities always go to the slot's prob).
    private func head(_ batch: PluginBatch, _ slot: Int, withGradient: Bool) -> Double {
        LossHead.evaluate(lossKind, outputs: z(slot, layers), n: batch.n, d: outputCount, batch: batch,
                          probabilities: prob(slot), gradient: withGradient ? g(slot, layers - 1) : nil)
    }

    /// Rg = (d^2 loss / d z_out^2) Rz_out, from the probabilities `head` left.
    private func headHessian(_ n: Int, _ slot: Int, into rg: UnsafeMutablePointer<Float>) {
        LossHead.hessianTimes(lossKind, buffer(rPreRow[layers - 1]), n: n, d: outputCount,
                              probabilities: prob(slot), into: rg)
    }

    // MARK: Backward

    /// g_{l-1} = s'(z_{l-1}) (g_l W_l) down the slot, from the head's g_{layers-1}.
    private func gradientChain(_ params: UnsafePointer<Float>, _ n: Int, _ slot: Int) {
        for l in stride(from: layers - 1, through: 1, by: -1) {
            let fin = dims[l], fout = dims[l + 1]
            let ga = g(slot, l - 1)
            Kernels.gemm(.none, .none, m: n, n: fin, k: fout, a: g(slot, l), lda: fout, b: params + weightOffset[l],
                         ldb: fin, beta: 0, c: ga, ldc: fin)
            mk_dense_deriv(actCode, ga, z(slot, l), ga, n * fin)
        }
    }

    /// dW_l = g_l^T a_l, db_l = column sums of g_l, from the slot's gradient chain.
    private func weightGradients(_ x: UnsafePointer<Float>, _ n: Int, _ slot: Int, into grad: UnsafeMutablePointer<Float>) {
        for l in 0..<layers {
            let fin = dims[l], fout = dims[l + 1]
            Kernels.gemm(.transposed, .none, m: fout, n: fin, k: n, a: g(slot, l), lda: fout,
                         b: layerInput(x, slot, l), ldb: fin, beta: 0, c: grad + weightOffset[l], ldc: fin)
            mk_dense_col_sums(g(slot, l), n, fout, grad + biasOffset[l])
        }
    }

    /// The R-backward pass: writes the Hessian-vector product into output, using the
    /// slot's activations and gradient chain and the shared R-forward buffers.
    private func rBackward(_ params: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int,
                           v: UnsafePointer<Float>, _ slot: Int, output: UnsafeMutablePointer<Float>) {
        var rg = buffer(rgRow), rga = buffer(rgaRow)
        for l in stride(from: layers - 1, through: 0, by: -1) {
            let fin = dims[l], fout = dims[l + 1]
            let input = layerInput(x, slot, l)
            let gl = g(slot, l)
            let w = params + weightOffset[l]
            // R dW = Rg^T a + g^T Ra;  R db = column sums of Rg.
            Kernels.gemm(.transposed, .none, m: fout, n: fin, k: n, a: rg, lda: fout, b: input, ldb: fin,
                         beta: 0, c: output + weightOffset[l], ldc: fin)
            if l > 0 {
                Kernels.gemm(.transposed, .none, m: fout, n: fin, k: n, a: gl, lda: fout,
                             b: buffer(rActRow[l]), ldb: fin, beta: 1, c: output + weightOffset[l], ldc: fin)
            }
            mk_dense_col_sums(rg, n, fout, output + biasOffset[l])
            guard l > 0 else { break }
            // Rga = Rg W + g V.
            Kernels.gemm(.none, .none, m: n, n: fin, k: fout, a: rg, lda: fout, b: w, ldb: fin, beta: 0, c: rga, ldc: fin)
            Kernels.gemm(.none, .none, m: n, n: fin, k: fout, a: gl, lda: fout, b: v + weightOffset[l], ldb: fin,
                         beta: 1, c: rga, ldc: fin)
            // Rg_{l-1} = s' Rga + s'' ga Rz_{l-1}, with s'' ga = -2 a s' ga = -2 a g_{l-1} for tanh.
            let count = n * fin
            switch activation {
            case .relu: mk_dense_deriv(1, rga, input, rga, count)
            case .tanh: mk_dense_rgrad_tanh(input, g(slot, l - 1), buffer(rPreRow[l - 1]), rga, count)
            }
            swap(&rg, &rga)
        }
    }
}
