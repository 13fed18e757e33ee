import MAMLPluginKit

// MARK: - A convolutional network with exact gradients and Hessian-vector products
//
// The MAML paper's "conv4" and its relatives: `blocks` blocks of
//   [k x k convolution, "same" padding k/2, (stride 2 if downsample = stride)]
//   -> [batch norm with batch statistics, learned scale and shift] (norm = batch)
//   -> ReLU -> [2x2 max-pool] (downsample = maxpool; computed as pool, then ReLU)
// then flatten (PyTorch order: channel, row, column) and a linear head to `classes`
// outputs with MSE or softmax cross-entropy.
//
// Every block keeps its conv bias, also under batch norm where it cancels exactly
// (its gradient is 0): one uniform layout, as the MAML reference code (which uses
// Conv2d(bias=True) before BatchNorm2d).
//
// Gradient: backprop. Hessian-vector product: Pearlmutter's R-operator, forward over
// reverse: an R-forward pass of directional derivatives alongside the forward pass,
// then the backward pass of the gradient together with its R-derivative. Every
// piece is exact: convolution and the head are bilinear in (parameters, input);
// ReLU and max-pool are piecewise linear (R-values go through the forward pass's
// ReLU mask and max-pool winners); batch norm's R-operator is in BatchNorm.swift.
// The passes are in ConvNetworkPasses.swift.
//
// Scratch (activations of every block, their R-values, im2col buffers) is sized for
// the largest batch seen so far and reused: no allocation per call in the steady state.
// Each block keeps its forward im2col for backward's weight gradient (one im2col per
// block and call fewer, for ~35% more cols memory on conv4).

/// A convolutional network with loss, gradient and exact Hessian-vector product.
public final class ConvNetwork {
    /// How a block shrinks the feature map.
    public enum Downsample: String, Sendable, CaseIterable {
        /// 2x2 max-pool after the ReLU (floor division, as PyTorch).
        case maxpool
        /// Stride-2 convolution, no pooling.
        case stride
    }
    /// The normalisation after each convolution.
    public enum Norm: String, Sendable, CaseIterable {
        case none
        /// Batch statistics of the batch given, learned per-channel scale and shift.
        case batch
    }

    /// The shape of the network.
    public struct Config: Equatable, Sendable {
        /// One example's [channels, height, width].
        public var input: [Int]
        /// Output channels of each block (the block count is its length).
        public var channels: [Int]
        /// Odd kernel size; padding is kernel / 2.
        public var kernel: Int
        public var downsample: Downsample
        public var norm: Norm
        public var classes: Int
        public var loss: PluginLossKind
        public var eps: Float = 1e-5

        /// Defaults are the MAML paper's Omniglot conv4 (5-way).
        public init(input: [Int] = [1, 28, 28], channels: [Int] = [64, 64, 64, 64], kernel: Int = 3,
                    downsample: Downsample = .maxpool, norm: Norm = .batch, classes: Int = 5,
                    loss: PluginLossKind = .softmaxCrossEntropy) {
            self.input = input; self.channels = channels; self.kernel = kernel
            self.downsample = downsample; self.norm = norm; self.classes = classes; self.loss = loss
        }
    }

    /// One block's geometry and parameter offsets.
    struct Block {
        var conv: ConvGeometry
        var pooled: Bool
        var weightOffset: Int, biasOffset: Int, gammaOffset: Int, betaOffset: Int  // gamma/beta -1 without norm
        var statOffset: Int   // into invStd / kappa
        var outHeight: Int, outWidth: Int  // after pooling
        // Scratch units (per-example float counts, times capacity)
        var preUnit = 0, actUnit = 0, poolUnit = 0, rPreUnit = 0, rActUnit = 0, rPoolUnit = 0, argUnit = 0
        var winUnit = 0  // pooled: zh at each window's winner (mk_bn_pool_relu), for backward
        var colsUnit = 0  // im2col of the block input, kept from forward for backward's dW
        var convSize: Int { conv.outChannels * conv.outPlane }
        var outSize: Int { conv.outChannels * outHeight * outWidth }
        var outUnit: Int { pooled ? poolUnit : actUnit }
        var rOutUnit: Int { pooled ? rPoolUnit : rActUnit }
    }

    public let config: Config
    public let parameterCount: Int
    /// Features entering the head (channels * height * width of the last block).
    public let featureCount: Int
    let blocks: [Block]
    let headWeightOffset: Int, headBiasOffset: Int
    static let window = 2

    // Scratch: unit u starts at scratch + u * capacity (see Block's units).
    var capacity = 0
    var scratch: UnsafeMutablePointer<Float>
    var argmax: UnsafeMutablePointer<Int32>
    let unitsTotal: Int, argUnitsTotal: Int
    let rColsUnit: Int, dColsUnit: Int
    let gUnits: (Int, Int), rgUnits: (Int, Int)
    let featUnit: Int, rFeatUnit: Int, gFeatUnit: Int, rgFeatUnit: Int
    let logitUnit: Int, rLogitUnit: Int, probUnit: Int, gLogitUnit: Int, rgLogitUnit: Int
    let invStd: UnsafeMutablePointer<Float>, kappa: UnsafeMutablePointer<Float>
    /// Batch-norm means per channel (stats layout) and a block's row sums of pre (mk_row_sums).
    let means: UnsafeMutablePointer<Float>, rowSums: UnsafeMutablePointer<Double>
    /// Block 0's weight gradient in Double when it runs as a direct convolution (isThin).
    let thinAccumulator: UnsafeMutablePointer<Double>
    /// Three weight tensors of the widest block (flipStride floats apart): W and V rotated and
    /// transposed (mk_conv_flip) for backward, and the weight gradient in that layout.
    let flipped: UnsafeMutablePointer<Float>, flipStride: Int
    /// Stride-1 blocks: two im2col chunks of a few examples each (chunkLimit), used and reused
    /// while cache-resident instead of whole-batch cols (see ConvNetworkPasses.swift).
    let chunks: UnsafeMutablePointer<Float>, chunkFloats: Int
    /// Floats of one im2col chunk (above one example's cols, a chunk is one example): 1 MiB, the L2
    /// of a Zen 4 core (1/4 and 2 MiB measured the same on conv4).
    static let chunkLimit = 1 << 18
    let largestPerExample: Int

    /// Builds the network; a config that cannot work is refused with a message naming the key.
    public init(_ config: Config) throws(PluginError) {
        guard config.input.count == 3, config.input.allSatisfy({ $0 >= 1 }) else {
            throw PluginError(.invalidArgument, "config key \"input\": \(config.input) must be [channels, height, width], each at least 1")
        }
        guard !config.channels.isEmpty, config.channels.allSatisfy({ $0 >= 1 }) else {
            throw PluginError(.invalidArgument, "config key \"channels\": \(config.channels) must give at least one block, each at least 1 channel")
        }
        guard config.kernel >= 1, config.kernel % 2 == 1 else {
            throw PluginError(.invalidArgument, "config key \"kernel\": \(config.kernel) must be odd (1, 3, 5, ...) for \"same\" padding")
        }
        guard config.classes >= (config.loss == .softmaxCrossEntropy ? 2 : 1) else {
            throw PluginError(.invalidArgument, "config key \"classes\": \(config.classes) is too few for \(config.loss == .mse ? "mse" : "softmax-ce") (expected at least \(config.loss == .mse ? 1 : 2))")
        }
        self.config = config
        let pooled = config.downsample == .maxpool
        var c = config.input[0], h = config.input[1], w = config.input[2]
        var trail = "\(h)x\(w)"
        var offset = 0, stats = 0, largest = c * h * w
        var list: [Block] = []
        for (l, out) in config.channels.enumerated() {
            let conv = ConvGeometry(inChannels: c, inHeight: h, inWidth: w, outChannels: out, kernel: config.kernel,
                                    stride: pooled ? 1 : 2, padding: config.kernel / 2)
            let oh = pooled ? MaxPool.outSize(conv.outHeight, window: Self.window) : conv.outHeight
            let ow = pooled ? MaxPool.outSize(conv.outWidth, window: Self.window) : conv.outWidth
            trail += " -> \(oh)x\(ow)"
            guard oh >= 1, ow >= 1 else {
                throw PluginError(.invalidArgument, "config: block \(l + 1) of \(config.channels.count) shrinks the feature map to nothing (\"input\" \(config.input): \(trail)); use fewer \"blocks\", a larger \"input\" or \"downsample\": \"stride\"")
            }
            var block = Block(conv: conv, pooled: pooled, weightOffset: offset, biasOffset: offset + conv.weightCount,
                              gammaOffset: -1, betaOffset: -1, statOffset: stats, outHeight: oh, outWidth: ow)
            offset += conv.weightCount + out
            if config.norm == .batch {
                block.gammaOffset = offset; block.betaOffset = offset + out
                offset += 2 * out
            }
            stats += out
            largest = max(largest, block.convSize, conv.patchSize * conv.outPlane)
            list.append(block)
            c = out; h = oh; w = ow
        }
        featureCount = c * h * w
        headWeightOffset = offset
        headBiasOffset = offset + config.classes * featureCount
        parameterCount = headBiasOffset + config.classes
        largestPerExample = max(largest, featureCount)
        guard parameterCount <= 1 << 28, largestPerExample <= 1 << 26 else {
            throw PluginError(.invalidArgument, "config: \(parameterCount) parameters and \(largestPerExample) floats of activations per example is too large (at most \(1 << 28) and \(1 << 26))")
        }

        // Scratch units.
        var units = 0, argUnits = 0
        func take(_ size: Int) -> Int { defer { units += size }; return units }
        for l in list.indices {
            list[l].preUnit = take(list[l].convSize); list[l].actUnit = take(list[l].convSize)
            list[l].rPreUnit = take(list[l].convSize); list[l].rActUnit = take(list[l].convSize)
            list[l].colsUnit = take(list[l].conv.patchSize * list[l].conv.outPlane)
            if list[l].pooled {
                list[l].poolUnit = take(list[l].outSize); list[l].rPoolUnit = take(list[l].outSize)
                list[l].winUnit = take(list[l].outSize)
                list[l].argUnit = argUnits; argUnits += list[l].outSize
            }
        }
        // dcols also holds im2col of a block's output gradient (outChannels * k * k rows) for the
        // input gradient as a convolution with flipped weights (stride 1; see backward).
        let widestCols = list.map { max($0.conv.patchSize, $0.conv.outChannels * $0.conv.kernel * $0.conv.kernel) * $0.conv.outPlane }.max()!
        let widestAct = max(list.map(\.convSize).max()!, featureCount)
        rColsUnit = take(widestCols); dColsUnit = take(widestCols)
        gUnits = (take(widestAct), take(widestAct)); rgUnits = (take(widestAct), take(widestAct))
        featUnit = take(featureCount); rFeatUnit = take(featureCount)
        gFeatUnit = take(featureCount); rgFeatUnit = take(featureCount)
        logitUnit = take(config.classes); rLogitUnit = take(config.classes); probUnit = take(config.classes)
        gLogitUnit = take(config.classes); rgLogitUnit = take(config.classes)
        unitsTotal = units; argUnitsTotal = max(argUnits, 1)
        blocks = list
        invStd = .allocate(capacity: stats); kappa = .allocate(capacity: stats)
        invStd.initialize(repeating: 1, count: stats); kappa.initialize(repeating: 0, count: stats)
        means = .allocate(capacity: stats); means.initialize(repeating: 0, count: stats)
        thinAccumulator = .allocate(capacity: list[0].conv.weightCount)
        rowSums = .allocate(capacity: config.channels.max()!); rowSums.initialize(repeating: 0, count: config.channels.max()!)
        scratch = .allocate(capacity: 1)
        argmax = .allocate(capacity: 1)
        flipStride = list.map(\.conv.weightCount).max()!
        flipped = .allocate(capacity: 3 * flipStride)
        chunkFloats = list.indices.map { max(Self.chunkLimit, Self.chunkRows(list[$0].conv, $0) * Self.padded(list[$0].conv.outPlane)) }.max()!
        chunks = .allocate(capacity: 2 * chunkFloats)
    }

    deinit {
        scratch.deallocate(); argmax.deallocate(); invStd.deallocate(); kappa.deallocate(); flipped.deallocate(); chunks.deallocate()
        means.deallocate(); rowSums.deallocate(); thinAccumulator.deallocate()
    }

    public var inputShape: [Int] { config.input }
    public var outputShape: [Int] { [config.classes] }
    public var blockCount: Int { blocks.count }

    // MARK: Layout and initialisation

    /// Per block "block<l>.conv.weight" [out, in, k, k], ".conv.bias" [out], and with batch
    /// norm ".bn.scale", ".bn.shift" [out] (role "body"); "head.weight" [classes, features]
    /// and "head.bias" [classes] (role "head").
    public var layout: [LayoutTensor] {
        var list: [LayoutTensor] = []
        for (l, b) in blocks.enumerated() {
            let g = b.conv
            list.append(LayoutTensor(name: "block\(l).conv.weight", offset: b.weightOffset,
                                     shape: [g.outChannels, g.inChannels, g.kernel, g.kernel], role: "body"))
            list.append(LayoutTensor(name: "block\(l).conv.bias", offset: b.biasOffset, shape: [g.outChannels], role: "body"))
            if b.gammaOffset >= 0 {
                list.append(LayoutTensor(name: "block\(l).bn.scale", offset: b.gammaOffset, shape: [g.outChannels], role: "body"))
                list.append(LayoutTensor(name: "block\(l).bn.shift", offset: b.betaOffset, shape: [g.outChannels], role: "body"))
            }
        }
        list.append(LayoutTensor(name: "head.weight", offset: headWeightOffset, shape: [config.classes, featureCount], role: "head"))
        list.append(LayoutTensor(name: "head.bias", offset: headBiasOffset, shape: [config.classes], role: "head"))
        return list
    }

    /// PyTorch defaults: conv and linear weights and biases uniform in +-1/sqrt(fan_in)
    /// (kaiming_uniform with a = sqrt(5)), batch-norm scale 1 and shift 0; drawn in
    /// layout order from SplitMix64(seed).
    public func initParameters(seed: UInt64, into params: UnsafeMutablePointer<Float>) {
        var rng = SplitMix64(seed: seed)
        func fill(_ start: Int, _ count: Int, _ bound: Float) {
            for i in 0..<count { params[start + i] = rng.nextFloat(symmetric: bound) }
        }
        for b in blocks {
            let bound = 1 / Float(b.conv.patchSize).squareRoot()
            fill(b.weightOffset, b.conv.weightCount, bound)
            fill(b.biasOffset, b.conv.outChannels, bound)
            if b.gammaOffset >= 0 {
                (params + b.gammaOffset).update(repeating: 1, count: b.conv.outChannels)
                (params + b.betaOffset).update(repeating: 0, count: b.conv.outChannels)
            }
        }
        let bound = 1 / Float(featureCount).squareRoot()
        fill(headWeightOffset, config.classes * featureCount, bound)
        fill(headBiasOffset, config.classes, bound)
    }

    /// Floating-point operations of one loss_grad on a batch of n: 2 per multiply-add of
    /// the matrix products (convolution forward, weight gradient, input gradient for
    /// every block but the first; the same three for the head) plus one per bias add;
    /// im2col, batch norm, ReLU, pooling and the loss are not counted.
    public func flops(batch n: Int) -> UInt64 {
        let n = UInt64(n)
        var total: UInt64 = 0
        for (l, b) in blocks.enumerated() {
            let positions = n * UInt64(b.conv.outPlane)
            let mac = positions * UInt64(b.conv.outChannels) * UInt64(b.conv.patchSize)
            total += 2 * mac * (l > 0 ? 3 : 2) + positions * UInt64(b.conv.outChannels)
        }
        let headMac = n * UInt64(featureCount) * UInt64(config.classes)
        return total + 2 * headMac * 3 + n * UInt64(config.classes)
    }

    // MARK: Scratch

    /// Rows of block l's im2col chunks: its patch, and from block 1 on also the output gradient's
    /// cols (outChannels * k * k rows) for the input gradient.
    static func chunkRows(_ g: ConvGeometry, _ l: Int) -> Int {
        l > 0 ? max(g.patchSize, g.outChannels * g.kernel * g.kernel) : g.patchSize
    }

    /// Row stride of im2col chunks: whole 64-byte lines, so every row's stores are aligned.
    @inline(__always) static func padded(_ width: Int) -> Int { (width + 15) & ~15 }

    @inline(__always) func buffer(_ unit: Int) -> UnsafeMutablePointer<Float> { scratch + unit * capacity }
    @inline(__always) func winners(_ block: Block) -> UnsafeMutablePointer<Int32> { argmax + block.argUnit * capacity }

    /// Grows the scratch when a batch is larger than any before (the only allocation).
    func reserve(_ n: Int) throws(PluginError) {
        guard n > capacity else { return }
        // Matrix dimensions reach n * largestPerExample; BLAS takes 32-bit sizes.
        guard n <= Int(Int32.max) / largestPerExample, n <= (1 << 36) / unitsTotal else {
            throw PluginError(.outOfMemory, "batch of \(n) examples is too large for this network (\(unitsTotal) floats of scratch per example)")
        }
        scratch.deallocate(); argmax.deallocate()
        scratch = .allocate(capacity: unitsTotal * n)
        argmax = .allocate(capacity: argUnitsTotal * n)
        capacity = n
    }
}
