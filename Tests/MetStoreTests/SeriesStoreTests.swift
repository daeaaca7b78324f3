import MetStore
import MetValues
import Testing

@Suite struct SeriesStoreTests {
    let now: Int64 = 1_800_000_000

    @Test func appliesBatchesInOrderExactlyOnce() throws {
        let store = SeriesStore()
        let b1 = DeltaBatch(origin: nodeA, seq: 1, timestamp: now, entries: [.init(series: "inserted", labels: labels("q1"), value: .count(3))])
        var b2 = b1
        b2.seq = 2
        var b4 = b1
        b4.seq = 4
        #expect(store.apply(b1, now: now) == .applied(entries: 1, rejected: 0))
        #expect(store.apply(b1, now: now) == .duplicate)
        #expect(store.apply(b4, now: now) == .gap(expected: 2))
        #expect(store.apply(b2, now: now) == .applied(entries: 1, rejected: 0))
        #expect(try store.latest(Selection(series: "inserted", lookback: 60), now: now) == ["all": 6])
        #expect(store.watermark(of: nodeA) == 2)
    }

    @Test func refusesWrongKindAndOutOfRangeTimes() {
        let store = SeriesStore()
        let wrongKind = DeltaBatch(origin: nodeA, seq: 1, timestamp: now, entries: [.init(series: "inserted", labels: labels("q"), value: .gauge(Gauge(1)))])
        #expect(store.apply(wrongKind, now: now) == .applied(entries: 0, rejected: 1))
        let tooOld = DeltaBatch(origin: nodeA, seq: 2, timestamp: now - 20_000, entries: [.init(series: "inserted", labels: labels("q"), value: .count(1))])
        #expect(store.apply(tooOld, now: now) == .applied(entries: 0, rejected: 1))
        let future = DeltaBatch(origin: nodeA, seq: 3, timestamp: now + 7200, entries: [.init(series: "inserted", labels: labels("q"), value: .count(1))])
        #expect(store.apply(future, now: now) == .applied(entries: 0, rejected: 1))
        #expect(store.pointCount == 0)
    }

    @Test func compactionPreservesTotalsAndBuildsTiers() throws {
        let store = SeriesStore()
        var rng = SeededRandom(seed: 1)
        let start = now - 9000
        for (i, ts) in stride(from: start, through: now, by: 3).enumerated() {
            store.apply(mixedBatch(nodeA, seq: UInt64(i + 1), ts: ts, queues: ["q1", "q2"], rng: &rng), now: now)
        }
        let sel = Selection(series: "inserted", lookback: 9300)
        let totalBefore = try store.latest(sel, now: now)["all"]
        let sketchSel = Selection(series: "exec_time", lookback: 9300)
        let countBefore = try store.latest(sketchSel, op: .count, now: now)["all"]
        let p99Before = try #require(try store.latest(sketchSel, op: .quantile(0.99), now: now)["all"])
        let pointsBefore = store.pointCount
        let stats = store.compact(now: now)
        #expect(stats.pointsAfter < stats.pointsBefore)
        #expect(store.pointCount < pointsBefore)
        #expect(try store.latest(sel, now: now)["all"] == totalBefore)
        #expect(try store.latest(sketchSel, op: .count, now: now)["all"] == countBefore)
        // Merging sketches is exact, so quantiles do not move at all.
        #expect(try store.latest(sketchSel, op: .quantile(0.99), now: now)["all"] == p99Before)
        // A second pass has nothing to do.
        #expect(store.compact(now: now).timelinesChanged == 0)
        // Buckets are aligned to their step.
        let rows = try store.timeslice(Selection(series: "inserted", lookback: 9300), by: 60, now: now)
        #expect(rows.allSatisfy { $0.ts % 60 == 0 })
    }

    @Test func expiredPointsAreDropped() throws {
        let tiers = try CompactionTiers([(1, 10), (5, 60)])
        let store = SeriesStore(tiers: tiers)
        store.apply(DeltaBatch(origin: nodeA, seq: 1, timestamp: now, entries: [.init(series: "inserted", labels: labels("q"), value: .count(1))]), now: now)
        store.compact(now: now + 200)
        #expect(store.pointCount == 0)
    }

    @Test func groupedResultsListEveryState() throws {
        let store = SeriesStore()
        store.apply(DeltaBatch(origin: nodeA, seq: 1, timestamp: now, entries: [.init(series: "inserted", labels: labels("q", "W", "available"), value: .count(2))]), now: now)
        let latest = try store.latest(Selection(series: "inserted", lookback: 60, group: "state"), now: now)
        #expect(latest.count == JobState.allCases.count)
        #expect(latest["available"] == 2)
        #expect(latest["completed"] == 0)
    }

    @Test func filtersSelectSeveralValuesAndLabels() throws {
        let store = SeriesStore()
        var entries: [DeltaBatch.Entry] = []
        for (i, q) in ["q1", "q2", "q3"].enumerated() {
            for w in ["A", "B"] {
                entries.append(.init(series: "inserted", labels: labels(q, w), value: .count(Int64(10 * (i + 1)))))
            }
        }
        store.apply(DeltaBatch(origin: nodeA, seq: 1, timestamp: now, entries: entries), now: now)
        let two = try store.latest(Selection(series: "inserted", lookback: 60, group: "queue", filters: [LabelFilter("queue", ["q1", "q3"])]), now: now)
        #expect(two == ["q1": 20, "q3": 60])
        let both = try store.latest(Selection(series: "inserted", lookback: 60, filters: [LabelFilter("queue", ["q2"]), LabelFilter("worker", ["B"])]), now: now)
        #expect(both == ["all": 20])
    }

    @Test func queryErrorsAreReported() {
        let store = SeriesStore()
        #expect(throws: QueryError.unknownSeries("nope")) { try store.latest(Selection(series: "nope"), now: now) }
        #expect(throws: QueryError.invalidOperation(op: "p99", kind: .count)) {
            try store.timeslice(Selection(series: "inserted"), op: .quantile(0.99), now: now)
        }
        #expect(throws: QueryError.self) { try store.timeslice(Selection(series: "inserted"), by: 0, now: now) }
        #expect(throws: QueryError.self) { try store.timeslice(Selection(series: "inserted", lookback: -5), now: now) }
    }

    @Test func gaugesTakeLastAcrossTimeAndSumAcrossLabels() throws {
        let store = SeriesStore()
        let levels: [Double] = [3, 7, 2]
        for (i, v) in levels.enumerated() {
            store.apply(DeltaBatch(origin: nodeA, seq: UInt64(i + 1), timestamp: now - 2 + Int64(i), entries: [
                .init(series: "executing", labels: labels("q1"), value: .gauge(Gauge(v))),
                .init(series: "executing", labels: labels("q2"), value: .gauge(Gauge(1))),
            ]), now: now)
        }
        #expect(try store.latest(Selection(series: "executing", lookback: 10), now: now) == ["all": 3])
        let rows = try store.timeslice(Selection(series: "executing", lookback: 60, group: "queue"), by: 60, op: .max, now: now)
        #expect(rows.first { $0.label == "q1" }?.value == 7)
    }
}
