@testable import MetStore
import MetValues
import Testing

/// A sketch timeline's layout: one point that fits is held inline (no allocation); otherwise
/// `ends` holds one end fewer than the points (the last one's is the arena's), so a one-point
/// timeline that does not fit has no `ends` allocation. Every way a timeline changes — appends,
/// a point inserted before newer ones, values folded into a point, finer points merged into a
/// coarser one, snapshot rebuilds, compaction — keeps each point's bytes.
@Suite struct TimelineLayoutTests {
    /// Checks the layout and that point `i` holds exactly `expected[i]`'s values.
    static func check(_ t: Timeline, _ expected: [(ts: Int64, values: [Double])], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(t.count == expected.count, sourceLocation: sourceLocation)
        var previous = 0
        switch t.storage {
        case .one(let p):
            #expect(t.heapBytes == 0, sourceLocation: sourceLocation)
            previous = p.sketchByteCount
        case .columns(let c):
            let fits = expected.count == 1 && Sketch(expected[0].values).encoded().count <= InlinePoint.capacity
            #expect(!fits, "one point of \(expected.first?.values.count ?? 0) value(s) should be inline", sourceLocation: sourceLocation)
            #expect(c.ends.count == Swift.max(0, t.count - 1), sourceLocation: sourceLocation)
            if t.count <= 1 { #expect(c.ends.capacity == 0, "no ends array for \(t.count) point(s)", sourceLocation: sourceLocation) }
            for i in 0..<t.count {
                let range = c.sketchRange(i)
                #expect(range.lowerBound == previous && range.upperBound <= c.arena.count, sourceLocation: sourceLocation)
                previous = range.upperBound
            }
            #expect(previous == c.arena.count, sourceLocation: sourceLocation)
        }
        #expect(previous == t.sketchByteCount, sourceLocation: sourceLocation)
        for (i, e) in expected.enumerated() where i < t.count {
            #expect(t.header(i).start == e.ts, sourceLocation: sourceLocation)
            var s = Sketch()
            t.mergeSketch(i, into: &s)
            #expect(s.count == UInt64(e.values.count) && s.sum == e.values.reduce(0, +), "point \(i)", sourceLocation: sourceLocation)
            #expect((try? Sketch(decoding: t.sketchBytes(i)))?.count == UInt64(e.values.count), sourceLocation: sourceLocation)
        }
    }

    static func value(_ values: [Double]) -> StoredValue { .sketch(Sketch(values).encoded()[...]) }

    @Test func onePointGrowsToManyAndBackAfterCompaction() {
        let tiers = try! CompactionTiers([(1, 10), (10, 100), (100, 1000)])
        let t0: Int64 = 1_000_000
        var t = Timeline(kind: .sketch)
        t.add(Self.value([1]), ts: t0, step: 1, seq: 1)
        Self.check(t, [(t0, [1])])
        // Folded into the one point: the last point's bytes change size, still no ends.
        t.add(Self.value([2, 3, 4]), ts: t0, step: 1, seq: 2)
        Self.check(t, [(t0, [1, 2, 3, 4])])
        // Appended, then one inserted before the newest, then folded into the middle one.
        t.add(Self.value([5]), ts: t0 + 4, step: 1, seq: 3)
        t.add(Self.value([6, 7]), ts: t0 + 2, step: 1, seq: 4)
        Self.check(t, [(t0, [1, 2, 3, 4]), (t0 + 2, [6, 7]), (t0 + 4, [5])])
        #expect(t.needsFullCompaction)
        t.add(Self.value([8]), ts: t0 + 2, step: 1, seq: 5)
        Self.check(t, [(t0, [1, 2, 3, 4]), (t0 + 2, [6, 7, 8]), (t0 + 4, [5])])
        // A coarser value over the first two points merges them (and itself) into one.
        t.add(Self.value([9]), ts: t0, step: 10, seq: 6)
        Self.check(t, [(t0, [1, 2, 3, 4, 6, 7, 8, 5, 9])])
        t.add(Self.value([10]), ts: t0 + 10, step: 1, seq: 7)
        t.add(Self.value([11]), ts: t0 + 11, step: 1, seq: 8)
        Self.check(t, [(t0, [1, 2, 3, 4, 6, 7, 8, 5, 9]), (t0 + 10, [10]), (t0 + 11, [11])])
        // A snapshot's rebuild keeps the layout, for one point and for many.
        var copy = Timeline(kind: .sketch)
        copy.rebuild((0..<t.count).map { t.record($0) })
        Self.check(copy, [(t0, [1, 2, 3, 4, 6, 7, 8, 5, 9]), (t0 + 10, [10]), (t0 + 11, [11])])
        copy.rebuild([t.record(2)])
        Self.check(copy, [(t0 + 11, [11])])
        // Compaction: the last two fold into one coarse point (a middle one kept first), then all
        // into one point of the coarsest tier, with no ends left.
        var scratch = Sketch()
        _ = SeriesStore.compact(&t, tiers: tiers, now: t0 + 10 + 100, scratch: &scratch)
        Self.check(t, [(t0, [1, 2, 3, 4, 6, 7, 8, 5, 9]), (t0 + 10, [10, 11])])
        _ = SeriesStore.compact(&t, tiers: tiers, now: t0 + 100 + 1000 - 1, scratch: &scratch)
        Self.check(t, [(t0, [1, 2, 3, 4, 6, 7, 8, 5, 9, 10, 11])])
        // And it grows again from there; expiry empties it.
        t.add(Self.value([12]), ts: t0 + 200, step: 1, seq: 9)
        Self.check(t, [(t0, [1, 2, 3, 4, 6, 7, 8, 5, 9, 10, 11]), (t0 + 200, [12])])
        _ = SeriesStore.compact(&t, tiers: tiers, now: t0 + 5000, scratch: &scratch)
        Self.check(t, [])
    }

    @Test func replacingRangesKeepsEveryPointsBytes() {
        let t0: Int64 = 2_000_000
        var t = Timeline(kind: .sketch)
        var model: [(ts: Int64, values: [Double])] = []
        for k in 0..<6 {
            let values = (0...k).map { Double($0 + 10 * k) }
            t.append(PointRecord(header: PointHeader(seq: 1, ts: UInt32(t0 + Int64(k)), step: 1), value: Self.value(values)))
            model.append((t0 + Int64(k), values))
        }
        Self.check(t, model)
        func record(_ e: (ts: Int64, values: [Double])) -> PointRecord {
            PointRecord(header: PointHeader(seq: 2, ts: UInt32(e.ts), step: 1), value: Self.value(e.values))
        }
        // Middle points replaced by more points, by fewer, removed; the tail, then everything.
        let steps: [(Range<Int>, [(ts: Int64, values: [Double])])] = [
            (2..<3, [(t0 + 2, [1, 2, 3, 4, 5, 6, 7])]),
            (1..<3, [(t0 + 1, [1])]),
            (1..<2, []),
            (3..<4, [(t0 + 5, [2, 2]), (t0 + 6, [3])]),
            (2..<5, [(t0 + 4, [4])]),
            (0..<1, []),
            (0..<2, [(t0 + 9, [9, 9, 9])]),
            (0..<1, []),
        ]
        for (range, records) in steps {
            t.replace(range, with: records.map(record))
            model.replaceSubrange(range, with: records)
            Self.check(t, model)
        }
    }
}
