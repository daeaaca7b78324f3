#if canImport(Glibc)
import Glibc
#endif

/// Seeded generators for reproducible data sets.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300)
        let u2 = uniform()
        return sqrt(-2 * log(u1)) * cos(2 * Double.pi * u2)
    }

    /// Lognormal with the given median and sigma, rounded to whole nanoseconds (≥ 1).
    mutating func lognormal(median: Double = 5e7, sigma: Double = 1) -> Double {
        max(1, (median * exp(sigma * normal())).rounded())
    }

    /// Pareto with shape `alpha` and scale `xm`, rounded to whole units.
    mutating func pareto(alpha: Double = 1.5, xm: Double = 1e5) -> Double {
        (xm / pow(max(uniform(), 1e-300), 1 / alpha)).rounded()
    }
}
