// MARK: - Deterministic, counter-based randomness
//
// Every random draw in training and evaluation comes from a generator derived
// from (seed, stream, iteration, task) by hashing, not from a shared sequential
// generator. Task t of meta-iteration i is therefore the same no matter how many
// threads run, in which order tasks finish, or whether the run was resumed from
// a checkpoint at iteration i: the "RNG state" of a run is just (seed, iteration).
//
// Derivation: SplitMix64's finaliser (Steele, Lea & Flood 2014) mixes each of
// the four counters into a 64-bit key; SplitMix64 seeded with the key then fills
// the 256-bit state of xoshiro256** (Blackman & Vigna 2018), which makes the draws.

#if canImport(Glibc)
import Glibc     // libm only (log, cos)
#elseif canImport(Darwin)
import Darwin
#endif
@_exported import MAMLSchema   // SplitMix64

/// Independent random streams. Different streams never share a generator, so
/// evaluation tasks are drawn independently of meta-training tasks.
public enum RandomStream: UInt64, Sendable {
    /// Tasks for meta-training (`iteration` = meta-iteration, `task` = index in the meta-batch).
    case metaTrain = 1
    /// Held-out tasks for final evaluation (meta-test).
    case evaluation = 2
    /// Held-out tasks for validation during training.
    case validation = 3
    /// Anything else a component needs (e.g. family construction).
    case auxiliary = 4
}

// MARK: RandomGenerator (xoshiro256**)

/// The generator every component draws from: xoshiro256** with helpers for uniform and normal draws.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    /// A generator seeded from one 64-bit value (state filled by SplitMix64, never all zero).
    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }   // unreachable in practice; xoshiro must not be all zero
    }

    /// The generator for one task (or other unit of work): a pure function of the four counters.
    public init(seed: UInt64, stream: RandomStream, iteration: Int, task: Int) {
        self.init(seed: RandomGenerator.key(seed: seed, stream: stream.rawValue,
                                            iteration: UInt64(truncatingIfNeeded: iteration),
                                            task: UInt64(truncatingIfNeeded: task)))
    }

    /// Raw state words, for reference tests of the xoshiro256** step.
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        (s0, s1, s2, s3) = state
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    /// The 64-bit key for (seed, stream, iteration, task): each counter is mixed in with the SplitMix64 finaliser.
    public static func key(seed: UInt64, stream: UInt64, iteration: UInt64, task: UInt64) -> UInt64 {
        // Distinct odd multipliers keep (a, b) and (b, a) apart before mixing.
        var h = SplitMix64.mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        h = SplitMix64.mix(h ^ (stream &* 0xD1B5_4A32_D192_ED03))
        h = SplitMix64.mix(h ^ (iteration &* 0xABC9_8388_FB8F_AC03))
        h = SplitMix64.mix(h ^ (task &* 0x8CB9_2BA7_2F3D_8DD7))
        return h
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

    /// The next 64 random bits (xoshiro256**).
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = RandomGenerator.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = RandomGenerator.rotl(s3, 45)
        return result
    }

    // MARK: Draws

    /// Uniform Float in [0, 1) with 24 random bits (every value exactly representable).
    @inline(__always)
    public mutating func unitFloat() -> Float { Float(next() >> 40) * 0x1.0p-24 }

    /// Uniform Double in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func unitDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform Float in [lo, hi), computed in Double and rounded (so it can equal `hi` only by rounding).
    @inline(__always)
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        Float(Double(lo) + (Double(hi) - Double(lo)) * unitDouble())
    }

    /// Uniform Double in [lo, hi).
    @inline(__always)
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * unitDouble()
    }

    /// Uniform integer in 0..<n (Lemire's multiply-shift with rejection: no modulo bias). n must be > 0.
    @inline(__always)
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0, "int(below:) needs a positive bound")
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// Standard normal draw (Box-Muller in Double; one draw per call, the twin is discarded for simplicity).
    public mutating func normal() -> Double {
        let u1 = 1.0 - unitDouble()        // (0, 1]: log is finite
        let u2 = unitDouble()
        return (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
    }

    /// Normal draw with the given mean and standard deviation.
    public mutating func normal(mean: Double, std: Double) -> Double { mean + std * normal() }
}
