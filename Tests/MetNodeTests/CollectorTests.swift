import MetNode
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
}
