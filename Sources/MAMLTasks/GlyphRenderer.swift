// MARK: - Rendering one glyph example
//
// An example of a class is the class's strokes under a random distortion, every
// deviation scaled by the family's `distortion` d (default 1):
//   - stroke wobble: every control point moves by d * U[-0.05, 0.05]^2 (unit canvas,
//     about 1.4 pixels at 28x28), so the curve's shape varies, not just its pose;
//   - an affine map about the canvas centre: rotation d * U[-0.4, 0.4] rad, scale
//     1 + d * U[-0.3, 0.2] with aspect 1 + d * U[-0.14, 0.14], shear d * U[-0.3, 0.3],
//     translation d * U[-0.1, 0.1]^2 (about 2.8 pixels at 28x28);
//   - pen radius 0.9 + d * U[-0.3, 0.3] pixels (scaled by size / 28), times 1 + d * U[-0.15, 0.15]
//     per stroke.
// Calibration: d = 1 is set so that training a random conv4 on the support set alone
// (the from-scratch baseline) is far from solving the task, as on Omniglot, where
// pixel-space nearest neighbour gets about 42% 5-way 1-shot. With half these ranges
// (d = 0.5, the family's first version) scratch conv4 reached 95.6% 5-way 1-shot and
// no method could be told apart; at d = 1 it reaches 68.9% (docs/benchmarks.md).
// Each Bezier piece is flattened to 8 segments. A pixel's value is the maximum
// over segments of clamp(radius + 0.5 - distance to the segment, 0, 1), with the
// distance measured from the pixel centre: a one-pixel linear ramp across the pen
// edge approximates area coverage (anti-aliasing). Strokes 1, background 0.
//
// Cost: each segment only visits the pixels of its bounding box grown by the pen
// radius + 1, so an example costs a few thousand distance evaluations.

import MAMLCore
#if canImport(Glibc)
import Glibc     // libm only (sin, cos)
#elseif canImport(Darwin)
import Darwin
#endif

extension GlyphAlphabet {
    /// Segments per Bezier piece when flattening.
    static let segmentsPerPiece = 8

    /// Renders a random distortion of class `classID` (draws from `rng`) into `size * size` floats at `x`.
    /// Allocation-free (one stroke's control points live on the stack).
    public func renderExample(classID: Int, size: Int, distortion d: Float = 1, rng: inout RandomGenerator,
                              into x: UnsafeMutablePointer<Float>) {
        x.update(repeating: 0, count: size * size)
        let n = Float(size)
        // The affine map M = rotation * shear * scale, about the centre, then translation.
        // Every deviation is drawn at scale 1 and multiplied by d, so the draws do not depend on d.
        let angle = Double(d * rng.uniform(-0.4, 0.4))
        let scale: Float = 1 + d * rng.uniform(-0.3, 0.2), aspect: Float = 1 + d * rng.uniform(-0.14, 0.14)
        let sx = scale * aspect, sy = scale / aspect
        let shear: Float = d * rng.uniform(-0.3, 0.3)
        let tx: Float = d * rng.uniform(-0.1, 0.1), ty: Float = d * rng.uniform(-0.1, 0.1)
        let cosA = Float(cos(angle)), sinA = Float(sin(angle))
        let m00 = cosA * sx, m01 = (cosA * shear - sinA) * sy
        let m10 = sinA * sx, m11 = (sinA * shear + cosA) * sy
        let penRadius: Float = (0.9 + d * rng.uniform(-0.3, 0.3)) * n / 28

        let strokeBase = classID * Self.maxStrokes
        withUnsafeTemporaryAllocation(of: Float.self, capacity: Self.maxPoints * 2) { tmp in
            let p = tmp.baseAddress!
            points.withUnsafeBufferPointer { src in
                for s in 0..<Self.maxStrokes {
                    let pieceCount = Int(pieces[strokeBase + s])
                    if pieceCount == 0 { continue }
                    let radius: Float = penRadius * (1 + d * rng.uniform(-0.15, 0.15))
                    let q0 = (strokeBase + s) * Self.maxPoints * 2
                    // Wobble, distort, and convert to pixel units.
                    for k in 0...(3 * pieceCount) {
                        let wx: Float = d * rng.uniform(-0.05, 0.05), wy: Float = d * rng.uniform(-0.05, 0.05)
                        let ux = src[q0 + 2 * k] + wx - 0.5, uy = src[q0 + 2 * k + 1] + wy - 0.5
                        p[2 * k] = (0.5 + tx + m00 * ux + m01 * uy) * n
                        p[2 * k + 1] = (0.5 + ty + m10 * ux + m11 * uy) * n
                    }
                    for piece in 0..<pieceCount {
                        Self.drawCubic(p + 6 * piece, radius: radius, size: size, into: x)
                    }
                }
            }
        }
    }

    // MARK: Rasterisation

    /// Flattens the cubic Bezier with control points c[0..<8] (x, y pairs, pixel units) and draws it.
    @inline(__always)
    static func drawCubic(_ c: UnsafeMutablePointer<Float>, radius: Float, size: Int, into x: UnsafeMutablePointer<Float>) {
        var ax = c[0], ay = c[1]
        let steps = segmentsPerPiece
        for i in 1...steps {
            let t = Float(i) / Float(steps), u = 1 - t
            let b0 = u * u * u, b1 = 3 * u * u * t, b2 = 3 * u * t * t, b3 = t * t * t
            let bx = b0 * c[0] + b1 * c[2] + b2 * c[4] + b3 * c[6]
            let by = b0 * c[1] + b1 * c[3] + b2 * c[5] + b3 * c[7]
            drawSegment(ax, ay, bx, by, radius: radius, size: size, into: x)
            ax = bx; ay = by
        }
    }

    /// Max-composites an anti-aliased round-capped segment from (ax, ay) to (bx, by) (pixel units).
    @inline(__always)
    static func drawSegment(_ ax: Float, _ ay: Float, _ bx: Float, _ by: Float, radius r: Float,
                            size: Int, into img: UnsafeMutablePointer<Float>) {
        let reach = r + 1
        let x0 = max(0, Int((min(ax, bx) - reach).rounded(.down)))
        let x1 = min(size - 1, Int((max(ax, bx) + reach).rounded(.up)))
        let y0 = max(0, Int((min(ay, by) - reach).rounded(.down)))
        let y1 = min(size - 1, Int((max(ay, by) + reach).rounded(.up)))
        if x0 > x1 || y0 > y1 { return }
        let dx = bx - ax, dy = by - ay
        let len2 = dx * dx + dy * dy
        let inv: Float = len2 > 1e-12 ? 1 / len2 : 0
        let edge = r + 0.5
        for py in y0...y1 {
            let cy = Float(py) + 0.5 - ay
            let row = img + py * size
            for px in x0...x1 {
                let cx = Float(px) + 0.5 - ax
                let t = min(max((cx * dx + cy * dy) * inv, 0), 1)
                let ex = cx - t * dx, ey = cy - t * dy
                let cover = min(max(edge - (ex * ex + ey * ey).squareRoot(), 0), 1)
                if cover > row[px] { row[px] = cover }
            }
        }
    }
}
