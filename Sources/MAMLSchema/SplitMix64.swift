// MARK: - SplitMix64, the one small generator plugins and the core share
//
// SplitMix64 (Steele, Lea & Flood 2014): one 64-bit state, identical on every
// platform. Plugins draw initial weights from it; the core uses its finaliser to
// derive per-task keys and to seed xoshiro256** (MAMLCore's RandomGenerator). It
// lives here, below both, so a plugin never compiles the core to get it.

/// SplitMix64 pseudo-random numbers and the SplitMix64 finaliser.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    /// The SplitMix64 finaliser: a bijective avalanche mix of one 64-bit word.
    @inline(__always)
    public static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// Uniform in [0, 1) with 24 random bits (every value exactly representable).
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [-bound, bound).
    public mutating func nextFloat(symmetric bound: Float) -> Float {
        (2 * nextUnitFloat() - 1) * bound
    }
}
