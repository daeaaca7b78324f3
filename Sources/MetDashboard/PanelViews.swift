/// The panels of what is true now: job counts by state, jobs executing, the cluster and the
/// queue checks.
package enum PanelViews {
    /// Live `full_count` by state as tiles, with the keyframe's age, then their history.
    package static func jobCounts(_ j: JobCounts, axis: TimeAxis, markers: [Marker]) -> String {
        var out = "<section data-card class=\"card counts\" id=\"counts\" aria-labelledby=\"counts-h\"><h2 id=\"counts-h\">Jobs by state</h2>"
        if let live = j.live {
            var source = j.keyframeAge.map { "from a keyframe \(Format.age($0)) old, plus the transitions since" } ?? "from the last keyframe"
            if j.estimatedGroups > 0 { source += "; \(j.estimatedGroups) groups estimated by the planner" }
            out += "<p class=\"sub\">\(HTML.escape(source))</p><ul class=\"tiles\">"
            let classes = Palette.classes(live.map(\.state), groupedBy: "state")
            for (k, s) in live.enumerated() {
                out += "<li><span class=\"sw \(classes[k])\"></span><span class=\"k\">\(HTML.escape(s.state))</span>"
                out += "<b data-v=\"\(Format.fixed(s.count, 0))\">\(Format.integer(s.count))</b></li>"
            }
            out += "</ul>"
        } else {
            out += "<p class=\"unavailable\">\(HTML.escape(j.unavailable ?? "no keyframe yet"))</p>"
        }
        out += "</section>"
        return out
    }

    /// Horizontal bars of the jobs executing now, largest first.
    package static func executing(_ e: Executing) -> String {
        var out = "<figure data-card class=\"card chart\" id=\"executing\"><figcaption><h2>Executing now</h2>"
        out += "<p class=\"sub\">jobs running, by \(HTML.escape(e.groupedBy)), from the latest levels</p></figcaption>"
        let rows = e.rows.filter { $0.value.isFinite }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.label < $1.label }
        let shown = Array(rows.prefix(12))
        let total = rows.reduce(0) { $0 + $1.value }
        out += "<ol class=\"legend\"><li><span class=\"sw c0\"></span>total <b data-v=\"\(Format.fixed(total, 0))\">\(Format.integer(total))</b></li></ol>"
        let rowHeight = 30.0
        let height = max(1, Double(shown.count)) * rowHeight + 4
        out += "<svg class=\"plot hbars\" width=\"100%\" height=\"\(Format.coord(height))\" role=\"img\" aria-label=\"Jobs executing now by \(HTML.escape(e.groupedBy))\">"
        let top = shown.first.map { max($0.value, 1) } ?? 1
        for (i, r) in shown.enumerated() {
            let y = Double(i) * rowHeight
            let width = max(0, r.value) / top * 100
            out += "<g class=\"c0\"><title>\(HTML.escape(r.label)): \(Format.integer(r.value)) executing</title>"
            out += "<text x=\"0\" y=\"\(Format.coord(y + 12))\">\(HTML.escape(r.label))</text>"
            out += "<text class=\"v\" x=\"100%\" y=\"\(Format.coord(y + 12))\" text-anchor=\"end\">\(Format.integer(r.value))</text>"
            out += "<rect class=\"track\" x=\"0\" y=\"\(Format.coord(y + 16))\" width=\"100%\" height=\"8\" rx=\"2\"/>"
            if width > 0 { out += "<rect x=\"0\" y=\"\(Format.coord(y + 16))\" width=\"\(Format.coord(width))%\" height=\"8\" rx=\"2\"/>" }
            out += "</g>"
        }
        if shown.isEmpty { out += "<text class=\"empty\" x=\"50%\" y=\"18\" text-anchor=\"middle\">No jobs executing</text>" }
        out += "</svg>"
        if rows.count > shown.count { out += "<p class=\"note\">\(rows.count - shown.count) more with fewer jobs; see the table.</p>" }
        if !rows.isEmpty {
            out += "<details class=\"table\"><summary>Table</summary><div class=\"scroll\"><table><thead><tr><th scope=\"col\">\(HTML.escape(e.groupedBy))</th><th scope=\"col\">executing</th></tr></thead><tbody>"
            for r in rows { out += "<tr><th scope=\"row\">\(HTML.escape(r.label))</th><td>\(Format.integer(r.value))</td></tr>" }
            out += "</tbody></table></div></details>"
        }
        out += "</figure>"
        return out
    }

    /// The members with their status, lag and clock offset, then leadership, keyframe, Postgres and store.
    package static func cluster(_ c: ClusterPanel, node: String) -> String {
        var out = "<section data-card class=\"card\" id=\"cluster\" aria-labelledby=\"cluster-h\"><h2 id=\"cluster-h\">Cluster</h2><dl class=\"facts\">"
        let leader = c.leader.map { HTML.escape($0) + (c.term.map { " (term \($0))" } ?? "") } ?? "none"
        out += "<div><dt>leader</dt><dd>\(leader)</dd></div>"
        if let k = c.keyframe {
            out += "<div><dt>keyframe</dt><dd class=\"\(k.age > 30 ? "warn" : "")\">\(HTML.escape(k.leader)) #\(k.number), \(Format.age(k.age)) old</dd></div>"
        } else {
            out += "<div><dt>keyframe</dt><dd>none yet</dd></div>"
        }
        let pg: String
        switch (c.postgresConfigured, c.postgresReachable) {
        case (false, _): pg = "<dd>not configured</dd>"
        case (true, true?): pg = "<dd class=\"ok\">reachable</dd>"
        case (true, false?): pg = "<dd class=\"bad\">unreachable\(c.postgresError.map { ": " + HTML.escape($0) } ?? "")</dd>"
        case (true, nil): pg = "<dd>not tried yet</dd>"
        }
        out += "<div><dt>Postgres</dt>\(pg)</div>"
        out += "<div><dt>store</dt><dd>\(Format.bytes(c.storeBytes)), \(Format.integer(Double(c.rows))) points, \(Format.integer(Double(c.timelines))) series, \(c.origins) origins</dd></div>"
        if !c.ready { out += "<div><dt>state</dt><dd class=\"warn\">catching up from a peer</dd></div>" }
        let refused = c.refusedEntries.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        if !refused.isEmpty {
            let list = refused.map { "\(HTML.escape($0.key)) \(Format.integer(Double($0.value)))" }.joined(separator: ", ")
            out += "<div><dt>over the label-set limit (\(Format.integer(Double(c.labelSetLimit))) a node and series)</dt><dd class=\"bad\">refused entries: \(list)</dd></div>"
        }
        out += "</dl><div class=\"scroll\"><table class=\"members\"><thead><tr><th scope=\"col\">member</th><th scope=\"col\">status</th><th scope=\"col\">last batch</th><th scope=\"col\">lag</th><th scope=\"col\">clock offset</th><th scope=\"col\">address</th></tr></thead><tbody>"
        for m in c.members {
            let status = m.status == "alive" && !m.connected ? "alive, not connected" : m.status
            let cls = m.status == "down" ? "bad" : m.status == "leaving" || !m.connected ? "warn" : "ok"
            let lead = m.name == c.leader ? " <span class=\"badge\">leader</span>" : ""
            out += "<tr><th scope=\"row\">\(HTML.escape(m.name))\(lead)</th><td><span class=\"st \(cls)\">\(HTML.escape(status))</span></td>"
            out += "<td>#\(m.seq)\(m.lastBatchAge.map { ", \(Format.age($0)) ago" } ?? "")</td>"
            out += "<td>\(m.lag.map { Format.age($0) } ?? "–")</td>"
            let offset = m.clockOffsetMs.map { abs($0) > 1000 ? "<span class=\"st warn\">\($0) ms</span>" : "\($0) ms" } ?? "–"
            out += "<td>\(offset)</td><td class=\"addr\">\(HTML.escape(m.address))</td></tr>"
        }
        out += "</tbody></table></div></section>"
        return out
    }

    /// Queue checks: per node and queue, running against the limit, paused, and the check's age.
    package static func checks(_ rows: [QueueCheckRow]) -> String {
        var out = "<section data-card class=\"card\" id=\"checks\" aria-labelledby=\"checks-h\"><h2 id=\"checks-h\">Queues</h2>"
        out += "<p class=\"sub\">the latest check of each queue on each node</p>"
        guard !rows.isEmpty else { return out + "<p class=\"unavailable\">No queue checks in the last 30 s</p></section>" }
        out += "<div class=\"scroll\"><table class=\"checks\"><thead><tr><th scope=\"col\">queue</th><th scope=\"col\">node</th><th scope=\"col\">running</th><th scope=\"col\">limit</th><th scope=\"col\">state</th><th scope=\"col\">checked</th></tr></thead><tbody>"
        for r in rows.sorted(by: { ($0.queue, $0.node) < ($1.queue, $1.node) }) {
            let fill = r.limit > 0 ? min(100, Double(r.running) / Double(r.limit) * 100) : 0
            out += "<tr><th scope=\"row\">\(HTML.escape(r.queue))</th><td>\(HTML.escape(r.node))</td>"
            out += "<td><span class=\"meter\"><span style=\"width:\(Format.coord(fill))%\"></span></span> \(r.running)</td><td>\(r.limit)</td>"
            out += "<td>\(r.paused ? "<span class=\"st warn\">paused</span>" : "running")</td><td>\(Format.age(r.age)) ago</td></tr>"
        }
        out += "</tbody></table></div></section>"
        return out
    }
}
