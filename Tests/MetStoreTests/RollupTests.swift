import MetStore
import MetValues
import Testing

/// Rollups are derived state: a store that keeps them must answer exactly like one that scans.
@Suite struct RollupTests {
    let now: Int64 = 1_800_000_000

    func batches(seed: UInt64, origins: [Origin], span: Int64, every: Int64) -> [DeltaBatch] {
        var rng = SeededRandom(seed: seed)
        var out: [DeltaBatch] = []
        for origin in origins {
            for (i, ts) in stride(from: now - span, through: now, by: Int(every)).enumerated() {
                out.append(mixedBatch(origin, seq: UInt64(i + 1), ts: ts, queues: ["q1", "q2", "q3", "q4"], rng: &rng))
            }
        }
        return out
    }

    @Test func rollupsAnswerLikeAScanThroughDeltasCompactionAndMerges() throws {
        let withRollups = SeriesStore(rollupThreshold: 1)
        let scanning = SeriesStore(rollupThreshold: .max)
        let all = batches(seed: 5, origins: [nodeA, nodeB], span: 4000, every: 3)
        // A third replica that is behind and compacted at another time, merged in later.
        let behind = SeriesStore(rollupThreshold: .max)
        for b in all where b.seq % 1000 < 600 { behind.apply(b, now: now - 500) }
        behind.compact(now: now - 500)
        for b in all where b.seq % 1000 < 600 {
            withRollups.apply(b, now: now - 500)
            scanning.apply(b, now: now - 500)
        }
        // Build the rollups now (the whole series', and those of each key grouped by), so that
        // the deltas, compactions and merges below have to keep them right.
        for group in [nil, "queue", "node", "worker"] as [String?] {
            for series in ["inserted", "exec_time"] {
                _ = try withRollups.timeslice(Selection(series: series, lookback: 9300, group: group), by: 60, now: now - 500)
            }
        }
        withRollups.compact(now: now - 200)
        scanning.compact(now: now - 200)
        for b in all where b.seq % 1000 >= 600 {
            withRollups.apply(b, now: now)
            scanning.apply(b, now: now)
        }
        let full = SeriesStore(rollupThreshold: .max)
        for b in all { full.apply(b, now: now) }
        // Merging a lagging replica (replacing nothing) and a complete one (replacing much).
        try withRollups.merge(behind.snapshot(), now: now)
        try scanning.merge(behind.snapshot(), now: now)
        try withRollups.merge(full.snapshot(), now: now)
        try scanning.merge(full.snapshot(), now: now)
        withRollups.compact(now: now)
        scanning.compact(now: now)
        for group in [nil, "queue", "node", "worker"] as [String?] {
            for series in ["inserted", "exec_time"] {
                let sel = Selection(series: series, lookback: 9300, group: group)
                let ops: [QueryOp] = series == "inserted" ? [.sum, .max] : [.quantile(0.99), .quantile(0.5), .count, .sum, .max]
                for op in ops {
                    let a = try withRollups.timeslice(sel, by: 60, op: op, now: now)
                    let b = try scanning.timeslice(sel, by: 60, op: op, now: now)
                    #expect(a == b, "\(series) by \(group ?? "-") op \(op)")
                }
                if series == "exec_time" {
                    #expect(try withRollups.summary(sel, by: 300, now: now) == scanning.summary(sel, by: 300, now: now))
                }
            }
        }
        let filtered = Selection(series: "exec_time", lookback: 9300, group: "queue", filters: [LabelFilter("queue", ["q2", "q4"])])
        let rows = try withRollups.timeslice(filtered, by: 60, now: now)
        #expect(!rows.isEmpty)
        #expect(Set(rows.map(\.label)) == ["q2", "q4"])
        #expect(rows == (try scanning.timeslice(filtered, by: 60, now: now)))
    }

    @Test("a label with more values than rollups are kept for is grouped by scanning, with the same answers")
    func aLabelWithTooManyValuesScans() throws {
        let withRollups = SeriesStore(rollupThreshold: 1)
        let scanning = SeriesStore(rollupThreshold: .max)
        let queues = SeriesStore.maxRollupValuesPerLabel + 100
        var rng = SeededRandom(seed: 9)
        for round in 0..<3 {
            var entries: [DeltaBatch.Entry] = []
            for q in 0..<queues where (q + round) % 2 == 0 {
                var sketch = Sketch()
                sketch.add(Double(rng.next() % 1_000_000 + 1))
                let l = labels("tenant-\(q)", "W\(q % 3)")
                entries.append(.init(series: "exec_time", labels: l, value: .sketch(sketch)))
                entries.append(.init(series: "inserted", labels: l, value: .count(Int64(q % 7 + 1))))
            }
            let batch = DeltaBatch(origin: nodeA, seq: UInt64(round + 1), timestamp: now - 30 + Int64(round * 10), entries: entries)
            withRollups.apply(batch, now: now)
            scanning.apply(batch, now: now)
            for group in [nil, "queue", "worker"] as [String?] {
                for series in ["inserted", "exec_time"] {
                    let sel = Selection(series: series, lookback: 300, group: group)
                    #expect(try withRollups.timeslice(sel, by: 10, now: now) == scanning.timeslice(sel, by: 10, now: now), "\(series) by \(group ?? "-")")
                }
                let sel = Selection(series: "exec_time", lookback: 300, group: group)
                #expect(try withRollups.summary(sel, by: 60, now: now) == scanning.summary(sel, by: 60, now: now))
            }
        }
        #expect(withRollups.rollupKeys(series: "exec_time") == (built: ["worker"], overflow: ["queue"]))
    }
}
