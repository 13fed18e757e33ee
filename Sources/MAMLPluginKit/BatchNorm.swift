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
            var sum = 0.0
            for i in 0..<m { sum += Double(row[i]) }
            let mean = sum / Double(m)
            var sq = 0.0
            for i in 0..<m { let d = Double(row[i]) - mean; sq += d * d }
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
            var a = 0.0, b = 0.0
            for i in 0..<m { a += Double(g[i]); b += Double(g[i]) * Double(h[i]) }
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
            var sr = 0.0, shr = 0.0
            for i in 0..<m { sr += Double(r[i]); shr += Double(h[i]) * Double(r[i]) }
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
            var a = 0.0, b = 0.0, cc = 0.0, d = 0.0, e = 0.0
            for i in 0..<m {
                let gi = Double(g[i]), ri = Double(rg[i]), hi = Double(h[i])
                a += gi; b += gi * hi; cc += ri; d += ri * hi; e += gi * Double(rh[i])
            }
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
}
