import MAMLKernels

// MARK: - Small vector kernels over the parameter vector
//
// The meta-learners touch P-float vectors a handful of times per task; these
// loops are simple enough for the compiler to vectorise. Reductions that feed
// decisions (norms for the finite-difference step) accumulate in Double.

@inline(__always)
func copyVector(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count n: Int) {
    dst.update(from: src, count: n)
}

/// dst = a + s * b
@inline(__always)
func addScaled(_ a: UnsafePointer<Float>, _ s: Float, _ b: UnsafePointer<Float>,
               into dst: UnsafeMutablePointer<Float>, count n: Int) {
    mk_add_scaled(a, s, b, dst, n)   // no FMA, so every build gives the same bits
}

/// Euclidean norm accumulated in Double.
@inline(__always)
func norm2(_ a: UnsafePointer<Float>, count n: Int) -> Double {
    var s = 0.0
    for i in 0..<n { let x = Double(a[i]); s += x * x }
    return s.squareRoot()
}

/// Which build of MAMLKernels this process runs: "avx512", "avx2+fma" or "baseline"
/// (chosen at load time; MAML_KERNELS_ISA=avx2 or =baseline caps it; plugins choose alike).
public var kernelBuild: String { String(cString: mk_isa_name(mk_active_isa())) }

/// True if every element is finite. Public: the host adapter checks every plugin result
/// with it on the hot path (MAMLKernels' scan, AVX2 when the CPU has it).
public func allFinite(_ a: UnsafePointer<Float>, count n: Int) -> Bool {
    mk_first_nonfinite(a, n) < 0
}

/// True if every element of `a` is finite.
public func allFinite(_ a: [Float]) -> Bool {
    a.withUnsafeBufferPointer { b in b.isEmpty || allFinite(b.baseAddress!, count: b.count) }
}

/// True if every element is +0 or -0.
@inline(__always)
func allZero(_ a: UnsafePointer<Float>, count n: Int) -> Bool {
    var bits: UInt32 = 0
    for i in 0..<n { bits |= a[i].bitPattern & 0x7FFF_FFFF }
    return bits == 0
}

/// A fixed-size Float buffer owned by a workspace: allocated once, freed on deinit.
final class FloatBuffer {
    let count: Int
    let base: UnsafeMutablePointer<Float>
    init(_ count: Int) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }
    deinit { base.deallocate() }
    var mutable: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }
    var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: base, count: count) }
    /// The `index`-th block of `blockSize` floats (for iterate and per-task slots).
    @inline(__always) func block(_ index: Int, size: Int) -> UnsafeMutablePointer<Float> { base + index * size }
}
