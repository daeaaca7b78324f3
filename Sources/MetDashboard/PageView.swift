/// The whole page, and its live part (what `/dashboard/live` answers and the script swaps in).
package enum PageView {
    /// The path of the page's script.
    package static let scriptPath = "/dashboard.js"

    package static func render(_ p: DashboardPage) -> String {
        var out = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"color-scheme\" content=\"light dark\">"
        out += "<title>\(HTML.escape(p.cluster)) · ObanMet</title><link rel=\"icon\" href=\"data:,\">"
        out += "<style>\(Stylesheet.css)</style></head><body>"
        out += "<header class=\"top\"><h1>ObanMet</h1><span class=\"where\">cluster <b>\(HTML.escape(p.cluster))</b> · served by <b>\(HTML.escape(p.node))</b></span>"
        out += "<span class=\"live\" id=\"live\" role=\"status\">static page: reload to update</span></header><main>"
        out += ControlsView.render(p.controls, choices: p.choices)
        out += live(p)
        out += "</main><footer>Every node serves this page from its own replica of the whole cluster. "
        out += "Times are UTC. Add a marker with <code>met mark LABEL</code> or <code>POST /api/markers</code>; "
        out += "the numbers are also at <a href=\"/api/cluster\">/api/cluster</a> and the other <code>/api</code> endpoints.</footer>"
        out += "<script src=\"\(scriptPath)\" defer></script></body></html>"
        return out
    }

    /// Everything that changes with the data, in one `<div id="live-root">`.
    package static func live(_ p: DashboardPage) -> String {
        var out = "<div id=\"live-root\" data-now=\"\(p.now)\" data-refresh=\"\(Format.fixed(p.refreshSeconds, 3))\">"
        let range = p.controls.range.title.lowercased()
        out += "<p class=\"status\" id=\"status\" data-card>The whole cluster from \(HTML.escape(p.node))’s replica · \(range) in columns of "
        out += "\(Format.age(Int64(p.axis.step))) · <time datetime=\"\(p.now)\">updated \(Format.clock(p.now)) UTC</time></p>"
        out += PanelViews.jobCounts(p.jobCounts, axis: p.axis, markers: p.markers)
        out += "<div class=\"grid2\">"
        out += TimeChartView.render(p.executed, axis: p.axis, markers: p.markers)
        out += TimeChartView.render(p.execTime, axis: p.axis, markers: p.markers)
        out += TimeChartView.render(p.waitTime, axis: p.axis, markers: p.markers)
        out += HistogramView.render(p.histogram)
        out += TimeChartView.render(p.jobCounts.history, axis: p.axis, markers: p.markers)
        out += PanelViews.executing(p.executing)
        out += PanelViews.cluster(p.clusterPanel, node: p.node)
        out += PanelViews.checks(p.checks)
        out += markers(p.markers, axis: p.axis)
        out += "</div></div>"
        return out
    }

    /// The markers of the range, newest first.
    static func markers(_ markers: [Marker], axis: TimeAxis) -> String {
        let shown = markers.filter { $0.ts >= axis.first && $0.ts < axis.end }.sorted { $0.ts > $1.ts }
        var out = "<section class=\"card markers\" id=\"markers\" data-card aria-labelledby=\"markers-h\"><h2 id=\"markers-h\">Markers</h2>"
        guard !shown.isEmpty else {
            return out + "<p class=\"sub\">None in this range. Mark a deploy or an incident with <code>met mark LABEL</code>.</p></section>"
        }
        out += "<ol>"
        for m in shown {
            out += "<li><time datetime=\"\(m.ts)\">\(Format.timestamp(m.ts))</time> \(HTML.escape(m.label)) <span class=\"sub\">on \(HTML.escape(m.nodes.joined(separator: ", ")))</span></li>"
        }
        return out + "</ol></section>"
    }
}
