import Foundation
import MetDashboard
import MetHTTP
import MetRuntime
import MetStore
import MetValues
import Testing

/// The page filled from a store with known data: every chart's columns, then what is drawn.
@Suite struct DashboardSourceTests {
    static let now: Int64 = 1_800_000_000
    static let a = Origin(node: "a", incarnation: 1)

    static func jobLabels(_ state: String, queue: String = "q") -> LabelSet {
        LabelSet(["node": "a", "queue": queue, "worker": "W", "state": state])
    }

    static func entry(_ series: String, _ labels: LabelSet, _ value: PointValue) -> DeltaBatch.Entry {
        .init(series: series, labels: labels, value: value)
    }

    /// Three batches of node a: jobs 100 s and 50 s ago, then a marker, a level of 4 executing
    /// and a queue check 2 s ago.
    static func collector() -> Collector {
        let store = SeriesStore()
        store.apply(DeltaBatch(origin: a, seq: 1, timestamp: now - 100, entries: [
            entry("exec_count", jobLabels("completed"), .count(3)),
            entry("exec_time", jobLabels("completed"), .sketch(Sketch([1e6, 2e6, 3e6]))),
        ]), now: now - 100)
        store.apply(DeltaBatch(origin: a, seq: 2, timestamp: now - 50, entries: [
            entry("exec_count", jobLabels("completed"), .count(2)),
            entry("exec_count", jobLabels("retryable"), .count(1)),
            entry("exec_time", jobLabels("completed"), .sketch(Sketch([40e6, 40e6]))),
            entry("exec_time", jobLabels("retryable"), .sketch(Sketch([400e6]))),
        ]), now: now - 50)
        store.apply(DeltaBatch(origin: a, seq: 3, timestamp: now - 2, entries: [
            entry("markers", LabelSet(["node": "a", "label": "deploy", "at": String(now - 20)]), .count(1)),
            entry("executing", LabelSet(["node": "a", "queue": "q", "worker": "W"]), .gauge(Gauge(4))),
        ], checks: [QueueCheck(node: "a", queue: "q", limit: 10, paused: false, running: [1, 2], timestamp: now - 2)]), now: now - 2)
        return Collector(store: store)
    }

    static let status = try! JSONDecoder().decode(ClusterStatus.self, from: Data("""
        {"cluster": "c", "node": "a", "incarnation": 1, "address": "127.0.0.1:1", "startedAt": 0, "now": \(now), "ready": true,
         "members": [{"name": "a", "incarnation": 1, "address": "127.0.0.1:1", "status": "self", "connected": true, "seq": 3}],
         "leadership": {"isLeader": false}, "fullCount": {"available": false, "reason": "no leader yet"}, "postgres": {"configured": false}, "store": {"rows": 9, "timelines": 6, "origins": 1},
         "cardinality": {"limit": 20000, "refusedEntries": {"exec_time": 3}, "refusedRequests": {}, "recorderInstruments": 0}}
        """.utf8))

    static func page(_ controls: DashboardControls = DashboardControls(range: .fiveMinutes)) -> DashboardPage {
        let settings = DashboardSource.Settings(cluster: "c", node: "a", tiers: .default)
        return DashboardSource(collector: collector(), settings: settings, controls: controls, now: now).page(status: status)
    }

    @Test func columnsOfEveryChart() throws {
        let p = Self.page()
        // 5 min at the step the store keeps 5 min back (5 s): the store's windows, from the 5 s
        // bucket holding the range's first second to the one holding now: 61 columns.
        #expect(p.axis == TimeAxis(first: Self.now - 300, step: 5, columns: 61))
        // Jobs 100 s ago fall in column 40, 50 s ago in 50; counts are 0 in the other columns.
        #expect(p.executed.series.map(\.label) == ["completed", "retryable"])
        let completed = p.executed.series[0].values
        #expect(completed[40] == 3 && completed[50] == 2 && completed.count == 61)
        #expect(completed.enumerated().allSatisfy { $0.offset == 40 || $0.offset == 50 || $0.element == 0 })
        #expect(p.executed.series[1].values[50] == 1 && p.executed.series[1].values[40] == 0)
        // Execution time: p50, p95, p99 of each column's jobs (1% relative error).
        #expect(p.execTime.series.map(\.label) == ["p50", "p95", "p99"])
        #expect(abs(p.execTime.series[0].values[40]! - 2e6) / 2e6 < 0.01)
        #expect(abs(p.execTime.series[2].values[50]! - 40e6) / 40e6 < 0.01)  // p99 of 40, 40, 400 ms is the 2nd value
        #expect(p.execTime.series[0].values.compactMap { $0 }.count == 2)  // no jobs, no quantile
        #expect(p.waitTime.series.isEmpty)
        // The histogram: all six jobs, in display bins around 1, 2, 3, 40 and 400 ms.
        #expect(p.histogram.count == 6 && p.histogram.bins.reduce(0) { $0 + $1.count } == 6)
        #expect(p.histogram.bins.filter { $0.count > 0 }.count == 5)
        #expect(p.markers == [Marker(ts: Self.now - 20, label: "deploy", nodes: ["a"])])
        #expect(p.executing == Executing(groupedBy: "queue", rows: [("q", 4)]))
        #expect(p.checks == [QueueCheckRow(node: "a", queue: "q", limit: 10, paused: false, running: 2, age: 2)])
        #expect(p.jobCounts.live == nil && p.jobCounts.unavailable?.hasPrefix("No keyframe yet (") == true)
        #expect(p.choices["queue"] == ["q"] && p.choices["node"] == ["a"])
        #expect(p.clusterPanel.refusedEntries == ["exec_time": 3] && PanelViews.cluster(p.clusterPanel, node: "a").contains("refused entries: exec_time 3"))
    }

    /// The executed chart as drawn from that data: bars at columns 40 and 50 (1000/61 units a
    /// column), the marker at 280 s of 305.
    @Test func drawnFromTheStore() throws {
        let p = Self.page()
        let html = PageView.render(p)
        let start = try #require(html.range(of: "id=\"executed\""))
        let end = try #require(html[start.upperBound...].range(of: "</figure>"))
        let executed = String(html[start.upperBound..<end.lowerBound])
        let completed = SVGReading.rects(try #require(SVGReading.path(class: "c2", in: executed)))
        #expect(completed.map(\.x) == [658.2, 822.13] && completed.allSatisfy { $0.w == 11.48 })
        #expect(completed.map(\.y) == [0, 56] && completed.map(\.h) == [168, 112])
        let retryable = SVGReading.rects(try #require(SVGReading.path(class: "c1", in: executed)))
        #expect(retryable.count == 1 && retryable[0].x == 822.13 && retryable[0].y == 0 && retryable[0].h == 56)
        #expect(SVGReading.tags("line", in: executed).contains { SVGReading.attribute("x1", of: $0) == "918.03" })
        SVGReading.expectFinite(html)
    }

    /// Grouped by queue with an operation: a line per queue of that statistic; a filter on a
    /// label a series lacks is left out and said.
    @Test func groupsAndFilters() {
        let p = Self.page(DashboardControls(range: .fiveMinutes, group: "queue", filters: ["state": ["retryable"]], op: .max))
        #expect(p.execTime.series.map(\.label) == ["q"] && p.execTime.series[0].values[50] == 400e6)
        #expect(p.execTime.series[0].values[40] == nil)
        #expect(p.executed.style == .lines && p.executed.series.map(\.label) == ["q"])
        #expect(p.jobCounts.history.note == nil)
        let byWorker = Self.page(DashboardControls(range: .fiveMinutes, filters: ["worker": ["W"]]))
        #expect(byWorker.jobCounts.history.note == "Not filtered by worker: job counts are kept per queue and state.")
    }

    /// Markers keep their exact second through compaction (the point's bucket coarsens, the
    /// label does not), and leave with the retention.
    @Test func markersThroughCompaction() throws {
        let t: Int64 = 1_800_000_007
        let store = SeriesStore()
        store.apply(DeltaBatch(origin: Self.a, seq: 1, timestamp: t, entries: [
            Self.entry("markers", LabelSet(["node": "a", "label": "incident", "at": String(t - 7)]), .count(1)),
        ]), now: t)
        let collector = Collector(store: store)
        _ = collector.withStore { $0.compact(now: t + 3000) }
        let rows = try collector.timeslice(Selection(series: "markers", lookback: 4000), by: 1, now: t + 3000)
        #expect(rows.map(\.ts) == [1_800_000_000])  // the point is in the 60 s tier now
        #expect(Markers.list(collector, since: t - 100) == [MarkerRecord(ts: t - 7, label: "incident", node: "a")])
        _ = collector.withStore { $0.compact(now: t + 20_000) }
        #expect(Markers.list(collector, since: 0).isEmpty)
    }
}
