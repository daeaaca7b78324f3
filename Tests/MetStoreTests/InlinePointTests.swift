@testable import MetStore
import MetValues
import Testing

/// A timeline of one point that fits (a count, a sketch of a few values) holds it inline and
/// allocates nothing; a second point moves it to columns, and a change that leaves one point
/// brings it back. A burst of 100,000 new label sets is 300,000 such timelines.
@Suite struct InlinePointTests {
    static let t0: Int64 = 1_000_000

    static func inline(_ t: Timeline) -> Bool {
        if case .one = t.storage { true } else { false }
    }

    @Test func aTimelineIsNoBiggerThanBefore() {
        #expect(MemoryLayout<Timeline>.stride == 48)
    }

    @Test func oneCountIsInlineUntilASecondPoint() {
        var t = Timeline(kind: .count)
        t.add(.count(5), ts: Self.t0, step: 1, seq: 1)
        #expect(Self.inline(t) && t.heapBytes == 0 && t.countValue(0) == 5)
        // Folded into the same bucket: still inline, the newer batch kept.
        t.add(.count(-7), ts: Self.t0, step: 1, seq: 3)
        #expect(Self.inline(t) && t.countValue(0) == -2 && t.header(0).seq == 3)
        // An origin's batch already folded in is skipped.
        #expect(t.add(.count(100), ts: Self.t0, step: 1, seq: 2, skipIncluded: true) == nil)
        #expect(t.countValue(0) == -2)
        t.add(.count(1), ts: Self.t0 + 1, step: 1, seq: 4)
        #expect(!Self.inline(t) && t.count == 2 && t.heapBytes > 0)
        #expect((0..<2).map { t.countValue($0) } == [-2, 1] && t.maxSeq(0..<2) == 4)
        // Compacted into one point: inline again, nothing held.
        let tiers = try! CompactionTiers([(1, 10), (10, 1000)])
        var scratch = Sketch()
        _ = SeriesStore.compact(&t, tiers: tiers, now: Self.t0 + 100, scratch: &scratch)
        #expect(Self.inline(t) && t.countValue(0) == -1 && t.header(0).step == 10 && t.header(0).seq == 4)
    }

    @Test func aOneValueSketchIsInlineAndReadsLikeColumns() {
        var t = Timeline(kind: .sketch)
        t.add(StoredValue(.sketch(Sketch([0.25]))), ts: Self.t0, step: 1, seq: 1)
        #expect(Self.inline(t) && t.sketchByteCount == 10)
        var s = Sketch()
        t.mergeSketch(0, into: &s)
        #expect(s.count == 1 && s.sum == 0.25)
        var w = ByteWriter()
        #expect(t.encodeMergedSketches(0..<1, into: &w))
        #expect(w.bytes == Sketch([0.25]).encoded())
        // A record round-trips through columns and back.
        var copy = Timeline(kind: .sketch)
        copy.rebuild([t.record(0)])
        #expect(Self.inline(copy) && Array(copy.sketchBytes(0)) == Sketch([0.25]).encoded())
    }

    @Test func whatDoesNotFitStaysInColumns() {
        var gauge = Timeline(kind: .gauge)
        gauge.add(.gauge(Gauge(3)), ts: Self.t0, step: 1, seq: 1)
        #expect(!Self.inline(gauge) && gauge.gaugeValue(0).last == 3)
        var wide = Timeline(kind: .sketch)
        let values = (1...40).map { Double($0) * 1.7 }
        wide.add(StoredValue(.sketch(Sketch(values))), ts: Self.t0, step: 1, seq: 1)
        #expect(Sketch(values).encoded().count > InlinePoint.capacity)
        #expect(!Self.inline(wide) && wide.count == 1)
        var s = Sketch()
        wide.mergeSketch(0, into: &s)
        #expect(s.count == 40)
    }

    @Test func aSnapshotPlanCountsAnInlinePointAsItsColumnsWould() {
        var t = Timeline(kind: .count)
        t.add(.count(1), ts: Self.t0, step: 1, seq: 1)
        #expect(t.heapBytes == 0 && t.planBytes >= 80)
    }
}
