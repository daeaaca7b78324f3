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
}
