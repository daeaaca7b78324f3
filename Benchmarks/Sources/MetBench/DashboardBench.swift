import Foundation
import MetDashboard
import MetHTTP
import MetRuntime
import MetStore

/// `dashboard.*` (DESIGN §8): the whole page, as `GET /` renders it (every query of the page
/// and the HTML), for a 2 h range over the 10k-series store of `timeslice.ms_10k_2h`, with the
/// `exec_count` a recorder writes beside its `exec_time` (10k more series).
enum DashboardBench {
    static func run() {
        let store = SeriesStore()
        try! Datasets.loadTimeslice10k(into: store, withCounts: true)
        let series = store.timelineCount
        let collector = Collector(store: store)
        let settings = DashboardSource.Settings(cluster: "bench", node: "n1", tiers: .default)
        let controls = DashboardControls(range: .twoHours)
        var html = ""
        var columns = 0
        func render() {
            let source = DashboardSource(collector: collector, settings: settings, controls: controls, now: Datasets.now)
            html = PageView.render(source.page(status: status))
            columns = source.axis.columns
        }
        render()  // the first query of a series builds its rollups, as on a node that has just started
        let ms = medianMs(runs: 9, render)
        let grouped = medianMs(runs: 5) {
            let source = DashboardSource(collector: collector, settings: settings,
                                         controls: DashboardControls(range: .twoHours, group: "queue", op: .p99), now: Datasets.now)
            blackHole(PageView.render(source.page(status: status)))
        }
        report("dashboard.render_ms_10k", ms, "ms",
               note: "2 h in \(columns) columns, \(series) series (exec_time and exec_count); grouped by queue with op p99: \(format(grouped)) ms; median of 9")
        report("dashboard.page_kib", Double(html.utf8.count) / 1024, "KiB", note: "the whole page of that render, its tables included")
    }

    /// A 4-member cluster as `/api/cluster` would give it.
    static let status = try! JSONDecoder().decode(ClusterStatus.self, from: Data("""
        {"cluster": "bench", "node": "n1", "incarnation": 1, "address": "10.0.0.1:4100", "startedAt": 0, "now": \(Datasets.now), "ready": true,
         "members": [\((1...4).map { #"{"name": "n\#($0)", "incarnation": 1, "address": "10.0.0.\#($0):4100", "status": "\#($0 == 1 ? "self" : "alive")", "connected": true, "seq": 7200, "lastBatchAge": 0, "lagSeconds": 0, "clockOffsetMs": 2}"# }.joined(separator: ","))],
         "leadership": {"leader": "n2", "term": 4, "isLeader": false},
         "keyframe": {"term": 4, "number": 1440, "leader": "n2", "timestamp": \(Datasets.now - 2), "age": 2, "groups": 160, "estimatedGroups": 3},
         "postgres": {"configured": true, "reachable": true, "since": 0},
         "fullCount": {"available": true, "mode": "logical", "deltaRevision": 7200, "deltaAgeMs": 200}, "store": {"rows": 4360000, "timelines": 10000, "origins": 4},
         "cardinality": {"limit": 20000, "refusedEntries": {}, "refusedRequests": {}, "recorderInstruments": 0}}
        """.utf8))
}
