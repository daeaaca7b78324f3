extension Histogram {
    /// Gathers a sketch's bins (`value` a bin's representative, in ns) into display bins of
    /// equal width on a log axis: 1, 2, 5, 10 or 20 a decade, the most that keep the whole
    /// range within about 60 bins. Bin edges are powers of ten's fractions (10^(j/k)), so the
    /// same data always falls into the same bins.
    package static func gathering(_ points: [(value: Double, count: UInt64)], zeros: UInt64 = 0, p50: Double? = nil, p95: Double? = nil,
                                  p99: Double? = nil, max: Double? = nil) -> Histogram {
        let positive = points.filter { $0.value.isFinite && $0.value > 0 && $0.count > 0 }
        let total = positive.reduce(zeros) { $0 &+ $1.count }
        guard let lo = positive.map(\.value).min(), let hi = positive.map(\.value).max() else {
            return Histogram(bins: [], zeros: zeros, count: total, p50: p50, p95: p95, p99: p99, max: max)
        }
        let span = LogScale.log10(hi) - LogScale.log10(lo)
        let perDecade = [20.0, 10, 5, 2, 1].first { span * $0 <= 60 } ?? 60 / span
        let firstBin = (LogScale.log10(lo) * perDecade).rounded(.down)
        let lastBin = (LogScale.log10(hi) * perDecade).rounded(.down)
        let n = Int(lastBin - firstBin) + 1
        var counts = [UInt64](repeating: 0, count: n)
        for p in positive {
            let j = Int((LogScale.log10(p.value) * perDecade).rounded(.down) - firstBin)
            counts[Swift.min(Swift.max(j, 0), n - 1)] &+= p.count
        }
        let bins = (0..<n).map { j in
            Bin(lower: LogScale.pow10((firstBin + Double(j)) / perDecade), upper: LogScale.pow10((firstBin + Double(j) + 1) / perDecade),
                count: counts[j])
        }
        return Histogram(bins: bins, zeros: zeros, count: total, p50: p50, p95: p95, p99: p99, max: max)
    }
}

/// The histogram of execution times: bars on a log time axis, the p50, p95 and p99 as
/// labelled lines, a hover text per bin and the table of bins.
package enum HistogramView {
    package static func render(_ h: Histogram) -> String {
        var out = "<figure data-card class=\"card chart\" id=\"histogram\">"
        out += "<figcaption><h2>Execution time distribution</h2><p class=\"sub\">jobs by execution time over the range, log scale</p></figcaption>"
        let drawn = h.bins.reduce(UInt64(0)) { $0 &+ $1.count }
        out += "<ol class=\"legend\"><li><span class=\"sw c0\"></span>jobs <b data-v=\"\(drawn)\">\(Format.integer(Double(drawn)))</b></li>"
        for (name, v) in [("p50", h.p50), ("p95", h.p95), ("p99", h.p99), ("max", h.max)] {
            if let v, v.isFinite { out += "<li>\(name) <b>\(Format.duration(v))</b></li>" }
        }
        out += "</ol>"
        out += ChartFrame.open(label: "Execution time distribution")
        let scale = LogScale(lower: h.bins.first?.lower ?? 1e6, upper: h.bins.last?.upper ?? 1e7)
        let y = LinearScale(maximum: Double(h.bins.map(\.count).max() ?? 0), integers: true)
        let yTicks = y.ticks.map { (y.y($0, height: ChartLayout.plotHeight), Format.compact($0)) }
        out += ChartFrame.grid(yTicks)
        out += ChartFrame.openPlot
        var d = ""
        var hover = "<g class=\"hit\">"
        for b in h.bins {
            let x0 = scale.position(b.lower) * ChartLayout.width
            let x1 = scale.position(b.upper) * ChartLayout.width
            let gap = Swift.min((x1 - x0) * 0.1, 2)
            if b.count > 0 {
                let top = y.y(Double(b.count), height: ChartLayout.plotHeight)
                d += "M\(Format.coord(x0 + gap)),\(Format.coord(top))h\(Format.coord(x1 - x0 - 2 * gap))V\(Format.coord(ChartLayout.plotHeight))h-\(Format.coord(x1 - x0 - 2 * gap))z"
            }
            let title = "\(Format.duration(b.lower)) – \(Format.duration(b.upper)): \(Format.integer(Double(b.count))) jobs"
            hover += "<rect x=\"\(Format.coord(x0))\" width=\"\(Format.coord(x1 - x0))\" height=\"\(Format.coord(ChartLayout.plotHeight))\"><title>\(HTML.escape(title))</title></rect>"
        }
        out += "<g class=\"bars\"><path class=\"c0\" d=\"\(d)\"/></g>"
        var labels = "<g class=\"mlab\">"
        var row = 0
        for (name, v) in [("p50", h.p50), ("p95", h.p95), ("p99", h.p99)] {
            guard let v, v.isFinite, v > 0, !h.bins.isEmpty else { continue }
            let x = scale.position(v) * ChartLayout.width
            out += "<g class=\"quantile\"><line x1=\"\(Format.coord(x))\" x2=\"\(Format.coord(x))\" y1=\"0\" y2=\"\(Format.coord(ChartLayout.plotHeight))\"/></g>"
            let right = x > ChartLayout.width * 0.7
            labels += "<text x=\"\(ChartLayout.percent(x))\" dx=\"\(right ? -3 : 3)\" y=\"\(Format.coord(12 + Double(row) * 13))\" text-anchor=\"\(right ? "end" : "start")\">\(name) \(Format.duration(v))</text>"
            row = (row + 1) % 3
        }
        labels += "</g>"
        out += hover + "</g></svg>"
        out += ChartFrame.valueLabels(yTicks)
        out += "<g class=\"xlab\">"
        for t in scale.ticks {
            let x = scale.position(t) * ChartLayout.width
            let p = ChartLayout.percent(x)
            let anchor = x < 25 ? " text-anchor=\"start\"" : x > ChartLayout.width - 25 ? " text-anchor=\"end\"" : ""
            let bottom = ChartLayout.plotTop + ChartLayout.plotHeight
            out += "<line x1=\"\(p)\" x2=\"\(p)\" y1=\"\(Format.coord(bottom))\" y2=\"\(Format.coord(bottom + 4))\"/>"
            out += "<text x=\"\(p)\" y=\"\(Format.coord(ChartLayout.timeLabelY))\"\(anchor)>\(tickLabel(t))</text>"
        }
        out += "</g>" + labels
        if h.bins.isEmpty { out += ChartFrame.empty("No jobs executed in this range") }
        out += "</svg>"
        if h.zeros > 0 { out += "<p class=\"note\">\(Format.integer(Double(h.zeros))) jobs took 0 ns and are not drawn on the log axis.</p>" }
        out += table(h)
        out += "</figure>"
        return out
    }

    /// "1 µs", "10 ms", "2 s": a tick of the log axis in its own unit.
    static func tickLabel(_ ns: Double) -> String {
        if ns < 1e3 { return Format.fixed(ns, 2) + " ns" }
        let u = DurationUnit.suiting(ns)
        return Format.fixed(ns / u.nanoseconds, 3) + " " + u.symbol
    }

    static func table(_ h: Histogram) -> String {
        guard !h.bins.isEmpty else { return "" }
        var out = "<details class=\"table\"><summary>Table</summary><div class=\"scroll\"><table><thead><tr><th scope=\"col\">from</th><th scope=\"col\">to</th><th scope=\"col\">jobs</th></tr></thead><tbody>"
        for b in h.bins {
            out += "<tr><td>\(Format.duration(b.lower))</td><td>\(Format.duration(b.upper))</td><td>\(Format.integer(Double(b.count)))</td></tr>"
        }
        out += "</tbody></table></div></details>"
        return out
    }
}
