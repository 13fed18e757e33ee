// MARK: - Eight units at a time: SIMD cell numbers and vector exp, tanh, sigmoid
//
// The cells' transcendental functions dominated a step (libm tanhf/expm1f per element).
// Lanes8 and DualLanes8 run the same generic cell code (RecurrentCells.swift) on eight
// consecutive hidden units at once, with exp from Cephes' expf (range reduction by ln 2
// in two parts, degree-6 polynomial, scaling by 2^n through the exponent bits; about
// 1 ulp) and tanh from Cephes' tanhf (odd polynomial below |x| = 0.625, 1 - 2/(e^2|x| + 1)
// above). Arguments beyond exp's range are clamped: tanh and sigmoid saturate there anyway.

/// Vector elementary functions on eight floats.
public enum VectorMath {
    @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // Plain compare-and-select and the 1.5 * 2^23 rounding trick: the generic SIMD clamped,
        // rounded and Float -> Int32 conversions are element-by-element library calls.
        let lo = SIMD8<Float>(repeating: -87.3), hi = SIMD8<Float>(repeating: 88.3)
        var x = x.replacing(with: lo, where: x .< lo)
        x = x.replacing(with: hi, where: x .> hi)
        let magic = SIMD8<Float>(repeating: 12_582_912)   // 1.5 * 2^23: adding it rounds to an integer
        let shifted = x * 1.44269504088896341 + magic
        let fx = shifted - magic
        let r = x - fx * 0.693359375 + fx * 2.12194440e-4
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let y = p * (r * r) + r + 1
        // shifted's low mantissa bits hold n (two's complement): 2^n has exponent bits n + 127.
        let n = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127
        return y * unsafeBitCast(n &<< 23, to: SIMD8<Float>.self)
    }

    @inline(__always)
    public static func tanh(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let a = x.replacing(with: -x, where: x .< 0)
        let z = x * x
        var p = SIMD8<Float>(repeating: -5.70498872745e-3)
        p = p * z + 2.06390887954e-2
        p = p * z - 5.37397155531e-2
        p = p * z + 1.33314422036e-1
        p = p * z - 3.33332819422e-1
        let small = p * z * x + x
        let big = 1 - 2 / (VectorMath.exp(a + a) + 1)
        let signed = big.replacing(with: -big, where: x .< 0)
        return signed.replacing(with: small, where: a .< 0.625)
    }

    @inline(__always)
    public static func sigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> { 1 / (1 + VectorMath.exp(-x)) }
}

/// Eight consecutive units' values.
public struct Lanes8: CellNumber {
    public var x: SIMD8<Float>
    @inline(__always) public init(_ x: SIMD8<Float>) { self.x = x }
    @inline(__always) public init(_ constant: Float) { x = SIMD8(repeating: constant) }
    @inline(__always) public static var width: Int { 8 }
    @inline(__always) public static func + (a: Lanes8, b: Lanes8) -> Lanes8 { Lanes8(a.x + b.x) }
    @inline(__always) public static func - (a: Lanes8, b: Lanes8) -> Lanes8 { Lanes8(a.x - b.x) }
    @inline(__always) public static func * (a: Lanes8, b: Lanes8) -> Lanes8 { Lanes8(a.x * b.x) }
    @inline(__always) public func tanh() -> Lanes8 { Lanes8(VectorMath.tanh(x)) }
    @inline(__always) public func sigmoid() -> Lanes8 { Lanes8(VectorMath.sigmoid(x)) }
    @inline(__always) public var value: Float { x.sum() }
    @inline(__always) public static func load(_ p: FloatPair, _ i: Int) -> Lanes8 {
        Lanes8(UnsafeRawPointer(p.v + i).loadUnaligned(as: SIMD8<Float>.self))
    }
    @inline(__always) public func store(_ p: FloatPair, _ i: Int) {
        UnsafeMutableRawPointer(p.v + i).storeBytes(of: x, as: SIMD8<Float>.self)
    }
}

/// Eight consecutive units' values and R-values.
public struct DualLanes8: CellNumber {
    public var v: SIMD8<Float>, d: SIMD8<Float>
    @inline(__always) public init(_ v: SIMD8<Float>, _ d: SIMD8<Float>) { self.v = v; self.d = d }
    @inline(__always) public init(_ constant: Float) { v = SIMD8(repeating: constant); d = SIMD8() }
    @inline(__always) public static var width: Int { 8 }
    @inline(__always) public static func + (a: DualLanes8, b: DualLanes8) -> DualLanes8 { DualLanes8(a.v + b.v, a.d + b.d) }
    @inline(__always) public static func - (a: DualLanes8, b: DualLanes8) -> DualLanes8 { DualLanes8(a.v - b.v, a.d - b.d) }
    @inline(__always) public static func * (a: DualLanes8, b: DualLanes8) -> DualLanes8 {
        DualLanes8(a.v * b.v, a.d * b.v + a.v * b.d)
    }
    @inline(__always) public func tanh() -> DualLanes8 { let t = VectorMath.tanh(v); return DualLanes8(t, (1 - t * t) * d) }
    @inline(__always) public func sigmoid() -> DualLanes8 { let s = VectorMath.sigmoid(v); return DualLanes8(s, s * (1 - s) * d) }
    @inline(__always) public var value: Float { v.sum() }
    @inline(__always) public static func load(_ p: FloatPair, _ i: Int) -> DualLanes8 {
        DualLanes8(UnsafeRawPointer(p.v + i).loadUnaligned(as: SIMD8<Float>.self),
                   UnsafeRawPointer(p.r! + i).loadUnaligned(as: SIMD8<Float>.self))
    }
    @inline(__always) public func store(_ p: FloatPair, _ i: Int) {
        UnsafeMutableRawPointer(p.v + i).storeBytes(of: v, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(p.r! + i).storeBytes(of: d, as: SIMD8<Float>.self)
    }
}
