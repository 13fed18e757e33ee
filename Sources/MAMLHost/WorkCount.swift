import MAMLCore

// MARK: - Counting backbone work, for GFLOP/s
//
// `maml-host bench` wraps its backbone in a CountingBackbone, so the FLOPs it reports
// are those of the calls the trainer actually made (whatever the algorithm, inner
// steps, batch sizes or HVP fallback), not a formula that could drift from the code:
//
//   FLOPs = sum over loss_grad calls with a gradient of flops(n)
//         + sum over exact HVP calls of 2 * flops(n)
//         + sum over VJP calls of flops(n)
//
// where flops(n) is the model's own "flops" op (maml.ops/1, "u64(u64)": floating-point
// operations of one loss_grad on n examples). An exact HVP is costed as two loss_grads
// of the same batch (forward-over-reverse does about that much matrix work); a
// finite-difference HVP is two real loss_grads and is counted as such. Loss-only calls
// (no gradient: pretrain's query loss) are counted but not costed, so GFLOP/s is a
// lower bound for `--algorithm pretrain`. A VJP runs a forward and a backward pass, so it
// is costed as one loss_grad; forward-only calls (protonet's embeddings) are not costed,
// so GFLOP/s is a lower bound for `--algorithm protonet` too. Calls are counted by batch size, so flops(n)
// need not be linear in n.

/// Calls of one kind, by batch size (a few distinct sizes: a linear scan is cheapest).
public struct BatchHistogram: Equatable, Sendable {
    public private(set) var sizes: [Int] = []
    public private(set) var counts: [Int] = []

    public init() {}

    @inline(__always)
    mutating func add(_ n: Int) {
        for i in sizes.indices where sizes[i] == n {
            counts[i] += 1
            return
        }
        sizes.append(n); counts.append(1)
    }

    /// Total calls.
    public var calls: Int { counts.reduce(0, +) }
    /// Total examples over all calls.
    public var examples: Int { zip(sizes, counts).reduce(0) { $0 + $1.0 * $1.1 } }
}

/// A backbone that forwards everything to `base` and counts loss_grad, loss-only and
/// exact-HVP calls by batch size. Same thread rule as the backbone it wraps. Generic
/// over the base so the forwarding is a direct call (bench measures through it).
public final class CountingBackbone<Base: Backbone>: Backbone {
    public let base: Base
    public private(set) var gradients = BatchHistogram()
    public private(set) var lossOnly = BatchHistogram()
    public private(set) var hvps = BatchHistogram()
    public private(set) var vjps = BatchHistogram()

    public init(_ base: Base) { self.base = base }

    /// Forgets the counts so far (e.g. after a warm-up).
    public func reset() {
        gradients = BatchHistogram(); lossOnly = BatchHistogram(); hvps = BatchHistogram(); vjps = BatchHistogram()
    }

    /// FLOPs of the counted work by the formula above, given flops(n) of one loss_grad.
    public func flops(perLossGrad flopsOf: (Int) throws(HostError) -> UInt64) throws(HostError) -> Double {
        var total = 0.0
        for (n, calls) in zip(gradients.sizes, gradients.counts) { total += Double(calls) * Double(try flopsOf(n)) }
        for (n, calls) in zip(hvps.sizes, hvps.counts) { total += 2 * Double(calls) * Double(try flopsOf(n)) }
        for (n, calls) in zip(vjps.sizes, vjps.counts) { total += Double(calls) * Double(try flopsOf(n)) }
        return total
    }

    // MARK: Backbone, forwarded

    public var parameterCount: Int { base.parameterCount }
    public var inputShape: [Int] { base.inputShape }
    public var outputShape: [Int] { base.outputShape }
    public var lossKind: LossKind { base.lossKind }
    public var layout: [LayoutTensor]? { base.layout }
    public var providesHVP: Bool { base.providesHVP }
    public var providesVJP: Bool { base.providesVJP }
    public var checksFiniteness: Bool { base.checksFiniteness }

    public func initParameters(seed: UInt64, into params: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        try base.initParameters(seed: seed, into: params)
    }

    public func forward(params: UnsafeBufferPointer<Float>, batch: Batch,
                        output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        try base.forward(params: params, batch: batch, output: output)
    }

    public func lossGrad(params: UnsafeBufferPointer<Float>, batch: Batch,
                                grad gradient: UnsafeMutableBufferPointer<Float>?) throws(BackboneError) -> Float {
        if gradient == nil { lossOnly.add(batch.n) } else { gradients.add(batch.n) }
        return try base.lossGrad(params: params, batch: batch, grad: gradient)
    }

    public func hvp(params: UnsafeBufferPointer<Float>, batch: Batch,
                                     v vector: UnsafeBufferPointer<Float>,
                                     output: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        hvps.add(batch.n)
        try base.hvp(params: params, batch: batch, v: vector, output: output)
    }

    public func vjp(params: UnsafeBufferPointer<Float>, batch: Batch, outputGrad: UnsafeBufferPointer<Float>,
                    grad: UnsafeMutableBufferPointer<Float>) throws(BackboneError) {
        vjps.add(batch.n)
        try base.vjp(params: params, batch: batch, outputGrad: outputGrad, grad: grad)
    }
}

extension PluginOps {
    /// flops(n) through the model's "flops" op, which must have signature "u64(u64)".
    public func lossGradFLOPs(batch n: Int) throws(HostError) -> UInt64 {
        guard let op = operation(named: "flops") else {
            throw HostError("model '\(backbone.model.name)' declares no \"flops\" op (maml.ops/1)")
        }
        guard op.signature == OpSignature(result: .u64, parameters: [.u64]) else {
            throw HostError("model '\(backbone.model.name)': op 'flops' has signature \(op.signature), expected u64(u64)")
        }
        guard case .u64(let flops) = try call("flops", [.u64(UInt64(n))]) else {
            throw HostError("op 'flops' returned no u64") // unreachable: the signature says u64
        }
        return flops
    }
}
