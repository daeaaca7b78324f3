// The known traps of DESIGN §3 "Values": NaN, zero and negative inputs, a single absurd value,
// and values spread so wide that the page cap is reached.
import Testing
@testable import MetValues

@Suite("Sketch traps")
struct SketchTrapTests {
    @Test("NaN and ±infinity are refused and change nothing", arguments: [
        Double.nan, -Double.nan, Double.signalingNaN, Double.infinity, -Double.infinity,
    ])
    func nonFiniteRefused(_ bad: Double) throws {
        var s = Sketch([1, 2, 3])
        let before = s
        let bytesBefore = s.encoded()
        do { let ok = s.add(bad); #expect(!ok) }
        do { let ok = s.add(bad, count: 10); #expect(!ok) }
        #expect(s.count == 3)
        #expect(s == before)
        #expect(s.encoded() == bytesBefore)
        #expect(s.sum == 6 && s.min == 1 && s.max == 3)

        var empty = Sketch()
        do { let ok = empty.add(bad); #expect(!ok) }
        #expect(empty.isEmpty && empty.min == .infinity && empty.max == -.infinity)

        // The sequence initializer skips them too.
        let skipped = Sketch([1, bad, 2, bad, 3])
        #expect(skipped == before)
    }

    @Test("0, -0.0 and subnormals go to the zero bin", arguments: [
        0.0, -0.0, Double.leastNonzeroMagnitude, -Double.leastNonzeroMagnitude,
        Double.leastNormalMagnitude.nextDown, -Double.leastNormalMagnitude.nextDown, Double.leastNormalMagnitude / 1000,
    ])
    func zeroBin(_ z: Double) {
        var s = Sketch()
        do { let ok = s.add(z); #expect(ok) }
        do { let ok = s.add(z); #expect(ok) }
        #expect(s.zeroCount == 2)
        #expect(s.count == 2)
        #expect(s.positive.isEmpty && s.negative.isEmpty)
        #expect(s.binCount == 1)
        #expect(s.quantile(0.5).map { abs($0) <= abs(z) } == true)
        // The smallest normal magnitude has its own bin.
        do { let ok = s.add(.leastNormalMagnitude); #expect(ok) }
        #expect(s.zeroCount == 2)
        #expect(!s.positive.isEmpty)
    }

    @Test("negative values: quantiles within 1 % in magnitude")
    func negatives() {
        let values = DataSets.lognormal(100_000, seed: 31).map { -$0 }
        let s = Sketch(values)
        #expect(s.negative.pageCount > 0 && s.positive.pageCount == 0)
        #expect(accuracyViolations(s, values).isEmpty)
        #expect(s.min == values.min() && s.max == values.max())
        #expect(s.sum == exactIntegerSum(values))
        // Mirror symmetry: the q-quantile of -X is minus the (1-q)-quantile of X, bin for bin.
        let mirror = Sketch(values.map { -$0 })
        #expect(s.negative == mirror.positive)
    }

    @Test("mixed signs: quantiles ordered and within 1 %")
    func mixedSigns() {
        let values = [-1e9, -5e7, -1, 0, 0, 1e-5, 3, 5e7, 1e12]
        let s = Sketch(values)
        let n = values.count
        for (k, exact) in values.enumerated() {
            let q = Double(k) / Double(n - 1)
            let estimate = s.quantile(q)!
            #expect(relativeError(estimate, exact) <= accuracyBound, "q=\(q): \(estimate) vs \(exact)")
        }
        let answers = s.quantiles(checkedQuantiles).map { $0! }
        for (a, b) in zip(answers, answers.dropFirst()) { #expect(a <= b) }
        #expect(s.quantile(0) == -1e9 && s.quantile(1) == 1e12)
    }

    @Test("one 1e300 among 1e5 lognormal values: small memory, quantiles intact")
    func absurdOutlier() {
        var values = DataSets.lognormal(100_000, seed: 41)
        values.insert(1e300, at: 50_000)
        let s = Sketch(values)
        #expect(s.memoryBytes < 20 * 1024, "memoryBytes \(s.memoryBytes)")
        #expect(s.max == 1e300)
        #expect(s.count == 100_001)
        let middle = (1...99).map { Double($0) / 100 }
        let bad = accuracyViolations(s, values, qs: middle + [0])
        #expect(bad.isEmpty, "\(bad.prefix(5))")
        #expect(s.quantile(1) == 1e300)
        // The outlier costs one page, not a dense run of empty bins.
        #expect(s.positive.pageCount <= Sketch(Array(values[..<50_000] + values[50_001...])).positive.pageCount + 1)
        let tiny = Sketch(DataSets.lognormal(100_000, seed: 41) + [1e-300])
        #expect(tiny.memoryBytes < 20 * 1024)
        #expect(accuracyViolations(tiny, DataSets.lognormal(100_000, seed: 41) + [1e-300], qs: middle).isEmpty)
    }

    /// Values covering 1e-300...1e300 need ~70,000 bins, far more than `BinStore.maxPages · 64`
    /// = 4,096: the store folds instead of growing, and only folded quantiles lose accuracy.
    @Test("values spanning 1e-300...1e300: bounded memory, exact count/sum/min/max")
    func pageCap() throws {
        var values: [Double] = []
        var rng = SplitMix64(seed: 51)
        for d in -300..<300 {
            let base = Double("1e\(d)")!
            for _ in 0..<8 { values.append(base * rng.uniform(1, 10)) }
        }
        values += values.prefix(2000).map { -$0 }  // the negative side too
        values += [0, -0.0]
        var shuffleRng = SplitMix64(seed: 52)
        values.shuffle(using: &shuffleRng)

        var s = Sketch()
        var sum = 0.0
        for v in values {
            do { let ok = s.add(v); #expect(ok) }
            sum += v
        }
        #expect(s.memoryBytes < 40 * 1024, "memoryBytes \(s.memoryBytes)")
        #expect(s.positive.pageCount <= BinStore.maxPages)
        #expect(s.negative.pageCount <= BinStore.maxPages)
        #expect(s.count == UInt64(values.count))
        #expect(s.sum == sum)
        #expect(s.min == values.min() && s.max == values.max())
        #expect(s.zeroCount == 2)
        var binned: UInt64 = s.zeroCount
        s.positive.forEachBin { _, c in binned += c }
        s.negative.forEachBin { _, c in binned += c }
        #expect(binned == s.count)

        // Quantiles still answer, in order, within [min, max].
        let answers = s.quantiles(checkedQuantiles).map { $0! }
        for (a, b) in zip(answers, answers.dropFirst()) { #expect(a <= b) }
        #expect(answers.first! >= s.min && answers.last! <= s.max)

        // It encodes, decodes and merges without growing past the cap.
        let back = try Sketch(decoding: s.encoded())
        #expect(back.count == s.count && back.sum == s.sum)
        var doubled = s
        doubled.merge(back)
        #expect(doubled.count == 2 * s.count)
        #expect(doubled.memoryBytes < 40 * 1024)
    }

    /// Every finite magnitude has the same 1 % guarantee, not just the ones near nanosecond
    /// timings: lognormal data centred on 1e200 or 1e-200 must be answered as well as on 5e7.
    @Test("quantiles of very large and very small magnitudes are within 1 %", arguments: [
        1e-300, 1e-200, 1e-160, 1e-100, 1e100, 1e155, 1e200, 1e300,
    ])
    func extremeMagnitudes(_ median: Double) {
        var rng = SplitMix64(seed: 91)
        let values = (0..<2000).map { _ in rng.lognormal(median: median, sigma: 0.5) }
        let s = Sketch(values)
        let bad = accuracyViolations(s, values)
        #expect(bad.isEmpty, "median \(median): \(bad.count) quantiles off, e.g. \(bad.prefix(3))")
        let negative = Sketch(values.map { -$0 })
        let badNegative = accuracyViolations(negative, values.map { -$0 })
        #expect(badNegative.isEmpty, "median -\(median): \(badNegative.count) quantiles off, e.g. \(badNegative.prefix(3))")
    }

    @Test("memory of a sketch of 2e5 lognormal timings is within the 1e6 figure", .tags(.figures))
    func memoryOfTypicalSketch() {
        var rng = SplitMix64(seed: 61)
        var s = Sketch()
        for _ in 0..<200_000 { s.add(rng.lognormal(median: 5e7, sigma: 1).rounded()) }
        // DESIGN §8 `sketch.mem_bytes_1e6` ≤ 4,608 bytes; 2e5 values span nearly the same bins.
        #expect(s.memoryBytes <= 4608, "memoryBytes \(s.memoryBytes)")
    }

    @Test("values at the extremes of the finite range are recorded and answered")
    func extremes() {
        let values = [Double.leastNormalMagnitude, 1, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        var s = Sketch()
        for v in values { do { let ok = s.add(v); #expect(ok) } }
        #expect(s.count == 4)
        #expect(relativeError(s.quantile(0)!, -.greatestFiniteMagnitude) <= accuracyBound)
        #expect(relativeError(s.quantile(1)!, .greatestFiniteMagnitude) <= accuracyBound)
        #expect(relativeError(s.quantile(0.34)!, .leastNormalMagnitude) <= accuracyBound)
        for q in checkedQuantiles { #expect(s.quantile(q)!.isFinite) }
        // The sum follows IEEE arithmetic in insertion order: 1 + max - max.
        #expect(s.sum == 0)
    }
}

extension Tag {
    @Tag static var figures: Self
}
