import MetDashboard
import Testing

/// The histogram's bins and log axis, the panels, and the whole page.
@Suite struct HistogramAndPanelTests {
    /// Points a decade apart fall into display bins of 10^(j/k); bars sit at their place on the
    /// log axis (1 ms … 1 s over the width), as tall as their count.
    @Test func histogramBinsOnALogAxis() {
        let h = Histogram.gathering([(1.5e6, 4), (15e6, 2), (150e6, 1), (0, 9)], zeros: 3, p50: 2e6, p95: 100e6, p99: 150e6, max: 150e6)
        #expect(h.count == 10)  // 7 positive values and 3 zeros; the bad point (value 0) is not a bin
        #expect(h.bins.reduce(0) { $0 + $1.count } == 7)
        // Two decades: 20 bins a decade, from 10^(6 + 3/20) ≈ 1.41 ms.
        #expect(h.bins.count == 41)
        #expect(abs(h.bins[0].lower - 1.4125e6) / 1.4125e6 < 1e-3)
        #expect(h.bins.first!.count == 4 && h.bins.last!.count == 1)
        let html = HistogramView.render(h)
        let rects = SVGReading.rects(SVGReading.path(class: "c0", in: html)!)
        #expect(rects.count == 3)
        // Axis 1 ms … 1 s: the 1.41 ms bin starts at 0.15/3 of the width (50 units), its bar
        // a tenth of its 16.7 units in.
        #expect(abs(rects[0].x - 51.67) < 0.01 && abs(rects[0].w - 13.33) < 0.01)
        #expect(rects.map(\.y) == [0, 84, 126])  // counts 4, 2, 1 on a 0…4 axis
        let ticks = SVGReading.texts(inGroup: "xlab", of: html).map(\.text)
        #expect(ticks == ["1 ms", "10 ms", "100 ms", "1 s"])
        #expect(html.contains("p95 100 ms"))
        #expect(html.contains("3 jobs took 0 ns"))
        #expect(html.contains("<title>1.413 ms – 1.585 ms: 4 jobs</title>"))
        SVGReading.expectFinite(html)
    }

    /// An absurd value does not make thousands of bins or a non-finite coordinate.
    @Test func histogramWithAnAbsurdValue() {
        let h = Histogram.gathering([(1e3, 10), (1e300, 1)])
        #expect(h.bins.count <= 62)
        #expect(h.bins.reduce(0) { $0 + $1.count } == 11)
        let html = HistogramView.render(h)
        SVGReading.expectFinite(html)
        #expect(SVGReading.texts(inGroup: "xlab", of: html).count <= 10)
        let empty = HistogramView.render(Histogram())
        #expect(empty.contains("No jobs executed in this range"))
    }

    /// Executing now: bars as wide as their share of the largest, largest first.
    @Test func executingBars() {
        let html = PanelViews.executing(Executing(groupedBy: "queue", rows: [("mailers", 2), ("default", 8), ("idle", 0)]))
        let bars = SVGReading.tags("rect", in: html).filter { SVGReading.attribute("class", of: $0) == nil }
        #expect(bars.compactMap { SVGReading.attribute("width", of: $0) } == ["100%", "25%"])
        #expect(html.contains("default: 8 executing"))
        #expect(html.contains("<b data-v=\"10\">10</b>"))
    }

    /// Job counts: live tiles with the keyframe's age, or why there are none.
    @Test func jobCountTiles() {
        let history = TimeChart(id: "h", title: "", subtitle: "", style: .lines, unit: .jobs, groupedBy: "state", series: [])
        let live = PanelViews.jobCounts(JobCounts(live: [("available", 1234), ("executing", 5)], keyframeAge: 3, estimatedGroups: 1, history: history),
                                        axis: Fixture.axis(), markers: [])
        #expect(live.contains("<b data-v=\"1234\">1,234</b>"))
        #expect(live.contains("from a keyframe 3 s old, plus the transitions since; 1 groups estimated by the planner"))
        let none = PanelViews.jobCounts(JobCounts(live: nil, unavailable: "No keyframe yet (Postgres is unreachable)", history: history),
                                        axis: Fixture.axis(), markers: [])
        #expect(none.contains("No keyframe yet (Postgres is unreachable)"))
    }

    /// The cluster: members with status, lag and offset, the leader marked; the queue checks.
    @Test func clusterAndChecks() {
        let panel = ClusterPanel(
            members: [.init(name: "a", address: "127.0.0.1:1", status: "self", connected: true, seq: 40, lastBatchAge: 0, lag: 0, clockOffsetMs: 0),
                      .init(name: "b", address: "127.0.0.1:2", status: "down", connected: false, seq: 12, lastBatchAge: 90, lag: 1, clockOffsetMs: 1500)],
            leader: "a", term: 3, isLeader: true, keyframe: ("a", 3, 17, Fixture.now - 4, 4), postgresConfigured: true, postgresReachable: true,
            rows: 1200, timelines: 30, origins: 2, storeBytes: 3 << 20)
        let html = PanelViews.cluster(panel, node: "a")
        #expect(html.contains("a (term 3)") && html.contains("a #17, 4 s old") && html.contains(">reachable<"))
        #expect(html.contains("3 MiB, 1,200 points, 30 series, 2 origins"))
        #expect(html.contains("<th scope=\"row\">a <span class=\"badge\">leader</span></th><td><span class=\"st ok\">self</span>"))
        #expect(html.contains("<span class=\"st bad\">down</span>") && html.contains("<span class=\"st warn\">1500 ms</span>"))
        let checks = PanelViews.checks([QueueCheckRow(node: "b", queue: "mailers", limit: 10, paused: true, running: 5, age: 2)])
        #expect(checks.contains("<span style=\"width:50%\"></span></span> 5</td><td>10</td><td><span class=\"st warn\">paused</span>"))
    }

    /// The whole page: every chart and panel, the controls, the script by URL only, nothing
    /// fetched from elsewhere, user text escaped.
    @Test func wholePage() {
        let hostile = "<script>alert(1)</script>"
        let axis = Fixture.axis()
        let page = Fixture.page(executed: [Series(label: hostile, values: [1, 2])], markers: [Marker(ts: axis.first + 60, label: hostile, nodes: ["a"])])
        let html = PageView.render(page)
        for id in ["executed", "exec-time", "wait-time", "histogram", "job-counts", "counts", "executing", "cluster", "checks", "markers", "live-root"] {
            #expect(html.contains("id=\"\(id)\""), "missing \(id)")
        }
        #expect(!html.contains(hostile) && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.ranges(of: "<script").count == 1 && html.contains("<script src=\"/dashboard.js\" defer></script>"))
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("@import") && !html.contains("url("))
        #expect(html.contains("prefers-color-scheme:dark"))
        #expect(html.contains("<input type=\"radio\" name=\"range\" value=\"30m\" checked>"))
        let live = PageView.live(page)
        #expect(live.hasPrefix("<div id=\"live-root\" data-now=\"\(Fixture.now)\" data-refresh=\"1\">"))
        #expect(html.contains(live))
        SVGReading.expectFinite(html)
    }
}
