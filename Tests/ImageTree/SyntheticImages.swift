// MARK: - Generated classes: each a shape, two colours and a stripe texture; each image varies
//
// A class is fixed by its seed: a shape (disc, square, triangle, ring, cross, diamond), a
// foreground and a background colour at least 120 apart (40 in luma), stripes across the shape at a class
// angle and frequency. Each image moves, scales and turns the shape, shifts the colours and the
// stripes' phase, adds a brightness gradient and noise. So classes are told apart by shape,
// colour and texture together (learnable by a small conv net), never by one pixel, and no two
// images are the same. Everything comes from SplitMix64 keyed by (seed, class, image): the same
// seed makes the same tree in any order or thread count.

import Foundation
import MAMLSchema
import MAMLTasks

struct ClassStyle {
    var shape: Int                       // 0 disc, 1 square, 2 triangle, 3 ring, 4 cross, 5 diamond
    var foreground: SIMD3<Float>, background: SIMD3<Float>   // no arrays: nothing to reference-count per image
    var stripeAngle: Float, stripeCycles: Float, stripeDepth: Float

    init(seed: UInt64, classIndex: Int) {
        var rng = SplitMix64(seed: SplitMix64.mix(seed ^ 0x5EED_C1A5_5000_0000) &+ UInt64(classIndex))
        shape = Int(rng.next() % 6)
        foreground = SIMD3(255 * rng.nextUnitFloat(), 255 * rng.nextUnitFloat(), 255 * rng.nextUnitFloat())
        repeat {
            background = SIMD3(255 * rng.nextUnitFloat(), 255 * rng.nextUnitFloat(), 255 * rng.nextUnitFloat())
        } while ((foreground - background) * (foreground - background)).sum() < 120 * 120
            || abs(luma(foreground) - luma(background)) < 40   // grey trees must tell them apart too
        stripeAngle = Float.pi * rng.nextUnitFloat()
        stripeCycles = 2 + 5 * rng.nextUnitFloat()
        stripeDepth = 0.2 + 0.4 * rng.nextUnitFloat()
    }

    /// Whether (u, v), in the shape's own frame scaled to its radius, is inside the shape.
    func inside(_ u: Float, _ v: Float) -> Bool {
        switch shape {
        case 0: return u * u + v * v < 1
        case 1: return max(abs(u), abs(v)) < 0.8
        case 2: return v > -0.8 && v < 0.8 && abs(u) < 0.55 * (v + 0.8)
        case 3: let r2 = u * u + v * v; return r2 < 1 && r2 > 0.36
        case 4: return (abs(u) < 0.3 && abs(v) < 1) || (abs(v) < 0.3 && abs(u) < 1)
        default: return abs(u) + abs(v) < 1
        }
    }
}

/// Image `index` of the class drawn with `style`: `size` x `size`, 1 (luma) or 3 channels.
func syntheticImage(_ style: ClassStyle, seed: UInt64, classIndex: Int, index: Int, size: Int, channels: Int) -> Image8 {
    var rng = SplitMix64(seed: SplitMix64.mix(SplitMix64.mix(seed &+ UInt64(classIndex) &* 0x9E37_79B9) &+ UInt64(index)))
    let s = Float(size)
    let cx = s * (0.5 + rng.nextFloat(symmetric: 0.15)), cy = s * (0.5 + rng.nextFloat(symmetric: 0.15))
    let radius = s * (0.25 + 0.12 * rng.nextUnitFloat())
    let turn = rng.nextFloat(symmetric: 0.35)
    let (cosT, sinT) = (cos(turn), sin(turn))
    func jitter(_ rng: inout SplitMix64) -> SIMD3<Float> {
        SIMD3(rng.nextFloat(symmetric: 25), rng.nextFloat(symmetric: 25), rng.nextFloat(symmetric: 25))
    }
    let fg = style.foreground + jitter(&rng), bg = style.background + jitter(&rng)
    let phase = 2 * Float.pi * rng.nextUnitFloat()
    let (stripeX, stripeY) = (cos(style.stripeAngle + turn) * 2 * .pi * style.stripeCycles / s,
                              sin(style.stripeAngle + turn) * 2 * .pi * style.stripeCycles / s)
    let gradientAngle = 2 * Float.pi * rng.nextUnitFloat(), gradient = 30 * rng.nextUnitFloat() / s
    let (gx, gy) = (cos(gradientAngle) * gradient, sin(gradientAngle) * gradient)
    // Scalars, not arrays, in the pixel loop: a debug build runs it several times faster.
    let (f0, f1, f2, b0, b1, b2) = (fg[0], fg[1], fg[2], bg[0], bg[1], bg[2])
    var pixels = [UInt8](repeating: 0, count: size * size * channels)
    pixels.withUnsafeMutableBufferPointer { out in
        for y in 0..<size {
            let dy = Float(y) + 0.5 - cy
            for x in 0..<size {
                let dx = Float(x) + 0.5 - cx
                let u = (cosT * dx + sinT * dy) / radius, v = (cosT * dy - sinT * dx) / radius
                let light = gx * dx + gy * dy
                var r = b0 + light, g = b1 + light, b = b2 + light
                if style.inside(u, v) {
                    let stripe = 1 - style.stripeDepth * (0.5 + 0.5 * sin(stripeX * Float(x) + stripeY * Float(y) + phase))
                    (r, g, b) = (f0 * stripe + light, f1 * stripe + light, f2 * stripe + light)
                }
                let o = (y * size + x) * channels
                if channels == 1 {
                    out[o] = byte(0.299 * r + 0.587 * g + 0.114 * b + noise(&rng))
                } else {
                    out[o] = byte(r + noise(&rng)); out[o + 1] = byte(g + noise(&rng)); out[o + 2] = byte(b + noise(&rng))
                }
            }
        }
    }
    return Image8(width: size, height: size, channels: channels, pixels: pixels)
}

/// Roughly normal noise, standard deviation ~7 levels (the sum of four uniforms: cheap and smooth enough).
@inline(__always) private func noise(_ rng: inout SplitMix64) -> Float {
    let bits = rng.next()
    let sum = Float(bits & 0xFFFF) + Float((bits >> 16) & 0xFFFF) + Float((bits >> 32) & 0xFFFF) + Float(bits >> 48)
    return (sum / 65535 - 2) * 12
}

/// ITU-R BT.601 luma, as the JPEG decoder's grey output (and the pixel loop's).
private func luma(_ rgb: SIMD3<Float>) -> Float { 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] }

@inline(__always) private func byte(_ value: Float) -> UInt8 {
    UInt8(max(0, min(255, value.rounded())))
}
