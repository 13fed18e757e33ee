#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Loss heads on [n, d] outputs: value, gradient and Hessian times a direction
//
// MSE: mean over all n*d squared errors; gradient 2 (z - y) / (n d); Hessian 2/(n d) I.
// Softmax cross-entropy: mean over rows of logsumexp(z) - z[label] (stable); gradient
// (p - onehot) / n; Hessian per row (diag p - p p^T) / n. The value is accumulated in Double.

/// The losses of ABI (MAML_LOSS_MSE, MAML_LOSS_SOFTMAX_CE) on raw outputs.
public enum LossHead {
    /// Mean loss of outputs z [n, d]; if g is given, d loss / d z into it. `probabilities`
    /// ([n, d], CE only) receives softmax(z) for `hessianTimes`.
    public static func evaluate(_ kind: PluginLossKind, outputs z: UnsafePointer<Float>, n: Int, d: Int,
                                batch: PluginBatch, probabilities p: UnsafeMutablePointer<Float>,
                                gradient g: UnsafeMutablePointer<Float>?) -> Double {
        var total = 0.0
        switch kind {
        case .mse:
            guard let y = batch.yFloat else { return .nan }
            let count = n * d
            let scale = Float(2.0 / Double(count))
            for i in 0..<count {
                let diff = z[i] - y[i]
                total += Double(diff) * Double(diff)
                g?[i] = scale * diff
            }
            return total / Double(count)
        case .softmaxCrossEntropy:
            guard let labels = batch.yClass else { return .nan }
            let invN = Float(1.0 / Double(n))
            for r in 0..<n {
                let zr = z + r * d, pr = p + r * d
                var m = zr[0]
                for j in 1..<d { m = max(m, zr[j]) }
                var sum = 0.0
                for j in 0..<d { let e = expf(zr[j] - m); pr[j] = e; sum += Double(e) }
                let label = Int(labels[r])
                total += Double(m) + log(sum) - Double(zr[label])
                let inv = Float(1 / sum)
                for j in 0..<d { pr[j] *= inv }
                if let g {
                    let gr = g + r * d
                    for j in 0..<d { gr[j] = pr[j] * invN }
                    gr[label] -= invN
                }
            }
            return total / Double(n)
        }
    }

    /// rg = (d^2 loss / d z^2) rz, using the probabilities `evaluate` left (CE).
    public static func hessianTimes(_ kind: PluginLossKind, _ rz: UnsafePointer<Float>, n: Int, d: Int,
                                    probabilities p: UnsafePointer<Float>, into rg: UnsafeMutablePointer<Float>) {
        switch kind {
        case .mse:
            let scale = Float(2.0 / Double(n * d))
            for i in 0..<(n * d) { rg[i] = scale * rz[i] }
        case .softmaxCrossEntropy:
            let invN = Float(1.0 / Double(n))
            for r in 0..<n {
                let pr = p + r * d, rzr = rz + r * d, out = rg + r * d
                var dot: Float = 0
                for j in 0..<d { dot += pr[j] * rzr[j] }
                for j in 0..<d { out[j] = pr[j] * (rzr[j] - dot) * invN }
            }
        }
    }
}
