import RNNNetwork
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Test reference: the recurrent cells element by element, once for values and R-values
//
// The plugin's Swift implementation before the C kernels (MAMLKernels cell_ops.c), kept as the
// scalar reference those kernels are checked against (CellOpsTests): the same formulas and
// order of operations, with libm's tanhf and expf.
//
// Each cell's pointwise forward (gate pre-activations -> activated gates and new state)
// and pointwise backward (gradient at the new state -> gradient at the pre-activations
// and at the old state) is a generic function over `CellNumber`. Instantiated with
// Float it is the forward pass or the gradient; instantiated with `Dual` (a value and
// its directional derivative R{.}) the same code is the R-forward pass or the
// R-backward pass: forward-over-reverse, so the Hessian-vector product needs no
// hand-derived second-order formulas for the cells.
//
// Gate layout per example row, PyTorch's order: elman [a]; gru [r, z, n]; lstm [i, f, g, o].
// The backward pass uses only stored activations (no transcendental recomputed).

/// A number the cells compute with: Float, or a value with its directional derivative.
protocol CellNumber {
    init(_ constant: Float)
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    func tanh() -> Self
    func sigmoid() -> Self
    /// The value part summed over lanes (the explosion probe).
    var value: Float { get }
    /// Consecutive units handled at once (SIMD lanes).
    static var width: Int { get }
    /// Element i of the buffers: the value from `p.v`, the derivative (Dual) from `p.r`.
    static func load(_ p: FloatPair, _ i: Int) -> Self
    func store(_ p: FloatPair, _ i: Int)
}

/// A value buffer and, in R passes, the buffer of its R-values.
struct FloatPair {
    var v: UnsafeMutablePointer<Float>
    var r: UnsafeMutablePointer<Float>?
    @inline(__always) init(_ v: UnsafeMutablePointer<Float>, _ r: UnsafeMutablePointer<Float>?) { self.v = v; self.r = r }
    @inline(__always) static func + (p: FloatPair, k: Int) -> FloatPair { FloatPair(p.v + k, p.r.map { $0 + k }) }
}

extension Float: CellNumber {
    @inline(__always) static var width: Int { 1 }
    @inline(__always) func tanh() -> Float { tanhf(self) }
    @inline(__always) func sigmoid() -> Float { 1 / (1 + expf(-self)) }
    @inline(__always) var value: Float { self }
    @inline(__always) static func load(_ p: FloatPair, _ i: Int) -> Float { p.v[i] }
    @inline(__always) func store(_ p: FloatPair, _ i: Int) { p.v[i] = self }
}

/// A dual number: value v and tangent d (the R-value).
struct Dual: CellNumber {
    var v: Float, d: Float
    @inline(__always) static var width: Int { 1 }
    @inline(__always) init(_ v: Float, _ d: Float) { self.v = v; self.d = d }
    @inline(__always) init(_ constant: Float) { v = constant; d = 0 }
    @inline(__always) static func + (a: Dual, b: Dual) -> Dual { Dual(a.v + b.v, a.d + b.d) }
    @inline(__always) static func - (a: Dual, b: Dual) -> Dual { Dual(a.v - b.v, a.d - b.d) }
    @inline(__always) static func * (a: Dual, b: Dual) -> Dual { Dual(a.v * b.v, a.d * b.v + a.v * b.d) }
    @inline(__always) func tanh() -> Dual { let t = tanhf(v); return Dual(t, (1 - t * t) * d) }
    @inline(__always) func sigmoid() -> Dual { let s = 1 / (1 + expf(-v)); return Dual(s, s * (1 - s) * d) }
    @inline(__always) var value: Float { v }
    @inline(__always) static func load(_ p: FloatPair, _ i: Int) -> Dual { Dual(p.v[i], p.r![i]) }
    @inline(__always) func store(_ p: FloatPair, _ i: Int) { p.v[i] = v; p.r![i] = d }
}

// MARK: - One time step, all examples

/// Buffers of one layer at one time step (rows of n examples; widths H or G*H).
struct StepBuffers {
    /// In: input pre-activations W_ih x + b [n, G H]; out: activated gates.
    var gates: FloatPair
    /// W_hh h + (GRU: b_hn in the n block) [n, G H].
    var hidden: FloatPair
    var hPrev: FloatPair, hNew: FloatPair
    /// LSTM cell state before and after; unused otherwise.
    var cPrev: FloatPair, cNew: FloatPair
    /// LSTM: tanh(c'); GRU: W_hn h + b_hn (kept for the backward pass) [n, H].
    var extra: FloatPair
}

/// Gradient buffers of one layer at one time step.
struct StepGradients {
    /// In: d loss / d h' from above (the head or the next layer) [n, H].
    var top: FloatPair
    /// In: the carried gradient at h' from step t+1; out: the part of d/dh that does not go
    /// through W_hh (GRU's z h term, else 0) [n, H].
    var carry: FloatPair
    /// LSTM: in d/dc', out d/dc [n, H].
    var cellCarry: FloatPair
    /// Out: d / d(input pre-activations) and (GRU only) d / d(hidden pre-activations) [n, G H];
    /// for elman and lstm both pre-activations enter the gates as one sum, so dInput serves both.
    var dInput: FloatPair, dHidden: FloatPair
}

extension RecurrentCell {
    /// Forward of one step; returns the sum of all pre-activation values, non-finite if any was.
    /// Units go `V.width` at a time through V (SIMD lanes), the rest one by one through S.
    @inline(__always)
    func forwardStep<V: CellNumber, S: CellNumber>(_ vector: V.Type, _ scalar: S.Type, n: Int, h: Int, _ b: StepBuffers) -> Float {
        var probe: Float = 0
        let gh = gates * h
        for e in 0..<n {
            let row = e * gh, s = e * h
            var j = 0
            while j + V.width <= h { probe += forwardUnit(V.self, b, row + j, s + j, h); j += V.width }
            while j < h { probe += forwardUnit(S.self, b, row + j, s + j, h); j += 1 }
        }
        return probe
    }

    /// Backward of one step through the pointwise part (the W_hh product is the caller's).
    @inline(__always)
    func backwardStep<V: CellNumber, S: CellNumber>(_ vector: V.Type, _ scalar: S.Type, n: Int, h: Int,
                                                     _ b: StepBuffers, _ d: StepGradients) {
        let gh = gates * h
        for e in 0..<n {
            let row = e * gh, s = e * h
            var j = 0
            while j + V.width <= h { backwardUnit(V.self, b, d, row + j, s + j, h); j += V.width }
            while j < h { backwardUnit(S.self, b, d, row + j, s + j, h); j += 1 }
        }
    }

    /// Forward of the unit(s) at gate row offset `row` and state offset `s`; returns the sum of
    /// the pre-activations (the explosion probe).
    @inline(__always)
    func forwardUnit<N: CellNumber>(_ type: N.Type, _ b: StepBuffers, _ row: Int, _ s: Int, _ h: Int) -> Float {
        switch self {
        case .elman:
            let a = N.load(b.gates, row) + N.load(b.hidden, row)
            let y = a.tanh()
            y.store(b.gates, row); y.store(b.hNew, s)
            return a.value
        case .gru:
            let ar = N.load(b.gates, row) + N.load(b.hidden, row)
            let az = N.load(b.gates, row + h) + N.load(b.hidden, row + h)
            let hn = N.load(b.hidden, row + 2 * h)
            let r = ar.sigmoid(), z = az.sigmoid()
            let an = N.load(b.gates, row + 2 * h) + r * hn
            let nn = an.tanh()
            let y = (N(1) - z) * nn + z * N.load(b.hPrev, s)
            r.store(b.gates, row); z.store(b.gates, row + h); nn.store(b.gates, row + 2 * h)
            hn.store(b.extra, s); y.store(b.hNew, s)
            return ar.value + az.value + an.value
        case .lstm:
            let ai = N.load(b.gates, row) + N.load(b.hidden, row)
            let af = N.load(b.gates, row + h) + N.load(b.hidden, row + h)
            let ag = N.load(b.gates, row + 2 * h) + N.load(b.hidden, row + 2 * h)
            let ao = N.load(b.gates, row + 3 * h) + N.load(b.hidden, row + 3 * h)
            let i = ai.sigmoid(), f = af.sigmoid(), g = ag.tanh(), o = ao.sigmoid()
            let c = f * N.load(b.cPrev, s) + i * g
            let tc = c.tanh()
            i.store(b.gates, row); f.store(b.gates, row + h); g.store(b.gates, row + 2 * h); o.store(b.gates, row + 3 * h)
            c.store(b.cNew, s); tc.store(b.extra, s); (o * tc).store(b.hNew, s)
            return ai.value + af.value + ag.value + ao.value
        }
    }

    /// Backward of the unit(s) at gate row offset `row` and state offset `s`.
    @inline(__always)
    func backwardUnit<N: CellNumber>(_ type: N.Type, _ b: StepBuffers, _ d: StepGradients, _ row: Int, _ s: Int, _ h: Int) {
        let one = N(1)
        let dh = N.load(d.top, s) + N.load(d.carry, s)
        switch self {
        case .elman:
            let y = N.load(b.hNew, s)
            (dh * (one - y * y)).store(d.dInput, row)
            N(0).store(d.carry, s)
        case .gru:
            let r = N.load(b.gates, row), z = N.load(b.gates, row + h)
            let nn = N.load(b.gates, row + 2 * h), hn = N.load(b.extra, s)
            let dan = dh * (one - z) * (one - nn * nn)
            let dar = dan * hn * r * (one - r)
            let daz = dh * (N.load(b.hPrev, s) - nn) * z * (one - z)
            dar.store(d.dInput, row); daz.store(d.dInput, row + h); dan.store(d.dInput, row + 2 * h)
            dar.store(d.dHidden, row); daz.store(d.dHidden, row + h); (dan * r).store(d.dHidden, row + 2 * h)
            (dh * z).store(d.carry, s)
        case .lstm:
            let i = N.load(b.gates, row), f = N.load(b.gates, row + h)
            let g = N.load(b.gates, row + 2 * h), o = N.load(b.gates, row + 3 * h)
            let tc = N.load(b.extra, s)
            let dc = N.load(d.cellCarry, s) + dh * o * (one - tc * tc)
            (dc * g * i * (one - i)).store(d.dInput, row)
            (dc * N.load(b.cPrev, s) * f * (one - f)).store(d.dInput, row + h)
            (dc * i * (one - g * g)).store(d.dInput, row + 2 * h)
            (dh * tc * o * (one - o)).store(d.dInput, row + 3 * h)
            (dc * f).store(d.cellCarry, s)
            N(0).store(d.carry, s)
        }
    }
}
