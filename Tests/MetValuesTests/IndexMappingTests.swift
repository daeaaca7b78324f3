// The value → bin mapping: monotonic, bins no wider than γ, bounds consistent with index(of:),
// and identical on every node.
import Testing
@testable import MetValues

@Suite("IndexMapping")
struct IndexMappingTests {
    /// Positive normal doubles spread evenly over the bit patterns of the whole finite range,
    /// plus the neighbours of every power of two and decimal powers 1e-300...1e300, sorted.
    static func denseSample() -> [Double] {
        var values: [Double] = []
        let lo = Double.leastNormalMagnitude.bitPattern
        let hi = Double.greatestFiniteMagnitude.bitPattern
        let steps: UInt64 = 400_000
        let stride = (hi - lo) / steps
        var rng = SplitMix64(seed: 11)
        for k in 0..<steps {
            // A random offset inside each stride, so significands are not all alike.
            values.append(Double(bitPattern: lo + k * stride + rng.next() % stride))
        }
        values.append(.leastNormalMagnitude)
        values.append(.greatestFiniteMagnitude)
        for e in -1022...1023 {
            let p = Double(sign: .plus, exponent: e, significand: 1)
            values.append(p)
            if p.nextDown >= .leastNormalMagnitude { values.append(p.nextDown) }
            if p.nextUp.isFinite { values.append(p.nextUp) }
            // Points of the significand where the cubic's slope ratio is worst (s = 0, 2/3).
            let twoThirds = p * (1 + 2.0 / 3)
            if twoThirds.isFinite { values += [twoThirds.nextDown, twoThirds, twoThirds.nextUp] }
        }
        for d in -300...300 {
            let v = Double("1e\(d)")!
            values += [v.nextDown, v, v.nextUp]
        }
        return values.sorted()
    }

    @Test("index(of:) is monotonic non-decreasing over the whole positive range")
    func monotonic() {
        let values = Self.denseSample()
        var previous = IndexMapping.index(of: values[0])
        var violations: [String] = []
        for (v, w) in zip(values, values.dropFirst()) {
            let i = IndexMapping.index(of: w)
            if i < previous { violations.append("index(\(v)) = \(previous) > index(\(w)) = \(i)") }
            previous = i
        }
        #expect(violations.isEmpty, "\(violations.prefix(5))")
        #expect(IndexMapping.index(of: values.first!) == IndexMapping.indexRange.lowerBound)
        #expect(IndexMapping.index(of: values.last!) == IndexMapping.indexRange.upperBound)
    }

    @Test("the unchecked ceiling gives the index the checked conversion gave, bin boundaries included")
    func fastIndexMatchesReference() {
        var values = Self.denseSample()
        // Both neighbours of every bin boundary the approximation can reach.
        for i in IndexMapping.indexRange.lowerBound...IndexMapping.indexRange.upperBound where i % 7 == 0 || abs(i) < 3000 {
            let b = IndexMapping.upperBound(i)
            guard b.isFinite, b >= .leastNormalMagnitude else { continue }
            values += [b.nextDown.nextDown, b.nextDown, b, b.nextUp, b.nextUp.nextUp]
        }
        var mismatches = 0
        for v in values where v >= .leastNormalMagnitude && v.isFinite {
            if IndexMapping.index(bits: v.bitPattern) != IndexMapping.referenceIndex(bits: v.bitPattern) { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test("every index(of:) lands inside indexRange")
    func indicesInRange() {
        for v in Self.denseSample() {
            let i = IndexMapping.index(of: v)
            if !IndexMapping.indexRange.contains(i) {
                Issue.record("index(of: \(v)) = \(i) outside \(IndexMapping.indexRange)")
                return
            }
        }
    }

    @Test("the index is continuous across powers of two")
    func continuousAtPowersOfTwo() {
        // Around a power of two the cubic restarts: the index must be continuous there.
        for e in -1021...1022 {
            let p = Double(sign: .plus, exponent: e, significand: 1)
            let below = IndexMapping.index(of: p.nextDown)
            let at = IndexMapping.index(of: p)
            #expect(at - below <= 1, "jump at 2^\(e): \(below) -> \(at)")
        }
    }

    @Test("bin bounds are ordered and no bin is wider than γ")
    func binWidths() {
        let range = IndexMapping.indexRange
        let widthLimit = IndexMapping.gamma * (1 + 1e-12)
        var failures: [String] = []
        // The top bin's upper bound lies beyond the finite range.
        for i in range.lowerBound..<range.upperBound {
            let lo = IndexMapping.lowerBound(i)
            let hi = IndexMapping.upperBound(i)
            if !(lo < hi && hi / lo <= widthLimit) { failures.append("bin \(i): [\(lo), \(hi)], ratio \(hi / lo)") }
            if i > range.lowerBound && IndexMapping.upperBound(i - 1) != lo {
                failures.append("bin \(i): lower bound \(lo) is not the previous bin's upper bound")
            }
        }
        #expect(IndexMapping.upperBound(range.upperBound) >= .greatestFiniteMagnitude)
        #expect(IndexMapping.lowerBound(range.lowerBound) < .leastNormalMagnitude)
        #expect(failures.isEmpty, "\(failures.count) bins, first: \(failures.prefix(5))")
    }

    /// `representative(i)` is computed as `2·lo·hi / (lo + hi)`; the product must neither
    /// overflow (bins above ~1e154) nor underflow (bins below ~1e-154).
    @Test("the representative lies inside its bin, for every bin")
    func representativeInsideBin() {
        let range = IndexMapping.indexRange
        var bad: [Int32] = []
        for i in range {
            let lo = IndexMapping.lowerBound(i)
            let hi = IndexMapping.upperBound(i)
            let rep = IndexMapping.representative(i)
            let inside = rep.isFinite && lo < rep && (rep <= hi || i == range.upperBound)
            if !inside { bad.append(i) }
        }
        let examples = [bad.first, bad.last].compactMap { $0 }.map { i in
            "bin \(i): [\(IndexMapping.lowerBound(i)), \(IndexMapping.upperBound(i))] representative \(IndexMapping.representative(i))"
        }
        #expect(bad.count == 0, "\(bad.count) of \(range.count) bins, e.g. \(examples)")
    }

    @Test("values just inside a bin's bounds map to that bin (to 1e-12 relative)")
    func boundsMapBackApproximately() {
        let range = IndexMapping.indexRange
        var failures: [String] = []
        for i in range.lowerBound + 1..<range.upperBound {
            let lo = IndexMapping.lowerBound(i) * (1 + 1e-12)
            let hi = IndexMapping.upperBound(i) * (1 - 1e-12)
            if IndexMapping.index(of: lo) != i { failures.append("bin \(i): index(of: \(lo)) = \(IndexMapping.index(of: lo))") }
            if IndexMapping.index(of: hi) != i { failures.append("bin \(i): index(of: \(hi)) = \(IndexMapping.index(of: hi))") }
        }
        #expect(failures.isEmpty, "\(failures.count) failures, first: \(failures.prefix(5))")
    }

    /// The documented contract: lowerBound is exclusive, upperBound inclusive, so
    /// `lowerBound(i).nextUp` and `upperBound(i)` are both in bin `i`. The Newton inversion only
    /// gets within ~1e-13 of the true boundary (up to ~1,000 ulps), so this is exact-to-the-bit.
    /// The bounds come from inverting the cubic numerically, so they are exact to about 1e-13
    /// relative, not to the last bit; the accuracy guarantee does not depend on them.
    @Test("bin bounds are exact to 1e-12 relative (lowerBound exclusive, upperBound inclusive)")
    func boundsExact() {
        let range = IndexMapping.indexRange
        var misses: [String] = []
        for i in range.lowerBound + 1..<range.upperBound {
            let lo = IndexMapping.lowerBound(i)
            let hi = IndexMapping.upperBound(i)
            let justAbove = lo * (1 + 1e-12)
            let justBelow = hi * (1 - 1e-12)
            if IndexMapping.index(of: justAbove) != i || IndexMapping.index(of: justBelow) != i
                || IndexMapping.index(of: hi * (1 + 1e-12)) != i + 1
            {
                if misses.count < 5 { misses.append("bin \(i): [\(lo), \(hi)]") }
            }
        }
        #expect(misses.isEmpty, "\(misses)")
    }

    @Test("every value is within α of its bin's representative")
    func representativeWithinAccuracy() {
        var worst = 0.0
        var worstValue = 0.0
        for v in Self.denseSample() {
            let rep = IndexMapping.representative(IndexMapping.index(of: v))
            let e = abs(rep - v) / v
            if e > worst { worst = e; worstValue = v }
        }
        #expect(worst <= accuracyBound, "worst relative error \(worst) at \(worstValue)")
    }

    /// Cross-node determinism: every node must put a value in the same bin, or merged sketches
    /// from different machines (and sketches decoded from the wire or from snapshots) would
    /// disagree. These pairs were computed once from the implementation (debug and -O builds
    /// agree); if one changes, the mapping changed and old encodings no longer mean the same
    /// thing — bump `IndexMapping.formatID` instead of editing these numbers.
    @Test("known value → index pairs", arguments: [
        (1.0, 0 as Int32), (2.0, 35), (0.5, -34), (1.5, 21), (3.0, 56), (42.0, 189),
        (1000.0, 349), (1e-9, -1046), (5e7, 896), (123_456_789.0, 941), (1e300, 34880),
        (Double.leastNormalMagnitude, -35768), (Double.greatestFiniteMagnitude, 35839),
    ] as [(Double, Int32)])
    func knownIndices(_ value: Double, _ index: Int32) {
        #expect(IndexMapping.index(of: value) == index)
    }

    @Test("constants of the mapping")
    func constants() {
        #expect(IndexMapping.indexRange == -35768...35839)
        #expect(IndexMapping.formatID == 1)
        #expect(IndexMapping.relativeAccuracy == 0.01)
        #expect(abs(IndexMapping.gamma - 1.01 / 0.99) < 1e-15)
        // The approximate log2 is exact at powers of two and continuous at the next one.
        #expect(IndexMapping.approximateLog2(1) == 0)
        #expect(IndexMapping.approximateLog2(1024) == 10)
        #expect(IndexMapping.approximateLog2(Double(1).nextDown) <= 0)
    }
}
