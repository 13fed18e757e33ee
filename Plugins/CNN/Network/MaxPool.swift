// MARK: - Max-pooling with remembered winners
//
// Non-overlapping size x size windows (stride = size), floor division of the plane
// as PyTorch's MaxPool2d: rows or columns left over at the bottom or right are
// dropped. Max-pooling is piecewise linear: in a neighbourhood of a point without
// ties it is a fixed selection, so its derivative, its adjoint and its R-derivative
// all go through the winner chosen in the forward pass (first maximum in scan
// order on ties, as PyTorch). Planes are contiguous: `planes` = channels * n.

/// Max-pooling over contiguous planes with argmax indices for backward and R-passes.
public enum MaxPool {
    /// Pooled size of one dimension.
    @inline(__always)
    public static func outSize(_ size: Int, window: Int) -> Int { size / window }

    /// output[q, oy, ox] = max of the window; argmax[...] = the winner's index within its input plane.
    public static func forward(input: UnsafePointer<Float>, planes: Int, height: Int, width: Int, window: Int,
                               output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>) {
        let ho = outSize(height, window: window), wo = outSize(width, window: window)
        for q in 0..<planes {
            let src = input + q * height * width
            let dst = output + q * ho * wo, arg = argmax + q * ho * wo
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var best = oy * window * width + ox * window
                    var value = src[best]
                    for dy in 0..<window {
                        let rowStart = (oy * window + dy) * width + ox * window
                        for dx in 0..<window where src[rowStart + dx] > value {
                            value = src[rowStart + dx]; best = rowStart + dx
                        }
                    }
                    dst[oy * wo + ox] = value
                    arg[oy * wo + ox] = Int32(best)
                }
            }
        }
    }

    /// output[q, i] = input[q-plane, argmax[q, i]]: the R-forward (and any linear pass-through).
    public static func gather(input: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, planes: Int,
                              height: Int, width: Int, window: Int, output: UnsafeMutablePointer<Float>) {
        let outPlane = outSize(height, window: window) * outSize(width, window: window)
        for q in 0..<planes {
            let src = input + q * height * width, arg = argmax + q * outPlane, dst = output + q * outPlane
            for i in 0..<outPlane { dst[i] = src[Int(arg[i])] }
        }
    }

    /// The adjoint of gather: gradIn is zero except gradOut at each window's winner.
    public static func scatter(gradOut: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, planes: Int,
                               height: Int, width: Int, window: Int, gradIn: UnsafeMutablePointer<Float>) {
        let outPlane = outSize(height, window: window) * outSize(width, window: window)
        gradIn.update(repeating: 0, count: planes * height * width)
        for q in 0..<planes {
            let src = gradOut + q * outPlane, arg = argmax + q * outPlane, dst = gradIn + q * height * width
            for i in 0..<outPlane { dst[Int(arg[i])] = src[i] }  // windows do not overlap
        }
    }
}
