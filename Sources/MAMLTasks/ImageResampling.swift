// MARK: - Area-averaging resize and quarter-turn rotation
//
// Resizing by area averaging: output pixel (i, j) of an out x out image is the
// mean of the input over the rectangle it covers, [j * W / out, (j + 1) * W / out)
// x [i * H / out, (i + 1) * H / out), input pixels counted by their overlap with
// it (so 105 -> 28, a factor of 3.75, weighs the boundary pixels fractionally).
// It is separable: rows first with per-column weights, then columns.

/// Overlap weights of input cells [0, n) with output cells [0, out) when n cells shrink or grow to out:
/// for output k, (first input cell, weights of consecutive input cells), weights summing to 1.
import MAMLCore
func areaWeights(from n: Int, to out: Int) -> [(first: Int, weights: [Double])] {
    let scale = Double(n) / Double(out)
    return (0..<out).map { k in
        let lo = Double(k) * scale, hi = Double(k + 1) * scale
        let first = Int(lo.rounded(.down)), last = min(n - 1, Int((hi - 1e-9).rounded(.down)))
        var w: [Double] = []
        for c in first...max(first, last) {
            w.append(max(0, min(hi, Double(c + 1)) - max(lo, Double(c))) / scale)
        }
        return (first, w)
    }
}

/// `image` resized to out x out by area averaging (see the file comment), in Double then rounded.
public func resizeByAreaAveraging(_ image: GrayImage, to out: Int) -> [Float] {
    let cols = areaWeights(from: image.width, to: out), rows = areaWeights(from: image.height, to: out)
    // Horizontal pass: height x out.
    var tmp = [Double](repeating: 0, count: image.height * out)
    for y in 0..<image.height {
        for (j, c) in cols.enumerated() {
            var s = 0.0
            for (k, w) in c.weights.enumerated() { s += w * Double(image.pixels[y * image.width + c.first + k]) }
            tmp[y * out + j] = s
        }
    }
    var result = [Float](repeating: 0, count: out * out)
    for (i, r) in rows.enumerated() {
        for j in 0..<out {
            var s = 0.0
            for (k, w) in r.weights.enumerated() { s += w * tmp[(r.first + k) * out + j] }
            result[i * out + j] = Float(s)
        }
    }
    return result
}

/// Copies the n x n image `src` into `dst` rotated counter-clockwise by `quarterTurns` * 90 degrees
/// (as numpy.rot90 with the row index growing downwards). Allocation-free.
@inline(__always)
public func copyRotated(_ src: UnsafePointer<Float>, size n: Int, quarterTurns: Int, into dst: UnsafeMutablePointer<Float>) {
    switch quarterTurns & 3 {
    case 0: dst.update(from: src, count: n * n)
    case 1:  // dst[i][j] = src[j][n-1-i]
        for i in 0..<n { for j in 0..<n { dst[i * n + j] = src[j * n + (n - 1 - i)] } }
    case 2:  // dst[i][j] = src[n-1-i][n-1-j]
        for i in 0..<n { for j in 0..<n { dst[i * n + j] = src[(n - 1 - i) * n + (n - 1 - j)] } }
    default: // dst[i][j] = src[n-1-j][i]
        for i in 0..<n { for j in 0..<n { dst[i * n + j] = src[(n - 1 - j) * n + i] } }
    }
}
