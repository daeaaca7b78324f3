// Merge laws of Sketch (DESIGN §3: merging is commutative and associative, and replicas that saw
// the same inputs hold the same state whatever the order). Values are integers, so every sum is
// exact whatever the grouping and `==` can compare sums too.
import PropertyBased
import Testing
@testable import MetValues

@Suite("Sketch merge")
struct SketchMergeTests {
    /// Integer-valued doubles of both signs over twelve decades, with zeros: `m · 10^e`.
    static let value = zip(Gen.int(in: -999...999), Gen.int(in: 0...9)).map { (m: Int, e: Int) -> Double in
        var v = Double(m)
        for _ in 0..<e { v *= 10 }
        return v
    }
    static let list = value.array(of: 0...150)

    static func merged(_ a: Sketch, _ b: Sketch) -> Sketch {
        var r = a
        r.merge(b)
        return r
    }

    @Test("merge is commutative")
    func commutative() async {
        await propertyCheck(count: 200, input: Self.list, Self.list) { a, b in
            let (sa, sb) = (Sketch(a), Sketch(b))
            #expect(Self.merged(sa, sb) == Self.merged(sb, sa))
        }
    }

    @Test("merge is associative")
    func associative() async {
        await propertyCheck(count: 200, input: Self.list, Self.list, Self.list) { a, b, c in
            let (sa, sb, sc) = (Sketch(a), Sketch(b), Sketch(c))
            let left = Self.merged(Self.merged(sa, sb), sc)
            let right = Self.merged(sa, Self.merged(sb, sc))
            #expect(left == right)
        }
    }

    @Test("merging equals adding every value to one sketch")
    func mergeEqualsAddAll() async {
        await propertyCheck(count: 200, input: Self.list, Self.list) { a, b in
            let expected = Sketch(a + b)
            let m = Self.merged(Sketch(a), Sketch(b))
            #expect(m == expected)
            #expect(m.count == UInt64(a.count + b.count))
            #expect(m.sum == exactIntegerSum(a + b))
            #expect(m.encoded() == expected.encoded())
        }
    }

    @Test("the empty sketch is the identity of merge")
    func emptyIsIdentity() async {
        await propertyCheck(count: 100, input: Self.list) { a in
            let s = Sketch(a)
            #expect(Self.merged(s, Sketch()) == s)
            #expect(Self.merged(Sketch(), s) == s)
            // A reset sketch keeps its pages but holds nothing: still the identity.
            var emptied = Sketch(DataSets.lognormal(100))
            emptied.reset()
            #expect(Self.merged(s, emptied) == s)
            #expect(Self.merged(emptied, s) == s)
        }
    }

    @Test("merge(from:) of the encoding equals merge")
    func mergeFromBytes() async throws {
        await propertyCheck(count: 100, input: Self.list, Self.list) { a, b in
            var viaBytes = Sketch(a)
            let bytes = Sketch(b).encoded()
            bytes.withUnsafeBytes { raw in
                var r = ByteReader(raw)
                #expect(throws: Never.self) { try viaBytes.merge(from: &r) }
                #expect(r.isAtEnd)
            }
            #expect(viaBytes == Self.merged(Sketch(a), Sketch(b)))
        }
    }

    // MARK: Explicit cases

    @Test("large data sets: commutative, associative, equal to adding all")
    func largeSets() {
        let a = DataSets.lognormal(30_000, seed: 21)
        let b = DataSets.pareto(30_000, seed: 22)
        let c = DataSets.mixedSigns(30_000, seed: 23)
        let (sa, sb, sc) = (Sketch(a), Sketch(b), Sketch(c))
        #expect(Self.merged(sa, sb) == Self.merged(sb, sa))
        #expect(Self.merged(Self.merged(sa, sb), sc) == Self.merged(sa, Self.merged(sb, sc)))
        let all = Self.merged(Self.merged(sa, sb), sc)
        #expect(all == Sketch(a + b + c))
        #expect(accuracyViolations(all, a + b + c).isEmpty)
    }

    @Test("disjoint pages, negatives only, zeros only")
    func edgeShapes() {
        let cases: [([Double], [Double])] = [
            ([1, 2, 3], [1e12, 2e12]),  // no shared page
            ([-5, -6], [7, 8]),  // one side negative only
            ([0, 0, 0], [-0.0, Double.leastNonzeroMagnitude]),  // zero bin only (5e-324 is subnormal)
            ([], [1]),
            ([1e-300], [1e300]),
        ]
        for (a, b) in cases {
            let m = Self.merged(Sketch(a), Sketch(b))
            #expect(m == Self.merged(Sketch(b), Sketch(a)), "\(a) ∪ \(b)")
            #expect(m.count == UInt64(a.count + b.count))
            #expect(m.binCount == Sketch(a + b).binCount)
        }
    }

    @Test("merge carries bin counts past 2^32 without wrapping")
    func mergeCarries() {
        var a = Sketch()
        a.add(1000, count: UInt64(UInt32.max))
        var b = Sketch()
        b.add(1000, count: 2)
        b.add(1, count: 1)
        let m = Self.merged(a, b)
        let bin = IndexMapping.index(of: 1000)
        #expect(m.positive.count(at: bin) == UInt64(UInt32.max) + 2)
        #expect(m.count == UInt64(UInt32.max) + 3)
        #expect(m == Self.merged(b, a))
        var direct = Sketch()
        direct.add(1000, count: UInt64(UInt32.max) + 2)
        direct.add(1)
        #expect(m == direct)
        // The median is 1000, not the wrapped remainder.
        #expect(m.quantile(0.5) == IndexMapping.representative(bin))
    }

    @Test("merging a sketch with itself doubles every count exactly")
    func doubling() {
        let s = Sketch(DataSets.lognormal(5000, seed: 5))
        let twice = Self.merged(s, s)
        #expect(twice.count == 2 * s.count)
        #expect(twice.sum == 2 * s.sum)
        #expect(twice.quantile(0.5) == s.quantile(0.5))
        s.positive.forEachBin { bin, c in #expect(twice.positive.count(at: bin) == 2 * c) }
    }

    /// Values dense over [10^from, 10^to]: enough to touch every page of that span.
    static func decades(from: Int, to: Int, perDecade: Int = 400) -> [Double] {
        var values: [Double] = []
        for d in from..<to {
            let base = Double("1e\(d)")!
            for k in 0..<perDecade { values.append(base * (1 + 9 * Double(k) / Double(perDecade))) }
        }
        return values
    }

    /// Beyond `BinStore.maxPages` pages the store folds values into existing pages, and which
    /// pages exist depends on which sketch was merged into which. DESIGN §3 asks that replicas
    /// that saw the same inputs hold the same state whatever the order, so this must still hold.
    @Test("merge stays commutative past the page cap")
    func commutativePastPageCap() {
        // Each side needs ~55 pages (30 decades ≈ 3,500 bins); together they exceed 64.
        let a = Sketch(Self.decades(from: -150, to: -120))
        let b = Sketch(Self.decades(from: 120, to: 150))
        #expect(a.positive.pageCount <= BinStore.maxPages)
        #expect(b.positive.pageCount <= BinStore.maxPages)
        let ab = Self.merged(a, b)
        let ba = Self.merged(b, a)
        #expect(ab.count == ba.count)
        #expect(ab.min == ba.min && ab.max == ba.max)
        let same = ab == ba
        #expect(same, "merge(a, b) and merge(b, a) hold different bins once the page cap folds values")
        #expect(ab.quantile(0.5) == ba.quantile(0.5))
        // Adding the same values in two orders must agree too.
        let forward = Sketch(Self.decades(from: -150, to: -120) + Self.decades(from: 120, to: 150))
        let backward = Sketch(Self.decades(from: 120, to: 150) + Self.decades(from: -150, to: -120))
        let sameOrder = forward == backward
        #expect(sameOrder, "insertion order changes the bins once the page cap folds values")
    }
}
