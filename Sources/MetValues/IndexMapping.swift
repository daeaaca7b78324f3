/// The mapping from values to sketch bin indices, identical on every node.
///
/// A DDSketch-style logarithmic mapping with a guaranteed relative accuracy, computed without
/// calling `log`: the binary exponent of the value plus a cubic approximation of `log2` of its
/// significand (`p(s) = A·s³ + B·s² + C·s` on `s ∈ [0, 1)`). The multiplier is scaled by the
/// worst slope ratio of that approximation (`7/10`, reached at `s = 0` and `s = 2/3`), so no bin
/// is wider than `γ = (1 + α) / (1 − α)` and the bin's representative is within `α` of every
/// value it holds. Only IEEE-754 bit operations, multiplications and additions are used, so the
/// index of a value is the same on every machine.
public enum IndexMapping {
    /// Relative accuracy of every quantile (1 %).
    public static let relativeAccuracy = 0.01
    /// Identifier of this mapping in the encoding; a sketch encoded with another one is refused.
    public static let formatID: UInt8 = 1

    @usableFromInline static let a = 6.0 / 35.0
    @usableFromInline static let b = -3.0 / 5.0
    @usableFromInline static let c = 10.0 / 7.0

    /// `γ`: the widest ratio between the largest and the smallest value of one bin.
    public static let gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy)

    /// Bins per unit of approximate `log2`. 0.7 is the largest `1 / ((1 + s)·p'(s))` on `[0, 1)`.
    /// Written out (0.7 / ln γ, rounded up) rather than computed with `log`, so that no libm
    /// difference between machines can move a bin boundary.
    @usableFromInline static let multiplier = 34.9988333022206

    /// Smallest magnitude that gets its own bin; anything smaller (including subnormals and ±0)
    /// counts as zero.
    public static let minIndexable = Double.leastNormalMagnitude

    /// Range of indices a finite, normal magnitude can map to.
    public static let indexRange: ClosedRange<Int32> = index(of: minIndexable)...index(of: .greatestFiniteMagnitude)

    /// True for the bit pattern of a positive, normal, finite value (sign 0, exponent 1...2046).
    @inlinable @inline(__always)
    public static func isIndexable(bits: UInt64) -> Bool {
        bits &- 0x0010_0000_0000_0000 < 0x7fe0_0000_0000_0000
    }

    /// Approximate `log2` of a positive normal value.
    @inlinable @inline(__always)
    static func approximateLog2(_ x: Double) -> Double { approximateLog2(bits: x.bitPattern) }

    @inlinable @inline(__always)
    static func approximateLog2(bits: UInt64) -> Double {
        let exponent = Int64((bits >> 52) & 0x7ff) - 1023
        let s = Double(bitPattern: (bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000) - 1
        return ((a * s + b) * s + c) * s + Double(exponent)
    }

    /// The bin index of a positive, finite, normal magnitude: `ceil(log2~(x) · multiplier)`.
    @inlinable @inline(__always)
    public static func index(of x: Double) -> Int32 { index(bits: x.bitPattern) }

    /// ``index(of:)`` from the value's bit pattern.
    @inlinable @inline(__always)
    public static func index(bits: UInt64) -> Int32 {
        let y = approximateLog2(bits: bits) * multiplier
        // ceil(y) without a checked conversion: adding 1.5·2⁵² rounds y to the nearest integer
        // exactly (|y| < 36_000 ≪ 2⁵¹) and leaves that integer in the low bits of the sum; one
        // compare then turns the nearest integer into the ceiling. IEEE-754 addition in the
        // default rounding mode, so every machine gets the same index as `Int32(y)` rounded up.
        let shifted = y + roundingShift
        let nearest = Int32(truncatingIfNeeded: Int64(bitPattern: shifted.bitPattern))
        return shifted - roundingShift < y ? nearest &+ 1 : nearest
    }

    /// 1.5 · 2⁵²: see ``index(bits:)``.
    @usableFromInline static let roundingShift = 6_755_399_441_055_744.0

    /// ``index(bits:)`` as first written (a checked conversion and a compare): the reference the
    /// tests hold the fast one to.
    package static func referenceIndex(bits: UInt64) -> Int32 {
        let y = approximateLog2(bits: bits) * multiplier
        let t = Int32(y)
        return Double(t) < y ? t + 1 : t
    }

    /// Inverse of ``approximateLog2(_:)``: solves `e + p(s) = y` by Newton's method (p is monotonic
    /// with `p' ≥ 26/35`, so it converges in a few steps).
    static func inverseLog2(_ y: Double) -> Double {
        let e = y.rounded(.down)
        let target = y - e
        var s = target
        for _ in 0..<8 {
            let p = ((a * s + b) * s + c) * s - target
            let dp = (3 * a * s + 2 * b) * s + c
            let next = s - p / dp
            if next == s { break }
            s = next
        }
        s = Swift.min(Swift.max(s, 0), 1)
        return (1 + s) * pow2(Int(e))
    }

    static func pow2(_ e: Int) -> Double {
        if e > 1023 { return .infinity }
        if e < -1074 { return 0 }
        return Double(sign: .plus, exponent: e, significand: 1)
    }

    /// Lower bound of bin `i` (exclusive), to about 1e-13 relative (inverted numerically).
    public static func lowerBound(_ i: Int32) -> Double { inverseLog2(Double(i - 1) / multiplier) }

    /// Upper bound of bin `i` (inclusive), to about 1e-13 relative.
    public static func upperBound(_ i: Int32) -> Double { inverseLog2(Double(i) / multiplier) }

    /// The value reported for bin `i`: the point whose relative distance to both bounds is equal,
    /// hence at most `α` from any value of the bin.
    public static func representative(_ i: Int32) -> Double {
        let lo = lowerBound(i)
        let hi = upperBound(i)
        guard hi.isFinite else { return lo * (1 + relativeAccuracy) }
        // 2·lo·hi / (lo + hi), written so that it neither overflows near the top of the double
        // range nor underflows near the bottom.
        return lo * (2 / (1 + lo / hi))
    }
}
