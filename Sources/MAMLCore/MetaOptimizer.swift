// MARK: - Meta-optimisers
//
// The outer-loop update theta <- update(theta, mean meta-gradient). Adam follows
// torch.optim.Adam (single-tensor path) operation by operation in float32, with
// the bias corrections computed in Double as PyTorch does in Python:
//     m  = lerp(m, g, 1 - beta1)                      (m + (1 - beta1)(g - m))
//     v  = v * beta2 + (1 - beta2) * g * g
//     denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//     theta = theta + (-lr / (1 - beta1^t)) * (m / denom)
// PyTorch's CPU kernels evaluate addcmul / addcdiv left to right
// (value * a * b, value * a / b) with Python-double scalars cast to float;
// we do the same. All state (kind, step t, m, v) is exported for checkpoints
// so resuming is exact.

#if canImport(Glibc)
import Glibc     // libm only (pow, as Python's ** uses)
#elseif canImport(Darwin)
import Darwin
#endif
import MAMLKernels

/// Which meta-optimiser.
public enum OptimizerKind: String, Sendable, CaseIterable {
    case adam, sgd
}

/// The optimiser's state: everything needed to continue bit-exactly.
public struct OptimizerState: Sendable, Equatable {
    public var kind: OptimizerKind
    /// Updates applied so far (Adam's t).
    public var step: Int
    /// Adam's first and second moments (empty for SGD).
    public var m: [Float]
    public var v: [Float]

    public init(kind: OptimizerKind, step: Int = 0, m: [Float] = [], v: [Float] = []) {
        self.kind = kind; self.step = step; self.m = m; self.v = v
    }

    /// A fresh state for `parameterCount` parameters.
    public static func fresh(_ kind: OptimizerKind, parameterCount: Int) -> OptimizerState {
        switch kind {
        case .adam: return OptimizerState(kind: .adam, m: [Float](repeating: 0, count: parameterCount),
                                          v: [Float](repeating: 0, count: parameterCount))
        case .sgd: return OptimizerState(kind: .sgd)
        }
    }
}

/// Adam or SGD with its hyper-parameters and state.
public struct MetaOptimizer: Sendable, Equatable {
    /// Double like PyTorch's lr, so lr / (1 - beta1^t) rounds the same way.
    public var learningRate: Double
    /// Adam's constants, as Doubles like PyTorch's Python floats.
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    public private(set) var state: OptimizerState

    /// An optimiser continuing from `state` (use `OptimizerState.fresh` to start).
    public init(state: OptimizerState, learningRate: Double) {
        self.state = state; self.learningRate = learningRate
    }

    public var kind: OptimizerKind { state.kind }

    /// One update: params <- params - step(gradient).
    public mutating func apply(gradient: UnsafeBufferPointer<Float>, to params: UnsafeMutableBufferPointer<Float>) {
        precondition(gradient.count == params.count, "gradient and parameters differ in length")
        let update = beginUpdate(parameterCount: params.count)
        withMoments { m, v in
            update.apply(0..<params.count, gradient: gradient.baseAddress!, to: params.baseAddress!, m: m, v: v)
        }
    }

    // MARK: Split updates
    //
    // The update is element-wise, so it can run on any split of the parameters, in any
    // order or concurrently, with the same bits as `apply`: the trainer applies it chunk by
    // chunk on its workers right after reducing each chunk's meta-gradient.

    /// The per-step constants of the next update; advances the step count. Every element
    /// must then be updated exactly once with `Update.apply` (inside `withMoments`).
    /// `learningRate` replaces the optimiser's own for this step (Reptile's annealed outer rate).
    public mutating func beginUpdate(parameterCount n: Int, learningRate rate: Double? = nil) -> Update {
        state.step += 1
        let lr = rate ?? learningRate
        switch state.kind {
        case .sgd:
            return Update(kind: .sgd, stepSize: Float(-lr))   // torch: param.add_(grad, alpha=-lr)
        case .adam:
            precondition(state.m.count == n && state.v.count == n, "Adam state sized for another model")
            let t = Double(state.step)
            let bc1 = 1 - pow(beta1, t)
            let bc2 = 1 - pow(beta2, t)
            return Update(kind: .adam, stepSize: Float(-(lr / bc1)), bc2Sqrt: Float(bc2.squareRoot()),
                          w1: Float(1 - beta1), b2: Float(beta2), w2: Float(1 - beta2), eps: Float(epsilon))
        }
    }

    /// Runs `body` with Adam's moments (nil, nil for SGD), valid only inside it.
    public mutating func withMoments<R>(_ body: (UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> R) -> R {
        guard state.kind == .adam else { return body(nil, nil) }
        return state.m.withUnsafeMutableBufferPointer { m in
            state.v.withUnsafeMutableBufferPointer { v in body(m.baseAddress, v.baseAddress) }
        }
    }

    /// One step's constants (see `beginUpdate`).
    public struct Update: Sendable {
        var kind: OptimizerKind
        var stepSize: Float
        var bc2Sqrt: Float = 1, w1: Float = 0, b2: Float = 0, w2: Float = 0, eps: Float = 0

        /// Updates params[i] (and Adam's m[i], v[i]) for i in `range`.
        public func apply(_ range: Range<Int>, gradient: UnsafePointer<Float>, to params: UnsafeMutablePointer<Float>,
                          m: UnsafeMutablePointer<Float>?, v: UnsafeMutablePointer<Float>?) {
            switch kind {
            case .sgd:
                for i in range { params[i] = params[i] + stepSize * gradient[i] }
            case .adam:
                // m += w1 (g - m); v = v b2 + w2 g g; p += step m / (sqrt(v) / bc2Sqrt + eps), in that
                // operation order without FMA (MAMLKernels: same bits on every build, 16 lanes on AVX-512).
                let lo = range.lowerBound
                mk_adam(range.count, gradient + lo, params + lo, m! + lo, v! + lo, stepSize, bc2Sqrt, w1, b2, w2, eps)
            }
        }
    }
}
