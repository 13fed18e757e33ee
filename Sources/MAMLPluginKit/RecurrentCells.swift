#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Recurrent cells, element by element, written once for values and for R-values
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
public protocol CellNumber {
    init(_ constant: Float)
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    func tanh() -> Self
    func sigmoid() -> Self
    /// The value part (for the explosion probe).
    var value: Float { get }
    /// Element i of the buffers: the value from `p.v`, the derivative (Dual) from `p.r`.
    static func load(_ p: FloatPair, _ i: Int) -> Self
    func store(_ p: FloatPair, _ i: Int)
}

/// A value buffer and, in R passes, the buffer of its R-values.
public struct FloatPair {
    public var v: UnsafeMutablePointer<Float>
    public var r: UnsafeMutablePointer<Float>?
    @inline(__always) public init(_ v: UnsafeMutablePointer<Float>, _ r: UnsafeMutablePointer<Float>?) { self.v = v; self.r = r }
    @inline(__always) public static func + (p: FloatPair, k: Int) -> FloatPair { FloatPair(p.v + k, p.r.map { $0 + k }) }
}

extension Float: CellNumber {
    @inline(__always) public func tanh() -> Float { tanhf(self) }
    @inline(__always) public func sigmoid() -> Float { 1 / (1 + expf(-self)) }
    @inline(__always) public var value: Float { self }
    @inline(__always) public static func load(_ p: FloatPair, _ i: Int) -> Float { p.v[i] }
    @inline(__always) public func store(_ p: FloatPair, _ i: Int) { p.v[i] = self }
}

/// A dual number: value v and tangent d (the R-value).
public struct Dual: CellNumber {
    public var v: Float, d: Float
    @inline(__always) public init(_ v: Float, _ d: Float) { self.v = v; self.d = d }
    @inline(__always) public init(_ constant: Float) { v = constant; d = 0 }
    @inline(__always) public static func + (a: Dual, b: Dual) -> Dual { Dual(a.v + b.v, a.d + b.d) }
    @inline(__always) public static func - (a: Dual, b: Dual) -> Dual { Dual(a.v - b.v, a.d - b.d) }
    @inline(__always) public static func * (a: Dual, b: Dual) -> Dual { Dual(a.v * b.v, a.d * b.v + a.v * b.d) }
    @inline(__always) public func tanh() -> Dual { let t = tanhf(v); return Dual(t, (1 - t * t) * d) }
    @inline(__always) public func sigmoid() -> Dual { let s = 1 / (1 + expf(-v)); return Dual(s, s * (1 - s) * d) }
    @inline(__always) public var value: Float { v }
    @inline(__always) public static func load(_ p: FloatPair, _ i: Int) -> Dual { Dual(p.v[i], p.r![i]) }
    @inline(__always) public func store(_ p: FloatPair, _ i: Int) { p.v[i] = v; p.r![i] = d }
}

/// The recurrent cell types.
public enum RecurrentCell: String, Sendable, CaseIterable {
    /// h' = tanh(W_ih x + W_hh h + b).
    case elman
    /// PyTorch's GRU: r, z = sigmoid(...); n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h' = (1 - z) n + z h.
    case gru
    /// PyTorch's LSTM: i, f, o = sigmoid, g = tanh of W_ih x + W_hh h + b; c' = f c + i g; h' = o tanh(c').
    case lstm

    /// Gate blocks of H rows in W_ih, W_hh and the bias.
    public var gates: Int {
        switch self { case .elman: 1; case .gru: 3; case .lstm: 4 }
    }
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
    @inline(__always)
    func forwardStep<N: CellNumber>(_ type: N.Type, n: Int, h: Int, _ b: StepBuffers) -> Float {
        var probe: Float = 0
        let gh = gates * h
        for e in 0..<n {
            let row = e * gh, s = e * h
            for j in 0..<h {
                switch self {
                case .elman:
                    let a = N.load(b.gates, row + j) + N.load(b.hidden, row + j)
                    probe += a.value
                    let y = a.tanh()
                    y.store(b.gates, row + j); y.store(b.hNew, s + j)
                case .gru:
                    let ar = N.load(b.gates, row + j) + N.load(b.hidden, row + j)
                    let az = N.load(b.gates, row + h + j) + N.load(b.hidden, row + h + j)
                    let hn = N.load(b.hidden, row + 2 * h + j)
                    let r = ar.sigmoid(), z = az.sigmoid()
                    let an = N.load(b.gates, row + 2 * h + j) + r * hn
                    probe += ar.value + az.value + an.value
                    let nn = an.tanh()
                    let hp = N.load(b.hPrev, s + j)
                    let y = (N(1) - z) * nn + z * hp
                    r.store(b.gates, row + j); z.store(b.gates, row + h + j); nn.store(b.gates, row + 2 * h + j)
                    hn.store(b.extra, s + j); y.store(b.hNew, s + j)
                case .lstm:
                    let ai = N.load(b.gates, row + j) + N.load(b.hidden, row + j)
                    let af = N.load(b.gates, row + h + j) + N.load(b.hidden, row + h + j)
                    let ag = N.load(b.gates, row + 2 * h + j) + N.load(b.hidden, row + 2 * h + j)
                    let ao = N.load(b.gates, row + 3 * h + j) + N.load(b.hidden, row + 3 * h + j)
                    probe += ai.value + af.value + ag.value + ao.value
                    let i = ai.sigmoid(), f = af.sigmoid(), g = ag.tanh(), o = ao.sigmoid()
                    let c = f * N.load(b.cPrev, s + j) + i * g
                    let tc = c.tanh()
                    i.store(b.gates, row + j); f.store(b.gates, row + h + j)
                    g.store(b.gates, row + 2 * h + j); o.store(b.gates, row + 3 * h + j)
                    c.store(b.cNew, s + j); tc.store(b.extra, s + j); (o * tc).store(b.hNew, s + j)
                }
            }
        }
        return probe
    }

    /// Backward of one step through the pointwise part (the W_hh product is the caller's).
    @inline(__always)
    func backwardStep<N: CellNumber>(_ type: N.Type, n: Int, h: Int, _ b: StepBuffers, _ d: StepGradients) {
        let gh = gates * h
        let one = N(1)
        for e in 0..<n {
            let row = e * gh, s = e * h
            for j in 0..<h {
                let dh = N.load(d.top, s + j) + N.load(d.carry, s + j)
                switch self {
                case .elman:
                    let y = N.load(b.hNew, s + j)
                    let da = dh * (one - y * y)
                    da.store(d.dInput, row + j)
                    N(0).store(d.carry, s + j)
                case .gru:
                    let r = N.load(b.gates, row + j), z = N.load(b.gates, row + h + j)
                    let nn = N.load(b.gates, row + 2 * h + j), hn = N.load(b.extra, s + j)
                    let hp = N.load(b.hPrev, s + j)
                    let dan = dh * (one - z) * (one - nn * nn)
                    let dar = dan * hn * r * (one - r)
                    let daz = dh * (hp - nn) * z * (one - z)
                    dar.store(d.dInput, row + j); daz.store(d.dInput, row + h + j); dan.store(d.dInput, row + 2 * h + j)
                    dar.store(d.dHidden, row + j); daz.store(d.dHidden, row + h + j)
                    (dan * r).store(d.dHidden, row + 2 * h + j)
                    (dh * z).store(d.carry, s + j)
                case .lstm:
                    let i = N.load(b.gates, row + j), f = N.load(b.gates, row + h + j)
                    let g = N.load(b.gates, row + 2 * h + j), o = N.load(b.gates, row + 3 * h + j)
                    let tc = N.load(b.extra, s + j)
                    let dc = N.load(d.cellCarry, s + j) + dh * o * (one - tc * tc)
                    let di = dc * g * i * (one - i)
                    let df = dc * N.load(b.cPrev, s + j) * f * (one - f)
                    let dg = dc * i * (one - g * g)
                    let dout = dh * tc * o * (one - o)
                    di.store(d.dInput, row + j); df.store(d.dInput, row + h + j)
                    dg.store(d.dInput, row + 2 * h + j); dout.store(d.dInput, row + 3 * h + j)
                    (dc * f).store(d.cellCarry, s + j)
                    N(0).store(d.carry, s + j)
                }
            }
        }
    }
}
