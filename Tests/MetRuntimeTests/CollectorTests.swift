import MetRuntime
import MetStore
import Testing

/// The collector's ordering rules without a network: early batches wait, gaps are reported once.
@Suite struct CollectorTests {
    let origin = Origin(node: "a", incarnation: 1)
    let now: Int64 = 1_800_000_000

    func batch(_ seq: UInt64, _ n: Int64) -> DeltaBatch {
        DeltaBatch(origin: origin, seq: seq, timestamp: now, entries: [.init(series: "inserted", labels: LabelSet(["queue": "q"]), value: .count(n))])
    }

    func total(_ c: Collector) -> Double {
        c.withStore { (try? $0.latest(Selection(series: "inserted", lookback: 60), now: now)["all"]) ?? -1 }
    }

    @Test func earlyBatchesWaitForTheGapAndAreAppliedOnce() {
        let c = Collector()
        #expect(c.receive(batch(1, 1), now: now) == nil)
        #expect(c.receive(batch(4, 8), now: now) == .init(origin: origin, missing: 2...3))
        #expect(c.receive(batch(5, 16), now: now) == nil, "the same gap is reported once")
        #expect(total(c) == 1)
        #expect(c.receive(batch(3, 4), now: now) == nil)
        #expect(c.receive(batch(2, 2), now: now) == nil)
        #expect(total(c) == 31, "1 + 2 + 4 + 8 + 16, each once")
        #expect(c.receive(batch(4, 8), now: now) == nil, "a resent duplicate changes nothing")
        #expect(total(c) == 31)
        #expect(c.withStore { $0.watermark(of: origin) } == 5)
    }

    @Test func aGapIsReportedAgainAfterRetry() {
        let c = Collector()
        #expect(c.receive(batch(3, 1), now: now) == .init(origin: origin, missing: 1...2))
        #expect(c.receive(batch(4, 1), now: now) == nil)
        c.retryGaps()
        #expect(c.receive(batch(5, 1), now: now) == .init(origin: origin, missing: 1...2))
    }

    /// The origin's own replica answers a gap beyond its retransmit window with a per-origin
    /// snapshot: it carries that origin only, and the batches that waited apply on top, once.
    @Test func aPerOriginSnapshotFillsAGapBeyondTheWindowAndUnblocksEarlyBatches() throws {
        let other = Origin(node: "b", incarnation: 7)
        let source = Collector()
        for seq in 1...6 { source.receive(batch(UInt64(seq), Int64(seq)), now: now) }  // 21 in all
        source.receive(DeltaBatch(origin: other, seq: 1, timestamp: now, entries: [.init(series: "inserted", labels: LabelSet(["queue": "q"]), value: .count(100))]), now: now)
        let snapshot = source.withStore { $0.snapshot(of: origin, maxChunkBytes: 64) }

        let late = Collector()
        #expect(late.receive(batch(7, 7), now: now) == .init(origin: origin, missing: 1...6))
        #expect(late.receive(batch(8, 8), now: now) == nil)
        for chunk in snapshot.chunks { try late.merge(chunk: chunk, now: now) }
        try late.merge(watermarks: snapshot.watermarks, now: now)
        #expect(total(late) == 36, "1+…+6 from the snapshot, 7 and 8 from the batches that waited; nothing of b")
        #expect(late.withStore { $0.watermark(of: origin) } == 8)
        #expect(late.withStore { $0.watermark(of: other) } == 0)
        // The same snapshot again, and a resent batch, change nothing.
        try late.merge(snapshot, now: now)
        #expect(late.receive(batch(6, 6), now: now) == nil)
        #expect(total(late) == 36)
        #expect(late.receive(batch(9, 9), now: now) == nil)
        #expect(total(late) == 45)
    }
}
