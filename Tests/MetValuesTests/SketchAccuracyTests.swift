// Accuracy of Sketch quantiles against exact sorted values (DESIGN §3 "Values": 1 % relative
// error), plus exact count, sum, min and max.
import Testing
@testable import MetValues

@Suite("Sketch accuracy")
struct SketchAccuracyTests {
    enum Distribution: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case lognormal, pareto, uniform, constant, mixedSigns

        var testDescription: String { rawValue }

        /// 2e5 values per set: large enough for the tails to matter, quick in debug builds.
        func values() -> [Double] {
            let n = 200_000
            switch self {
            case .lognormal: return DataSets.lognormal(n)
            case .pareto: return DataSets.pareto(n)
            case .uniform: return DataSets.uniform(n)
            case .constant: return DataSets.constant(n)
            case .mixedSigns: return DataSets.mixedSigns(n)
            }
        }
    }

    @Test("quantiles within 1 %, count/sum/min/max exact", arguments: Distribution.allCases)
    func accuracy(_ distribution: Distribution) {
        let values = distribution.values()
        var s = Sketch()
        for v in values { do { let ok = s.add(v); #expect(ok) } }

        let bad = accuracyViolations(s, values)
        #expect(bad.isEmpty, "\(distribution): \(bad.count) quantiles off: \(bad.prefix(5))")

        #expect(s.count == UInt64(values.count))
        #expect(s.sum == exactIntegerSum(values))
        #expect(s.min == values.min())
        #expect(s.max == values.max())
        #expect(s.mean == exactIntegerSum(values) / Double(values.count))
    }

    @Test("quantiles are monotonic in q", arguments: Distribution.allCases)
    func monotonicQuantiles(_ distribution: Distribution) {
        let s = Sketch(distribution.values())
        let answers = s.quantiles(checkedQuantiles).map { $0! }
        for (a, b) in zip(answers, answers.dropFirst()) { #expect(a <= b) }
        #expect(answers.first! >= s.min)
        #expect(answers.last! <= s.max)
    }

    @Test("the same values in another order give the identical sketch")
    func orderIndependent() {
        let values = DataSets.mixedSigns(50_000, seed: 99)
        var rng = SplitMix64(seed: 7)
        let shuffled = values.shuffled(using: &rng)
        let a = Sketch(values)
        let b = Sketch(shuffled)
        #expect(a.count == b.count)
        #expect(a.sum == b.sum)  // integers below 2^53: exact in any order
        #expect(a == b)
        #expect(a.encoded() == b.encoded())
    }

    @Test("add(_:count:) equals repeated add")
    func addWithCount() {
        var a = Sketch()
        var b = Sketch()
        let pairs: [(Double, UInt64)] = [(5e7, 1000), (-3, 7), (0, 12), (1e-9, 3), (123_456, 1)]
        for (v, n) in pairs {
            do { let ok = a.add(v, count: n); #expect(ok) }
            for _ in 0..<n { b.add(v) }
        }
        #expect(a == b)
        #expect(a.count == 1023)
        do { let ok = a.add(7, count: 0); #expect(ok) }  // finite, nothing recorded
        do { let ok = a.add(.nan, count: 0); #expect(!ok) }
        do { let ok = a.add(.infinity, count: 5); #expect(!ok) }
        #expect(a.count == 1023)
    }

    @Test("tiny sketches answer exactly")
    func tinySketches() {
        #expect(Sketch().quantile(0.5) == nil)
        #expect(Sketch().mean == nil)
        #expect(Sketch().isEmpty)
        // A single value is also the min and max, and quantiles are clamped to them.
        let one = Sketch([1234.5])
        for q in checkedQuantiles { #expect(one.quantile(q) == 1234.5) }
        let two = Sketch([10, 1e9])
        #expect(relativeError(two.quantile(0)!, 10) <= accuracyBound)
        #expect(relativeError(two.quantile(1)!, 1e9) <= accuracyBound)
        #expect(two.quantile(.nan) == nil)
        // Out-of-range q is clamped.
        #expect(two.quantile(-1) == two.quantile(0))
        #expect(two.quantile(2) == two.quantile(1))
    }

    @Test("reset empties the sketch and keeps working")
    func resetAndRefill() {
        var s = Sketch(DataSets.lognormal(10_000))
        s.reset()
        #expect(s.isEmpty)
        #expect(s == Sketch())
        #expect(s.quantile(0.5) == nil)
        let values = DataSets.pareto(10_000, seed: 77)
        for v in values { s.add(v) }
        #expect(s == Sketch(values))
        #expect(accuracyViolations(s, values).isEmpty)
    }
}
