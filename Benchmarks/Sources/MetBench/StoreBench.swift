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
        let data = Datasets.mixed260k(raw: false)
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
        report("store.mib_260k", Double(added) / mib, "MiB",
               note: "\(rows) rows, \(store.timelineCount) timelines, heap in use; RSS +\(format(Double(rss) / mib)) MiB; points \(format(Double(store.pointBytes.points) / mib)) MiB, rollups \(format(Double(store.pointBytes.rollups) / mib)) MiB")
        blackHole(store)
    }

    /// A serving node has rollups for its busy series: the first grouped query builds them.
    static func buildRollups(_ store: SeriesStore) {
        for series in ["exec_time", "wait_time", "inserted"] {
            _ = try! store.timeslice(Selection(series: series, lookback: 60, group: "queue"), by: 60, now: now)
        }
    }

    static func compaction() {
        var times: [Double] = []
        var peaks: [Double] = []
        var detail = ""
        var rollupShare = 0.0
        for _ in 0..<3 {
            let store = SeriesStore()
            for t in Datasets.mixed260k(raw: true) { try! store.merge(t, now: now) }
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
        report("compaction.ms_260k", times[1], "ms", note: detail + ", rollups \(Int(rollupShare * 100))% of the time, median of 3")
        report("compaction.peak_mib_260k", peaks.max()!, "MiB", note: "extra peak RSS while compacting, worst of 3")
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
