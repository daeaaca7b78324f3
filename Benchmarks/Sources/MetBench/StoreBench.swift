#if canImport(Glibc)
import Glibc
#endif
import MetStore
import MetValues

/// `store.*`, `compaction.*` and `timeslice.*` figures (DESIGN §8).
enum StoreBench {
    static let now = Datasets.now
    static let mib = 1024.0 * 1024.0

    static func size() {
        let small = size(nodes: 3, name: "store.mib_260k", peer: nil)
        _ = size(nodes: 12, name: "store.mib_1m", peer: small)
    }

    /// The compacted store of `nodes` × 200 timelines: its heap bytes, reported as `name`.
    static func size(nodes: Int, name: String, peer: Double?) -> Double {
        let data = Datasets.mixed260k(raw: false, nodes: nodes)
        let rows = data.reduce(0) { $0 + $1.points.count }
        trimHeap()
        let before = heapInUse()
        let rssBefore = residentBytes().rss
        let store = SeriesStore()
        for t in data { try! store.merge(t, now: now) }
        store.compact(now: now)
        buildRollups(store)
        trimHeap()
        let added = heapInUse() - before
        let rss = residentBytes().rss - rssBefore
        blackHole(data)
        report(name, Double(added) / mib, "MiB", peer: peer,
               note: (peer == nil ? "" : "peer = store.mib_260k in this run; ") + "\(rows) rows, \(store.timelineCount) timelines, heap in use; RSS +\(format(Double(rss) / mib)) MiB; points \(format(Double(store.pointBytes.points) / mib)) MiB, rollups \(format(Double(store.pointBytes.rollups) / mib)) MiB")
        blackHole(store)
        return Double(added) / mib
    }

    /// A serving node has rollups for its busy series: the first grouped query builds them.
    static func buildRollups(_ store: SeriesStore) {
        for series in ["exec_time", "wait_time", "inserted"] {
            _ = try! store.timeslice(Selection(series: series, lookback: 60, group: "queue"), by: 60, now: now)
        }
    }

    static func compaction() {
        let (ms260k, _) = compaction(nodes: 3, report: true)
        let (ms1m, detail) = compaction(nodes: 12, report: false)
        report("compaction.ms_1m", ms1m, "ms", peer: ms260k,
               note: detail + "; peer = compaction.ms_260k in this run, target ratio ≤ 4.4 (linear growth)")
    }

    /// Compacts the raw store of `nodes` × 200 timelines three times; the median and its detail.
    static func compaction(nodes: Int, report printing: Bool) -> (Double, String) {
        var times: [Double] = []
        var peaks: [Double] = []
        var detail = ""
        var rollupShare = 0.0
        for _ in 0..<3 {
            let store = SeriesStore()
            for t in Datasets.mixed260k(raw: true, nodes: nodes) { try! store.merge(t, now: now) }
            buildRollups(store)
            trimHeap()
            let rss = residentBytes().rss
            resetPeakResident()
            let t0 = nanotime()
            var stats = store.compact(now: now, timelines: 0..<store.timelineCount)
            let t1 = nanotime()
            stats += store.compactRollups(now: now)
            times.append(Double(nanotime() - t0) / 1e6)
            rollupShare = Double(nanotime() - t1) / Double(nanotime() - t0)
            peaks.append(Double(max(0, residentBytes().peak - rss)) / mib)
            detail = "\(stats.pointsBefore) rows at 1 s across the retention -> \(stats.pointsAfter) (rollups included)"
            blackHole(store)
        }
        times.sort()
        detail += ", rollups \(Int(rollupShare * 100))% of the time, median of 3"
        if printing {
            report("compaction.ms_260k", times[1], "ms", note: detail)
            report("compaction.peak_mib_260k", peaks.max()!, "MiB", note: "extra peak RSS while compacting, worst of 3")
        }
        return (times[1], detail)
    }

    static func timeslice() {
        let store = SeriesStore()
        let t0 = nanotime()
        try! Datasets.loadTimeslice10k(into: store)
        let loadSeconds = Double(nanotime() - t0) / 1e9
        let grouped = Selection(series: "exec_time", lookback: 7200, group: "queue")
        // The same question with a filter that keeps every series forces the plain scan: the peer.
        let scan = Selection(series: "exec_time", lookback: 7200, group: "queue", filters: [
            LabelFilter("state", ["completed", "discarded", "retryable", "cancelled", "scheduled"]),
        ])
        var fast: [SliceRow] = []
        var slow: [SliceRow] = []
        let ms = medianMs { fast = try! store.timeslice(grouped, by: 60, op: .quantile(0.99), now: now) }
        let peer = medianMs(runs: 3) { slow = try! store.timeslice(scan, by: 60, op: .quantile(0.99), now: now) }
        precondition(fast == slow, "rollup and scan answers differ")
        report("timeslice.ms_10k_2h", ms, "ms", peer: peer,
               note: "\(store.timelineCount) series, \(store.pointCount) points, \(fast.count) rows; peer = plain scan; load \(format(loadSeconds)) s")
    }
}
