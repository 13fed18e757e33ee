// MARK: - A small deterministic generator for parameter initialisation
//
// SplitMix64 (Steele, Lea & Flood 2014): one 64-bit state, good enough to draw
// initial weights, and identical on every platform. The kit has its own so plugins
// do not depend on MAMLCore.

/// SplitMix64 pseudo-random numbers.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
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
