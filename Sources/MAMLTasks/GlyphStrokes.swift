// MARK: - Glyph classes: random pen strokes
//
// A glyph class is 1-4 pen strokes; a stroke is a chain of 1-2 cubic Bezier
// pieces (4 or 7 control points, consecutive pieces share an end point). The
// control points come from a random walk with momentum (heading changes by a
// small normal amount per step, with an occasional sharp corner between
// pieces), and a later stroke starts on an end point of an earlier one half of
// the time, so glyphs look like connected handwriting rather than scattered
// curves. Finally the glyph is scaled (at most 3.5x) and centred so its control
// points span 0.7 of the unit canvas: Bezier curves stay inside the hull of
// their control points, so the strokes stay inside [0.15, 0.85]^2.
//
// Class c is a pure function of (family seed, c): its generator is
// RandomGenerator(seed, .auxiliary, iteration 0, task c), so the first classes
// are the same whatever the number of classes.

import MAMLCore
#if canImport(Glibc)
import Glibc     // libm only (sin, cos)
#elseif canImport(Darwin)
import Darwin
#endif

/// The control points of every class of a glyph family, computed once at construction.
public struct GlyphAlphabet: Sendable, Equatable {
    public static let maxStrokes = 4
    public static let maxPieces = 2
    /// Control points per stroke slot: 3 * maxPieces + 1.
    public static let maxPoints = 3 * maxPieces + 1

    public let classes: Int
    /// (x, y) of control point p of stroke s of class c at index ((c * maxStrokes + s) * maxPoints + p) * 2.
    public let points: [Float]
    /// Bezier pieces of stroke s of class c at c * maxStrokes + s (0: no such stroke).
    public let pieces: [UInt8]

    /// The first `classes` glyph classes of the family with this seed.
    public init(classes: Int, seed: UInt64) {
        self.classes = classes
        var points = [Float](repeating: 0, count: classes * Self.maxStrokes * Self.maxPoints * 2)
        var pieces = [UInt8](repeating: 0, count: classes * Self.maxStrokes)
        for c in 0..<classes {
            var rng = RandomGenerator(seed: seed, stream: .auxiliary, iteration: 0, task: c)
            let base = c * Self.maxStrokes
            Self.makeGlyph(&rng, points: &points, pieces: &pieces, base: base)
        }
        self.points = points; self.pieces = pieces
    }

    // MARK: One class

    private static func makeGlyph(_ rng: inout RandomGenerator, points: inout [Float], pieces: inout [UInt8], base: Int) {
        let strokes = 1 + rng.int(below: maxStrokes)
        for s in 0..<strokes {
            let p0 = ((base + s) * maxPoints) * 2
            let count = 1 + rng.int(below: maxPieces)
            pieces[base + s] = UInt8(count)
            // Start: on an end point of an earlier stroke (half the time) or anywhere.
            var x: Float, y: Float
            if s > 0 && rng.unitFloat() < 0.5 {
                let other = rng.int(below: s)
                let end = 3 * rng.int(below: Int(pieces[base + other]) + 1)
                let q = ((base + other) * maxPoints + end) * 2
                x = points[q]; y = points[q + 1]
            } else {
                x = rng.unitFloat(); y = rng.unitFloat()
            }
            points[p0] = x; points[p0 + 1] = y
            var heading = rng.uniform(0, 2 * Double.pi)
            for piece in 0..<count {
                if piece > 0 && rng.unitFloat() < 0.3 {
                    heading += (rng.unitFloat() < 0.5 ? -1 : 1) * rng.uniform(0.5 * Double.pi, 0.8 * Double.pi)
                }
                let step = Double(rng.uniform(0.25, 0.55)) / 3
                for k in 1...3 {
                    heading += rng.normal(mean: 0, std: 0.6)
                    x += Float(step * cos(heading)); y += Float(step * sin(heading))
                    let q = p0 + (3 * piece + k) * 2
                    points[q] = x; points[q + 1] = y
                }
            }
        }
        normalize(&points, pieces: pieces, base: base)
    }

    /// Scales (at most 3.5x) and centres the glyph's control points into a 0.7-wide box at (0.5, 0.5).
    private static func normalize(_ points: inout [Float], pieces: [UInt8], base: Int) {
        var lo = (x: Float.infinity, y: Float.infinity), hi = (x: -Float.infinity, y: -Float.infinity)
        for s in 0..<maxStrokes where pieces[base + s] > 0 {
            for p in 0...(3 * Int(pieces[base + s])) {
                let q = ((base + s) * maxPoints + p) * 2
                lo = (min(lo.x, points[q]), min(lo.y, points[q + 1]))
                hi = (max(hi.x, points[q]), max(hi.y, points[q + 1]))
            }
        }
        let scale = 0.7 / max(hi.x - lo.x, hi.y - lo.y, 0.2)
        let cx = (lo.x + hi.x) / 2, cy = (lo.y + hi.y) / 2
        for s in 0..<maxStrokes where pieces[base + s] > 0 {
            for p in 0...(3 * Int(pieces[base + s])) {
                let q = ((base + s) * maxPoints + p) * 2
                points[q] = 0.5 + (points[q] - cx) * scale
                points[q + 1] = 0.5 + (points[q + 1] - cy) * scale
            }
        }
    }
}
