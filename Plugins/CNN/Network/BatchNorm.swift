import MAMLPluginKit

// MARK: - Batch normalisation with batch statistics, and its R-operator
//
// Per channel c, over its M = n*H*W values z (one contiguous row in CNHW):
//   mu = mean z,  var = mean (z - mu)^2 (biased, as PyTorch normalises in training),
//   s = 1 / sqrt(var + eps),  zh = (z - mu) s,  y = gamma zh + beta.
// The statistics are those of the batch given (transductive, as the MAML paper's
// code): no running averages. The Jacobian of z -> zh is the symmetric
//   J = s (I - 11^T/M - zh zh^T/M),
// so backward and R-forward have the same form:
//   dz  = J (gamma dy) = s gamma (dy - mean dy - zh mean(dy zh))
//   Rzh = J Rz         = s (Rz - mean Rz - zh kappa),   kappa = mean(zh Rz)
//   Ry  = Rgamma zh + gamma Rzh + Rbeta
// R-backward (differentiate dz; Rs = -s kappa s and R zh = Rzh):
//   Rdz = -s kappa dz + s [Rgamma dy + gamma Rdy - Rgamma A - gamma C - gamma B Rzh
//                          - zh (Rgamma B + gamma D + gamma E)]
//   with A = mean dy, B = mean(dy zh), C = mean Rdy, D = mean(Rdy zh), E = mean(dy Rzh);
//   d gamma = M B, d beta = M A, R d gamma = M (D + E), R d beta = M C.
// Means accumulate in Double. M = 1 is allowed: zh = 0, y = beta, and nothing
// flows back into z (the formulas give exactly that).

/// Batch normalisation over the rows of a [channels, M] matrix.
public enum BatchNorm {
    /// zh and y (both [channels, M]; zh may alias z) and the per-channel 1/sqrt(var + eps).
    public static func forward(z: UnsafePointer<Float>, channels: Int, count m: Int, eps: Float,
                               gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                               normalized zh: UnsafeMutablePointer<Float>, output y: UnsafeMutablePointer<Float>,
                               invStd: UnsafeMutablePointer<Float>) {
        for c in 0..<channels {
            let row = z + c * m, zr = zh + c * m, yr = y + c * m
            let mean = chunkedSum(row, nil, m) / Double(m)
            let sq = chunkedSquaredDeviations(row, Float(mean), m)
            let s = 1 / (sq / Double(m) + Double(eps)).squareRoot()
            invStd[c] = Float(s)
            let mu = Float(mean), sf = Float(s), g = gamma[c], b = beta[c]
            for i in 0..<m {
                let h = (row[i] - mu) * sf
                zr[i] = h
                yr[i] = g * h + b
            }
        }
    }

    /// In place: dy -> dz; the parameter gradients into dGamma, dBeta.
    public static func backward(normalized zh: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                channels: Int, count m: Int, gamma: UnsafePointer<Float>,
                                grad dy: UnsafeMutablePointer<Float>,
                                dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>) {
        let invM = 1 / Double(m)
        for c in 0..<channels {
            let h = zh + c * m, g = dy + c * m
            let a = chunkedSum(g, nil, m), b = chunkedSum(g, h, m)
            dGamma[c] = Float(b); dBeta[c] = Float(a)
            let meanA = Float(a * invM), meanB = Float(b * invM), scale = invStd[c] * gamma[c]
            for i in 0..<m { g[i] = scale * (g[i] - meanA - h[i] * meanB) }
        }
    }

    /// Rzh = J Rz into rNormalized (may alias rz), Ry into rOutput, and kappa = mean(zh Rz) per channel.
    public static func rForward(normalized zh: UnsafePointer<Float>, invStd: UnsafePointer<Float>,
                                channels: Int, count m: Int, gamma: UnsafePointer<Float>,
                                rz: UnsafePointer<Float>, rGamma: UnsafePointer<Float>, rBeta: UnsafePointer<Float>,
                                rNormalized: UnsafeMutablePointer<Float>, rOutput: UnsafeMutablePointer<Float>,
                                kappa: UnsafeMutablePointer<Float>) {
        let invM = 1 / Double(m)
        for c in 0..<channels {
            let h = zh + c * m, r = rz + c * m, rh = rNormalized + c * m, ry = rOutput + c * m
            let sr = chunkedSum(r, nil, m), shr = chunkedSum(h, r, m)
            let meanR = Float(sr * invM), k = Float(shr * invM), s = invStd[c]
            kappa[c] = k
            let g = gamma[c], rg = rGamma[c], rb = rBeta[c]
            for i in 0..<m {
                let v = s * (r[i] - meanR - h[i] * k)
                rh[i] = v
                ry[i] = rg * h[i] + g * v + rb
            }
        }
    }

    /// In place: (dy, Rdy) -> (dz, Rdz); the R-derivatives of dGamma, dBeta into rdGamma, rdBeta.
    public static func rBackward(normalized zh: UnsafePointer<Float>, rNormalized rzh: UnsafePointer<Float>,
                                 invStd: UnsafePointer<Float>, kappa: UnsafePointer<Float>,
                                 channels: Int, count m: Int, gamma: UnsafePointer<Float>, rGamma: UnsafePointer<Float>,
                                 grad dy: UnsafeMutablePointer<Float>, rGrad rdy: UnsafeMutablePointer<Float>,
                                 rdGamma: UnsafeMutablePointer<Float>, rdBeta: UnsafeMutablePointer<Float>) {
        let invM = 1 / Double(m)
        for c in 0..<channels {
            let h = zh + c * m, rh = rzh + c * m, g = dy + c * m, rg = rdy + c * m
            let a = chunkedSum(g, nil, m), b = chunkedSum(g, h, m), cc = chunkedSum(rg, nil, m)
            let d = chunkedSum(rg, h, m), e = chunkedSum(g, rh, m)
            rdGamma[c] = Float(d + e); rdBeta[c] = Float(cc)
            let mA = Float(a * invM), mB = Float(b * invM), mC = Float(cc * invM)
            let mD = Float(d * invM), mE = Float(e * invM)
            let s = invStd[c], gam = gamma[c], rgam = rGamma[c], k = kappa[c]
            let constant = rgam * mA + gam * mC
            let zhCoefficient = rgam * mB + gam * (mD + mE)
            for i in 0..<m {
                let dz = s * gam * (g[i] - mA - h[i] * mB)
                rg[i] = -s * k * dz + s * (rgam * g[i] + gam * rg[i] - constant - gam * mB * rh[i] - h[i] * zhCoefficient)
                g[i] = dz
            }
        }
    }

    // MARK: Sums

    /// sum (x[i] - mu)^2, chunked as chunkedSum (a Double accumulator per element was a serial
    /// dependency chain: 7 ms per forward pass on conv4's first block at 75 examples).
    @inline(__always)
    static func chunkedSquaredDeviations(_ x: UnsafePointer<Float>, _ mu: Float, _ m: Int) -> Double {
        var total = 0.0, start = 0
        let muv = SIMD8<Float>(repeating: mu)
        while start < m {
            let len = min(256, m - start)
            let xr = UnsafeRawPointer(x + start)
            var acc = SIMD8<Float>(), i = 0
            while i + 8 <= len {
                let d = xr.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - muv
                acc += d * d
                i += 8
            }
            var s = acc.sum()
            while i < len { let d = x[start + i] - mu; s += d * d; i += 1 }
            total += Double(s)
            start += len
        }
        return total
    }

    /// sum x[i] (y nil) or sum x[i] y[i]: float SIMD within chunks of 256, Double across
    /// chunks (vectorised, and as accurate as Double accumulation for these sizes).
    @inline(__always)
    static func chunkedSum(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>?, _ m: Int) -> Double {
        var total = 0.0, start = 0
        while start < m {
            let len = min(256, m - start)
            if let y {
                total += Double(Kernels.dot(x + start, y + start, len))
            } else {
                let xr = UnsafeRawPointer(x + start)
                var acc = SIMD8<Float>(), i = 0
                while i + 8 <= len { acc += xr.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self); i += 8 }
                var s = acc.sum()
                while i < len { s += x[start + i]; i += 1 }
                total += Double(s)
            }
            start += len
        }
        return total
    }
}
