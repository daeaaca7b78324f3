import MetStore
import MetValues

/// `cardinality.*` figures (issue 17): many label sets, each with one point.
enum CardinalityBench {
    static let now = Datasets.now

    /// 100,000 `job_stop`s, each of its own queue, as 20 batches of 5,000 of one origin: the
    /// `exec_time` timelines of a burst of new queue names, one point each.
    static func burstStore() -> SeriesStore {
        let store = SeriesStore()
        var rng = SplitMix64(seed: 17)
        for b in 0..<20 {
            var entries: [DeltaBatch.Entry] = []
            entries.reserveCapacity(5000)
            for i in 0..<5000 {
                var s = Sketch()
                s.add(rng.lognormal())
                let labels = LabelSet(["node": "n1", "queue": "tenant-\(b * 5000 + i)", "worker": "Tenant.Worker", "state": "completed"])
                entries.append(.init(series: "exec_time", labels: labels, value: .sketch(s)))
            }
            store.apply(DeltaBatch(origin: Origin(node: "n1", incarnation: 1), seq: UInt64(b + 1), timestamp: now - 20 + Int64(b), entries: entries), now: now)
        }
        return store
    }

    static func summary() {
        let store = burstStore()
        let sel = Selection(series: "exec_time", lookback: 300)
        var rows: [SummaryRow] = []
        // The first query after the burst builds the series' rollups: it is the one a user waits for.
        let t0 = nanotime()
        rows = try! store.summary(sel, by: 60, now: now)
        let first = Double(nanotime() - t0) / 1e6
        let steady = medianMs { rows = try! store.summary(sel, by: 60, now: now) }
        let count = rows.reduce(0) { $0 + $1.count }
        precondition(count == 100_000, "the summary counts \(count) of 100000")
        // The peer: the same question forced through the plain scan (a filter that keeps everything).
        let scan = Selection(series: "exec_time", lookback: 300, filters: [LabelFilter("state", ["completed"])])
        let peer = medianMs(runs: 3) { rows = try! store.summary(scan, by: 60, now: now) }
        report("cardinality.summary_ms_100k", first, "ms", peer: peer,
               note: "ungrouped summary of exec_time over \(store.timelineCount) one-point timelines, first query (builds the rollups); then \(format(steady)) ms; peer = plain scan")
    }
}
