// Test kit shared by the test targets: a seeded generator and distribution samplers, so that
// every failure reproduces on every run and machine.
import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for test data.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in (0, 1], safe for `log`.
    public mutating func openUnit() -> Double { Double((next() >> 11) + 1) * 0x1p-53 }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * unit() }

    /// Standard normal via Box–Muller (one of the pair; simplicity over speed).
    public mutating func normal() -> Double {
        let u1 = openUnit()
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Lognormal with the given median (`e^mu`) and sigma.
    public mutating func lognormal(median: Double, sigma: Double) -> Double { median * exp(sigma * normal()) }

    /// Pareto with shape `alpha` and scale (minimum) `scale`, by inversion.
    public mutating func pareto(alpha: Double, scale: Double) -> Double { scale / pow(openUnit(), 1 / alpha) }
}

extension SplitMix64 {
    /// Uniform integer in `0..<n`.
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
