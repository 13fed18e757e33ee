import MAMLKernels
import MAMLPluginKit

// MARK: - 2-D convolution by im2col + GEMM, batched over the examples
//
// Activations inside the conv network are stored channel-major over the batch,
// "CNHW": channel c of example b is the plane at c * (n*H*W) + b * (H*W). Then one
// convolution of the whole batch is ONE matrix product:
//
//   out[Cout, n*Ho*Wo] = W[Cout, Cin*k*k] * cols[Cin*k*k, n*Ho*Wo]  (+ bias per row)
//
// where cols (im2col) holds, for each output position, the input patch under the
// kernel (zero where the patch hangs over the padding). The host's input is NCHW
// instead (example-major); im2col takes the channel and example strides, so the
// first layer reads it in place.
//
// Backward: dW = dOut cols^T, db = row sums of dOut, dcols = W^T dOut, and col2im
// adds dcols back onto the input positions (the adjoint of im2col).

/// The shape arithmetic of one convolution: square kernel, equal stride and padding in y and x.
public struct ConvGeometry: Equatable, Sendable {
    public var inChannels: Int, inHeight: Int, inWidth: Int
    public var outChannels: Int
    public var kernel: Int, stride: Int, padding: Int

    public init(inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int,
                kernel: Int, stride: Int, padding: Int) {
        self.inChannels = inChannels; self.inHeight = inHeight; self.inWidth = inWidth
        self.outChannels = outChannels; self.kernel = kernel; self.stride = stride; self.padding = padding
    }

    /// floor((H + 2p - k) / s) + 1 (PyTorch's Conv2d); < 1 means the kernel does not fit.
    public var outHeight: Int { (inHeight + 2 * padding - kernel) / stride + 1 }
    public var outWidth: Int { (inWidth + 2 * padding - kernel) / stride + 1 }
    /// Rows of cols: Cin * k * k, the fan-in of one output.
    public var patchSize: Int { inChannels * kernel * kernel }
    /// Output positions per example.
    public var outPlane: Int { outHeight * outWidth }
    public var weightCount: Int { outChannels * patchSize }
    /// Stride 1 and "same" padding (odd kernel, padding k/2): the shapes conv_ops.c's im2col takes.
    public var isSameStride1: Bool { stride == 1 && kernel % 2 == 1 && padding == kernel / 2 }
}

/// Convolution kernels over CNHW activations (see the file comment).
public enum Conv2D {
    /// cols[K, n*Ho*Wo] from an input whose element (c, b, y, x) is at
    /// c * channelStride + b * batchStride + y * inWidth + x.
    public static func im2col(_ g: ConvGeometry, input: UnsafePointer<Float>, n: Int,
                              channelStride: Int, batchStride: Int, cols: UnsafeMutablePointer<Float>) {
        if g.isSameStride1 {  // one shifted copy per cols row (conv_ops.c)
            mk_im2col_same(input, g.inChannels, n, g.inHeight, g.inWidth, g.kernel, channelStride, batchStride, cols,
                           n * g.outPlane)
            return
        }
        let k = g.kernel, s = g.stride, p = g.padding
        let ho = g.outHeight, wo = g.outWidth, hi = g.inHeight, wi = g.inWidth
        let rowLength = n * ho * wo
        for c in 0..<g.inChannels {
            for ky in 0..<k {
                for kx in 0..<k {
                    let row = cols + ((c * k + ky) * k + kx) * rowLength
                    let (lo, hiX) = validColumns(g, kx)
                    for b in 0..<n {
                        let plane = input + c * channelStride + b * batchStride
                        for oy in 0..<ho {
                            let dst = row + (b * ho + oy) * wo
                            let iy = oy * s - p + ky
                            guard iy >= 0 && iy < hi else { dst.update(repeating: 0, count: wo); continue }
                            let src = plane + iy * wi - p + kx
                            if lo > 0 { dst.update(repeating: 0, count: lo) }
                            if s == 1 {
                                (dst + lo).update(from: src + lo, count: hiX - lo)
                            } else {
                                for ox in lo..<hiX { dst[ox] = src[ox * s] }
                            }
                            if hiX < wo { (dst + hiX).update(repeating: 0, count: wo - hiX) }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of im2col: output (CNHW, n examples) = sum of cols entries onto their input positions.
    public static func col2im(_ g: ConvGeometry, cols: UnsafePointer<Float>, n: Int, output: UnsafeMutablePointer<Float>) {
        let k = g.kernel, s = g.stride, p = g.padding
        let ho = g.outHeight, wo = g.outWidth, hi = g.inHeight, wi = g.inWidth
        let rowLength = n * ho * wo, plane = hi * wi
        output.update(repeating: 0, count: g.inChannels * n * plane)
        for c in 0..<g.inChannels {
            for ky in 0..<k {
                for kx in 0..<k {
                    let row = cols + ((c * k + ky) * k + kx) * rowLength
                    let (lo, hiX) = validColumns(g, kx)
                    for b in 0..<n {
                        let dstPlane = output + (c * n + b) * plane
                        for oy in 0..<ho {
                            let iy = oy * s - p + ky
                            guard iy >= 0 && iy < hi else { continue }
                            let src = row + (b * ho + oy) * wo
                            let dst = dstPlane + iy * wi - p + kx
                            if s == 1 {
                                Kernels.axpy(1, src + lo, dst + lo, hiX - lo)
                            } else {
                                for ox in lo..<hiX { dst[ox * s] += src[ox] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The output columns [lo, hi) whose input column ox*s - p + kx lies inside [0, inWidth).
    @inline(__always)
    static func validColumns(_ g: ConvGeometry, _ kx: Int) -> (Int, Int) {
        let s = g.stride, wo = g.outWidth
        let first = g.padding - kx                 // ox*s >= first
        let last = g.inWidth - 1 + g.padding - kx  // ox*s <= last
        let lo = first <= 0 ? 0 : min(wo, (first + s - 1) / s)
        let hi = last < 0 ? lo : min(wo, max(lo, last / s + 1))
        return (lo, hi)
    }

    /// out[Cout, n*Ho*Wo] = weight[Cout, K] cols + bias (bias nil: none), or += with accumulate.
    public static func forward(_ g: ConvGeometry, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               cols: UnsafePointer<Float>, n: Int, output: UnsafeMutablePointer<Float>,
                               accumulate: Bool = false) {
        let columns = n * g.outPlane
        if !accumulate && bias == nil {  // beta 0: no fill pass
            Kernels.gemm(.none, .none, m: g.outChannels, n: columns, k: g.patchSize, a: weight, lda: g.patchSize,
                         b: cols, ldb: columns, beta: 0, c: output, ldc: columns)
            return
        }
        if !accumulate {
            for o in 0..<g.outChannels {
                (output + o * columns).update(repeating: bias?[o] ?? 0, count: columns)
            }
        } else if let bias {
            for o in 0..<g.outChannels {
                let row = output + o * columns, b = bias[o]
                for i in 0..<columns { row[i] += b }
            }
        }
        Kernels.gemm(.none, .none, m: g.outChannels, n: columns, k: g.patchSize, a: weight, lda: g.patchSize,
                     b: cols, ldb: columns, beta: 1, c: output, ldc: columns)
    }

    /// dW (+)= gradOut cols^T and db (+)= row sums of gradOut (accumulate: add to what is there).
    public static func parameterGradient(_ g: ConvGeometry, gradOut: UnsafePointer<Float>, cols: UnsafePointer<Float>,
                                         n: Int, weightGrad: UnsafeMutablePointer<Float>,
                                         biasGrad: UnsafeMutablePointer<Float>?, accumulate: Bool = false) {
        let columns = n * g.outPlane
        Kernels.gemm(.none, .transposed, m: g.outChannels, n: g.patchSize, k: columns, a: gradOut, lda: columns,
                     b: cols, ldb: columns, beta: accumulate ? 1 : 0, c: weightGrad, ldc: g.patchSize)
        guard let biasGrad else { return }
        for o in 0..<g.outChannels {
            let s = BatchNorm.chunkedSum(gradOut + o * columns, nil, columns)
            biasGrad[o] = accumulate ? biasGrad[o] + Float(s) : Float(s)
        }
    }

    /// dcols (+)= weight^T gradOut: the gradient with respect to cols (then col2im).
    public static func colsGradient(_ g: ConvGeometry, weight: UnsafePointer<Float>, gradOut: UnsafePointer<Float>,
                                    n: Int, colsGrad: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        let columns = n * g.outPlane
        Kernels.gemm(.transposed, .none, m: g.patchSize, n: columns, k: g.outChannels, a: weight, lda: g.patchSize,
                     b: gradOut, ldb: columns, beta: accumulate ? 1 : 0, c: colsGrad, ldc: columns)
    }
}
