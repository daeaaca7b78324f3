import Histogram
import MetValues

/// `sketch.*` figures (DESIGN §8), with hdrhistogram-swift measured in the same run as the peer.
enum SketchBench {
    static let n = 1_000_000

    static func lognormalValues(seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in rng.lognormal() }
    }

    static func paretoValues(seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in rng.pareto() }
    }

    static func hdr() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .two)
    }

    /// Worst relative error over p01...p99 against the exact value at rank ⌊q·(n−1)⌋.
    static func worstError(_ values: [Double], quantile: (Double) -> Double) -> Double {
        let sorted = values.sorted()
        var worst = 0.0
        for p in 1...99 {
            let q = Double(p) / 100
            let exact = sorted[Int((q * Double(sorted.count - 1)).rounded(.down))]
            worst = max(worst, abs(quantile(q) - exact) / exact)
        }
        return worst
    }

    static func maxRelError() {
        var worst = 0.0
        var hdrWorst = 0.0
        for values in [lognormalValues(seed: 1), paretoValues(seed: 2)] {
            let s = Sketch(values)
            worst = max(worst, worstError(values) { s.quantile($0)! })
            var h = hdr()
            for v in values { _ = h.record(UInt64(v)) }
            hdrWorst = max(hdrWorst, worstError(values) { Double(h.valueAtPercentile($0 * 100)) })
        }
        report("sketch.max_rel_error_pct", worst * 100, "%", peer: hdrWorst * 100,
               note: "1e6 lognormal(median 5e7 ns, sigma 1) and 1e6 pareto(1.5, 1e5); peer hdrhistogram 2 digits")
    }

    static func addSpeed() {
        let values = lognormalValues(seed: 3)
        var s = Sketch(values)  // warm: pages exist, as in steady state
        let ns = bestNsPerOp(ops: values.count * 4) {
            for _ in 0..<4 { for v in values { s.add(v) } }
        }
        blackHole(s.count)
        let ints = values.map { UInt64($0) }
        var h = hdr()
        for v in ints { _ = h.record(v) }
        let peer = bestNsPerOp(ops: ints.count * 4) {
            for _ in 0..<4 { for v in ints { _ = h.record(v) } }
        }
        blackHole(h.totalCount)
        report("sketch.add_ns", ns, "ns", peer: peer, note: "peer hdrhistogram-swift record")
    }

    static func mergeSpeed() {
        let a = Sketch(lognormalValues(seed: 4))
        let b = Sketch(lognormalValues(seed: 5))
        // Merge b into a copy of a, again and again; the copy is renewed every 1,000 merges so
        // that it keeps the size of "two sketches of 1e6 values" (its copy is amortised).
        var acc = a
        let rounds = 20_000
        let ns = bestNsPerOp(ops: rounds) {
            for r in 0..<rounds {
                if r % 1000 == 0 { acc = a }
                acc.merge(b)
            }
        }
        blackHole(acc.count)
        var ha = hdr()
        var hb = hdr()
        for v in lognormalValues(seed: 4) { _ = ha.record(UInt64(v)) }
        for v in lognormalValues(seed: 5) { _ = hb.record(UInt64(v)) }
        let peerRounds = 2_000
        let peer = bestNsPerOp(ops: peerRounds) {
            for _ in 0..<peerRounds { ha.add(hb) }
        }
        blackHole(ha.totalCount)
        report("sketch.merge_ns", ns, "ns", peer: peer, note: "two sketches of 1e6 lognormal values; peer hdrhistogram add")
    }

    static func size() {
        let values = lognormalValues(seed: 6)
        let s = Sketch(values)
        var h = hdr()
        for v in values { _ = h.record(UInt64(v)) }
        report("sketch.mem_bytes_1e6", Double(s.memoryBytes), "B", peer: Double(h.estimatedFootprintInBytes),
               note: "\(s.binCount) bins; peer hdrhistogram 2 digits")
        report("sketch.encoded_bytes_1e6", Double(s.encoded().count), "B")
    }
}
