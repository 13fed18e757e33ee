import MAMLPluginABI
import MAMLPluginKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - tinymlp-swift: the model of docs/authoring.md, written with the plugin kit
//
// One hidden layer of tanh units and a linear output, MSE loss:
//
//     a = x W1^T + b1,   h = tanh(a),   o = h W2^T + b2   (rows are examples)
//
// with the exact gradient (backpropagation) and the exact Hessian-vector product
// (Pearlmutter's R-operator, forward over reverse), the matrix products through the
// kit's `Kernels.gemm` (OpenBLAS or small-shape C kernels) and the loss through its
// `LossHead`. The kit's PluginModel turns this class into the C ABI (config validation
// against the schema, status and last_error for every thrown PluginError, pointer and
// size checks, non-finite checks, layout, ops). The same parameter layout as the C and
// Rust examples: W1 [hidden, inputs], b1 [hidden], W2 [outputs, hidden], b2 [outputs].

final class TinyMLP: PluginModel {
    static let info = ModelInfo(
        id: "org.example.tinymlp-swift", name: "tinymlp-swift", version: "1.0.0", family: "mlp",
        summary: "one-hidden-layer tanh MLP for regression, in Swift with the plugin kit (docs/examples/swift)",
        configSchema: """
            {"type": "object", "properties": {
              "inputs": {"type": "integer", "default": 1, "minimum": 1, "maximum": 4096,
                         "description": "input features per example"},
              "hidden": {"type": "integer", "default": 40, "minimum": 1, "maximum": 4096,
                         "description": "tanh units in the hidden layer"},
              "outputs": {"type": "integer", "default": 1, "minimum": 1, "maximum": 4096,
                          "description": "regression outputs per example"}},
             "additionalProperties": false,
             "examples": [{"hidden": 8}, {"inputs": 3, "hidden": 16, "outputs": 2}]}
            """)

    static let ops: [PluginOp] = [
        PluginOp(name: "flops", help: "floating-point operations of one loss_grad on a batch of the given size",
                 signature: "u64(u64)",
                 function: { (m: OpaquePointer?, n: UInt64) -> UInt64 in
                     guard let model = modelInstance(m, as: TinyMLP.self), n <= UInt64(Int.max) else { return 0 }
                     return model.flops(batch: Int(n))
                 } as @convention(c) (OpaquePointer?, UInt64) -> UInt64),
    ]

    let inputs: Int, hidden: Int, outputs: Int
    /// Offsets of W1, b1, W2, b2 in the parameter vector.
    let w1 = 0
    let b1: Int, w2: Int, b2: Int
    let parameterCount: Int
    var inputShape: [Int] { [inputs] }
    var outputShape: [Int] { [outputs] }
    var lossKind: PluginLossKind { .mse }
    var providesHVP: Bool { true }

    var layout: [LayoutTensor] {
        [LayoutTensor(name: "layer0.weight", offset: w1, shape: [hidden, inputs], role: "body"),
         LayoutTensor(name: "layer0.bias", offset: b1, shape: [hidden], role: "body"),
         LayoutTensor(name: "layer1.weight", offset: w2, shape: [outputs, hidden], role: "head"),
         LayoutTensor(name: "layer1.bias", offset: b2, shape: [outputs], role: "head")]
    }

    /// The config is validated against the schema and every key filled in before this runs.
    init(config: JSONObject) throws(PluginError) {
        inputs = try config.requireInt("inputs")
        hidden = try config.requireInt("hidden")
        outputs = try config.requireInt("outputs")
        b1 = hidden * inputs
        w2 = b1 + hidden
        b2 = w2 + outputs * hidden
        parameterCount = b2 + outputs
    }

    deinit { scratch.deallocate() }

    /// Weights and biases uniform in +-1/sqrt(fan_in) (PyTorch's nn.Linear), layer by layer.
    func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>) throws(PluginError) {
        var rng = SplitMix64(seed: seed)
        for (start, count, fanIn) in [(w1, hidden * inputs, inputs), (b1, hidden, inputs),
                                      (w2, outputs * hidden, hidden), (b2, outputs, hidden)] {
            let bound = 1 / Float(fanIn).squareRoot()
            for i in 0..<count { params[start + i] = rng.nextFloat(symmetric: bound) }
        }
    }

    /// 2 per multiply-add of the matrix products (forward, weight gradients, the hidden
    /// layer's input gradient) plus one per bias add and bias-gradient add.
    func flops(batch n: Int) -> UInt64 {
        let (n, d, h, o) = (UInt64(n), UInt64(inputs), UInt64(hidden), UInt64(outputs))
        return 2 * n * d * h * 2 + 2 * n * h + 2 * n * h * o * 3 + 2 * n * o
    }

    func forward(params: UnsafePointer<Float>, batch: PluginBatch, output: UnsafeMutablePointer<Float>) throws(PluginError) {
        let b = reserve(batch.n)
        forwardPass(params, batch.x, batch.n, b)
        output.update(from: b.o, count: batch.n * outputs)
    }

    func lossGrad(params: UnsafePointer<Float>, batch: PluginBatch, grad: UnsafeMutablePointer<Float>?) throws(PluginError) -> Float {
        let n = batch.n, b = reserve(n)
        forwardPass(params, batch.x, n, b)
        let loss = LossHead.evaluate(.mse, outputs: b.o, n: n, d: outputs, batch: batch, probabilities: b.p,
                                     gradient: grad == nil ? nil : b.gO)
        if let grad {
            // dW2 = gO^T h, db2 = column sums of gO; gA = (gO W2) * tanh'; dW1 = gA^T x, db1 = column sums of gA.
            Kernels.gemm(.transposed, .none, m: outputs, n: hidden, k: n, a: b.gO, lda: outputs, b: b.h, ldb: hidden,
                         c: grad + w2, ldc: hidden)
            columnSums(b.gO, n, outputs, into: grad + b2)
            hiddenGradient(params, n, b)
            Kernels.gemm(.transposed, .none, m: hidden, n: inputs, k: n, a: b.gA, lda: hidden, b: batch.x, ldb: inputs,
                         c: grad + w1, ldc: inputs)
            columnSums(b.gA, n, hidden, into: grad + b1)
        }
        return Float(loss)
    }

    /// R-forward: Ra = x V1^T + c1, Rh = tanh'(a) Ra, Ro = h V2^T + c2 + Rh W2^T; then
    /// RgO = (d^2 loss / d o^2) Ro and the R-backward pass:
    ///   R dW2 = RgO^T h + gO^T Rh,   R db2 = column sums of RgO,
    ///   RgA = tanh'(a) (RgO W2 + gO V2) + tanh''(a) (gO W2) Ra, with tanh'' = -2 h tanh',
    ///   R dW1 = RgA^T x,   R db1 = column sums of RgA.
    func hvp(params: UnsafePointer<Float>, batch: PluginBatch, v: UnsafePointer<Float>,
             output: UnsafeMutablePointer<Float>) throws(PluginError) {
        let n = batch.n, x = batch.x, b = reserve(n)
        forwardPass(params, x, n, b)
        _ = LossHead.evaluate(.mse, outputs: b.o, n: n, d: outputs, batch: batch, probabilities: b.p, gradient: b.gO)
        hiddenGradient(params, n, b)
        let h = b.h, gA = b.gA, rA = b.rA, rH = b.rH, rgA = b.rgA, gO = b.gO, rO = b.rO, rgO = b.rgO

        affine(x, n, inputs, hidden, v + w1, v + b1, into: rA)
        for i in 0..<(n * hidden) { rH[i] = (1 - h[i] * h[i]) * rA[i] }
        affine(h, n, hidden, outputs, v + w2, v + b2, into: rO)
        Kernels.gemm(.none, .transposed, m: n, n: outputs, k: hidden, a: rH, lda: hidden, b: params + w2, ldb: hidden,
                     beta: 1, c: rO, ldc: outputs)
        LossHead.hessianTimes(.mse, rO, n: n, d: outputs, probabilities: b.p, into: rgO)

        Kernels.gemm(.transposed, .none, m: outputs, n: hidden, k: n, a: rgO, lda: outputs, b: h, ldb: hidden,
                     c: output + w2, ldc: hidden)
        Kernels.gemm(.transposed, .none, m: outputs, n: hidden, k: n, a: gO, lda: outputs, b: rH, ldb: hidden,
                     beta: 1, c: output + w2, ldc: hidden)
        columnSums(rgO, n, outputs, into: output + b2)
        Kernels.gemm(.none, .none, m: n, n: hidden, k: outputs, a: rgO, lda: outputs, b: params + w2, ldb: hidden,
                     c: rgA, ldc: hidden)
        Kernels.gemm(.none, .none, m: n, n: hidden, k: outputs, a: gO, lda: outputs, b: v + w2, ldb: hidden,
                     beta: 1, c: rgA, ldc: hidden)
        for i in 0..<(n * hidden) {
            rgA[i] = (1 - h[i] * h[i]) * rgA[i] - 2 * h[i] * gA[i] * rA[i]
        }
        Kernels.gemm(.transposed, .none, m: hidden, n: inputs, k: n, a: rgA, lda: hidden, b: x, ldb: inputs,
                     c: output + w1, ldc: inputs)
        columnSums(rgA, n, hidden, into: output + b1)
    }

    // MARK: Passes

    /// h = tanh(x W1^T + b1), o = h W2^T + b2.
    private func forwardPass(_ params: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, _ b: Buffers) {
        let h = b.h
        affine(x, n, inputs, hidden, params + w1, params + b1, into: h)
        for i in 0..<(n * hidden) { h[i] = tanhf(h[i]) }
        affine(h, n, hidden, outputs, params + w2, params + b2, into: b.o)
    }

    /// gA = d loss / d a = (gO W2) * (1 - h^2), from the head's gO.
    private func hiddenGradient(_ params: UnsafePointer<Float>, _ n: Int, _ b: Buffers) {
        let h = b.h, gA = b.gA
        Kernels.gemm(.none, .none, m: n, n: hidden, k: outputs, a: b.gO, lda: outputs, b: params + w2, ldb: hidden,
                     c: gA, ldc: hidden)
        for i in 0..<(n * hidden) { gA[i] *= 1 - h[i] * h[i] }
    }

    /// out[n, fout] = input[n, fin] W^T + b.
    private func affine(_ input: UnsafePointer<Float>, _ n: Int, _ fin: Int, _ fout: Int,
                        _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        Kernels.broadcastRows(b, into: out, rows: n, width: fout)
        Kernels.gemm(.none, .transposed, m: n, n: fout, k: fin, a: input, lda: fin, b: w, ldb: fin,
                     beta: 1, c: out, ldc: fout)
    }

    /// out[j] = sum over the rows of m[row, j].
    private func columnSums(_ m: UnsafePointer<Float>, _ rows: Int, _ cols: Int, into out: UnsafeMutablePointer<Float>) {
        for j in 0..<cols {
            var s: Float = 0
            for r in 0..<rows { s += m[r * cols + j] }
            out[j] = s
        }
    }

    // MARK: Scratch, sized for the largest batch so far (no allocation in the steady state)

    /// Per example: h, gA, rA, rH, rgA (hidden floats each) and o, gO, p, rO, rgO (outputs each).
    private struct Buffers {
        var h, gA, rA, rH, rgA, o, gO, p, rO, rgO: UnsafeMutablePointer<Float>
    }
    private var capacity = 0
    private var scratch = UnsafeMutablePointer<Float>.allocate(capacity: 1)

    private func reserve(_ n: Int) -> Buffers {
        if n > capacity {
            scratch.deallocate()
            scratch = .allocate(capacity: n * 5 * (hidden + outputs))
            capacity = n
        }
        let hs = capacity * hidden, os = capacity * outputs, out = scratch + 5 * hs
        return Buffers(h: scratch, gA: scratch + hs, rA: scratch + 2 * hs, rH: scratch + 3 * hs, rgA: scratch + 4 * hs,
                       o: out, gO: out + os, p: out + 2 * os, rO: out + 3 * os, rgO: out + 4 * os)
    }
}

// MARK: - Registry and the exported entry point

let registry = PluginRegistry(pluginID: "org.example.tinymlp-swift-plugin", version: "1.0.0", models: [
    ModelDescriptor(TinyMLP.self) { TinyMLP.create($0, $1, $2, $3) },
])

/// The plugin's one exported symbol, with C linkage (`@c`, Swift 6.3).
@c(maml_plugin_registry)
public func mamlPluginRegistry(_ major: UInt32, _ minor: UInt32,
                               _ host: UnsafePointer<maml_host_api>?) -> UnsafePointer<maml_registry>? {
    registry.entry(hostMajor: major, hostMinor: minor, host: host)
}
