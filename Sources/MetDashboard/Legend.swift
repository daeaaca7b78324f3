/// A chart's legend: an ordered list in the series' order (the first series is the bottom of a
/// stack), each entry with its colour, its dash for lines, its label and its total or peak, so
/// that series are told apart by order and label as well as by colour.
enum Legend {
    static func render(series: [Series], classes: [String], chart: TimeChart) -> String {
        guard !series.isEmpty else { return "" }
        var out = "<ol class=\"legend\">"
        for (k, s) in series.enumerated() {
            out += "<li>"
            switch chart.style {
            case .stacked:
                out += "<span class=\"sw \(classes[k])\"></span>"
            case .lines:
                let dash = Palette.dash(k)
                out += "<svg class=\"swl \(classes[k])\" width=\"22\" height=\"8\" aria-hidden=\"true\"><line x1=\"0\" x2=\"22\" y1=\"4\" y2=\"4\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")/></svg>"
            }
            out += HTML.escape(s.label)
            switch (chart.style, chart.unit) {
            case (.stacked, _), (.lines, .jobs):
                let v = chart.style == .stacked ? s.total : s.values.reduce(0) { max($0, $1 ?? 0) }
                out += " <b data-v=\"\(Format.fixed(v, 3))\">\(Format.value(v, chart.unit))</b>"
            case (.lines, .nanoseconds):
                let peak = s.values.compactMap { $0 }.max()
                if let peak { out += " <b data-v=\"\(Format.fixed(peak, 3))\">peak \(Format.duration(peak))</b>" }
            }
            out += "</li>"
        }
        out += "</ol>"
        return out
    }
}

/// The numbers of a time chart as a table, folded under it: a row per column of the axis.
enum ChartTable {
    static func render(_ series: [Series], chart: TimeChart, axis: TimeAxis) -> String {
        guard !series.isEmpty else { return "" }
        var out = "<details class=\"table\"><summary>Table</summary><div class=\"scroll\"><table><thead><tr><th scope=\"col\">time (UTC)</th>"
        for s in series { out += "<th scope=\"col\">\(HTML.escape(s.label))</th>" }
        let stacked = chart.style == .stacked && series.count > 1
        if stacked { out += "<th scope=\"col\">total</th>" }
        out += "</tr></thead><tbody>"
        for i in 0..<axis.columns {
            out += "<tr><th scope=\"row\">\(Format.clock(axis.start(i), seconds: axis.step % 60 != 0))</th>"
            var total = 0.0
            for s in series {
                if let v = s.values[i] {
                    total += v
                    out += "<td>\(Format.value(v, chart.unit))</td>"
                } else {
                    out += "<td>–</td>"
                }
            }
            if stacked { out += "<td>\(Format.value(total, chart.unit))</td>" }
            out += "</tr>"
        }
        out += "</tbody></table></div></details>"
        return out
    }
}
