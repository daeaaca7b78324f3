// Shared helpers for the MetValues tests: a seeded RNG, distribution samplers and exact-quantile
// oracles. Everything here is deterministic, so a failure reproduces on every run and machine.
import Foundation
@_exported import MetTestSupport
@testable import MetValues

/// Named, seeded data sets used by several test files.
enum DataSets {
    /// Lognormal nanosecond timings (rounded to integers so the sum stays exact).
    static func lognormal(_ n: Int, seed: UInt64 = 1, median: Double = 5e7, sigma: Double = 1) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in rng.lognormal(median: median, sigma: sigma).rounded() }
    }

    /// Pareto values rounded to integers (≥ scale, so never zero).
    static func pareto(_ n: Int, seed: UInt64 = 2, alpha: Double = 1.5, scale: Double = 1e5) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in rng.pareto(alpha: alpha, scale: scale).rounded() }
    }

    /// Integers uniform in 1...1e9.
    static func uniform(_ n: Int, seed: UInt64 = 3) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in Double(Int.random(in: 1...1_000_000_000, using: &rng)) }
    }

    static func constant(_ n: Int, _ value: Double = 42) -> [Double] { Array(repeating: value, count: n) }

    /// Integers with both signs and plenty of exact zeros: negative lognormal, zeros, small
    /// integers around zero, positive pareto.
    static func mixedSigns(_ n: Int, seed: UInt64 = 4) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in
            switch rng.next() % 5 {
            case 0: return -rng.lognormal(median: 5e6, sigma: 1.5).rounded()
            case 1: return 0
            case 2: return Double(Int.random(in: -1000...1000, using: &rng))
            case 3: return rng.pareto(alpha: 1.5, scale: 10).rounded()
            default: return rng.lognormal(median: 5e7, sigma: 1).rounded()
            }
        }
    }
}

/// The quantiles every accuracy test checks: 0, 0.01 ... 0.99, 1.
let checkedQuantiles: [Double] = [0] + (1...99).map { Double($0) / 100 } + [1]

/// The exact value at rank `⌊q·(n − 1)⌋` of sorted values: the same rank the sketch reports.
func exactQuantile(_ sorted: [Double], _ q: Double) -> Double {
    let rank = Int((q * Double(sorted.count - 1)).rounded(.down))
    return sorted[rank]
}

/// Relative error of an estimate; an exact zero must be reported as zero.
func relativeError(_ estimate: Double, _ exact: Double) -> Double {
    if exact == 0 { return estimate == 0 ? 0 : .infinity }
    return abs(estimate - exact) / abs(exact)
}

/// The 1 % guarantee plus room for the last bit of floating-point rounding.
let accuracyBound = IndexMapping.relativeAccuracy + 1e-12

/// The quantiles among `qs` whose estimate misses the exact value by more than the guarantee,
/// as readable strings for the failure message.
func accuracyViolations(_ sketch: Sketch, _ values: [Double], qs: [Double] = checkedQuantiles) -> [String] {
    let sorted = values.sorted()
    var bad: [String] = []
    for q in qs {
        let exact = exactQuantile(sorted, q)
        guard let estimate = sketch.quantile(q) else {
            bad.append("q=\(q): nil, exact \(exact)")
            continue
        }
        let e = relativeError(estimate, exact)
        if !(e <= accuracyBound) { bad.append("q=\(q): \(estimate) vs exact \(exact) (error \(e))") }
    }
    return bad
}

/// Exact integer sum of integer-valued doubles (the values here stay far below 2⁵³).
func exactIntegerSum(_ values: [Double]) -> Double {
    Double(values.reduce(Int64(0)) { $0 + Int64($1) })
}

/// Sketch from a list, asserting nothing.
func sketch(of values: [Double]) -> Sketch { Sketch(values) }

/// Decodes or returns the error, for compact assertions.
func decodeResult(_ bytes: [UInt8]) -> Result<Sketch, DecodeError> {
    Result { () throws(DecodeError) -> Sketch in try Sketch(decoding: bytes) }
}
