/// A time chart as a `<figure>`: title, legend, the SVG (stacked bars or lines, markers,
/// hover texts) and, folded, a table of the same numbers.
package enum TimeChartView {
    package static func render(_ chart: TimeChart, axis: TimeAxis, markers: [Marker]) -> String {
        let series = chart.series.map { s in Series(label: s.label, values: column(s.values, axis.columns)) }
        let classes = Palette.classes(series.map(\.label), groupedBy: chart.groupedBy)
        let maximum = chart.style == .stacked ? stackMaximum(series, axis.columns) : lineMaximum(series)
        let (scale, ticks, divisor, _) = ChartFrame.valueAxis(maximum: maximum, unit: chart.unit)
        let hasData = series.contains { $0.values.contains { $0 != nil } }

        var out = "<figure data-card class=\"card chart\" id=\"\(chart.id)\">"
        out += "<figcaption><h2>\(HTML.escape(chart.title))</h2><p class=\"sub\">\(HTML.escape(chart.subtitle))</p></figcaption>"
        out += Legend.render(series: series, classes: classes, chart: chart)
        out += ChartFrame.open(label: "\(chart.title): \(chart.subtitle)")
        out += ChartFrame.grid(ticks)
        out += ChartFrame.openPlot
        switch chart.style {
        case .stacked: out += bars(series, classes: classes, scale: scale, divisor: divisor, columns: axis.columns)
        case .lines: out += lines(series, classes: classes, scale: scale, divisor: divisor, columns: axis.columns)
        }
        out += ChartFrame.hoverColumns(axis: axis, titles: hoverTitles(series, chart: chart, axis: axis))
        out += ChartFrame.markerLines(markers, axis: axis)
        out += "</svg>"
        if chart.style == .lines { out += isolatedPoints(series, classes: classes, scale: scale, divisor: divisor, columns: axis.columns) }
        out += ChartFrame.valueLabels(ticks)
        out += ChartFrame.timeLabels(axis)
        out += ChartFrame.markerLabels(markers, axis: axis)
        if !hasData { out += ChartFrame.empty(chart.emptyMessage) }
        out += "</svg>"
        var notes: [String] = []
        if chart.hiddenGroups > 0 {
            notes.append(chart.style == .stacked
                ? "\(chart.hiddenGroups) more \(chart.groupedBy) values are summed as “other”; filter to see them."
                : "\(chart.hiddenGroups) more \(chart.groupedBy) values are not drawn; filter to see them.")
        }
        if let note = chart.note { notes.append(note) }
        for n in notes { out += "<p class=\"note\">\(HTML.escape(n))</p>" }
        out += ChartTable.render(series, chart: chart, axis: axis)
        out += "</figure>"
        return out
    }

    /// Values padded or cut to the axis' columns; non-finite values become gaps.
    static func column(_ values: [Double?], _ columns: Int) -> [Double?] {
        var v = values.prefix(columns).map { x -> Double? in x.flatMap { $0.isFinite ? $0 : nil } }
        while v.count < columns { v.append(nil) }
        return v
    }

    static func stackMaximum(_ series: [Series], _ columns: Int) -> Double {
        var top = 0.0
        for i in 0..<columns {
            top = max(top, series.reduce(0) { $0 + max(0, $1.values[i] ?? 0) })
        }
        return top
    }

    static func lineMaximum(_ series: [Series]) -> Double {
        series.reduce(0) { m, s in s.values.reduce(m) { max($0, $1 ?? 0) } }
    }

    /// One `<path>` per series, a rectangle per non-empty column, stacked in series order.
    static func bars(_ series: [Series], classes: [String], scale: LinearScale, divisor: Double, columns: Int) -> String {
        let w = ChartLayout.width / Double(columns)
        let gap = min(w * 0.15, 3)
        var base = [Double](repeating: 0, count: columns)
        var out = "<g class=\"bars\">"
        for (k, s) in series.enumerated() {
            var d = ""
            for i in 0..<columns {
                guard let v = s.values[i], v > 0 else { continue }
                let y0 = scale.y(base[i] / divisor, height: ChartLayout.plotHeight)
                base[i] += v
                let y1 = scale.y(base[i] / divisor, height: ChartLayout.plotHeight)
                d += "M\(Format.coord(Double(i) * w + gap)),\(Format.coord(y1))h\(Format.coord(w - 2 * gap))v\(Format.coord(y0 - y1))h-\(Format.coord(w - 2 * gap))z"
            }
            if !d.isEmpty { out += "<path class=\"\(classes[k])\" d=\"\(d)\"/>" }
        }
        out += "</g>"
        return out
    }

    /// One `<path>` per series through the columns' centres, broken where a value is missing.
    static func lines(_ series: [Series], classes: [String], scale: LinearScale, divisor: Double, columns: Int) -> String {
        let w = ChartLayout.width / Double(columns)
        var out = "<g class=\"lines\">"
        for (k, s) in series.enumerated() {
            var d = ""
            var drawing = false
            for i in 0..<columns {
                guard let v = s.values[i] else {
                    drawing = false
                    continue
                }
                let point = "\(Format.coord((Double(i) + 0.5) * w)),\(Format.coord(scale.y(v / divisor, height: ChartLayout.plotHeight)))"
                d += (drawing ? "L" : "M") + point
                drawing = true
            }
            let dash = Palette.dash(k)
            if !d.isEmpty { out += "<path class=\"\(classes[k])\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"") d=\"\(d)\"/>" }
        }
        out += "</g>"
        return out
    }

    /// A dot for each value with no neighbour (a line of one point draws nothing), in the outer
    /// SVG so that it stays round.
    static func isolatedPoints(_ series: [Series], classes: [String], scale: LinearScale, divisor: Double, columns: Int) -> String {
        let w = ChartLayout.width / Double(columns)
        var out = ""
        for (k, s) in series.enumerated() {
            for i in 0..<columns {
                guard let v = s.values[i], i == 0 || s.values[i - 1] == nil, i == columns - 1 || s.values[i + 1] == nil else { continue }
                let x = ChartLayout.percent((Double(i) + 0.5) * w)
                let y = ChartLayout.plotTop + scale.y(v / divisor, height: ChartLayout.plotHeight)
                out += "<circle class=\"dot \(classes[k])\" cx=\"\(x)\" cy=\"\(Format.coord(y))\" r=\"3\"/>"
            }
        }
        return out
    }

    /// The hover text of each column: its time span and every series' value in legend order
    /// (with the total for stacks); nil for a column with nothing.
    static func hoverTitles(_ series: [Series], chart: TimeChart, axis: TimeAxis) -> [String?] {
        (0..<axis.columns).map { i in
            let present = series.filter { $0.values[i] != nil }
            guard !present.isEmpty else { return nil }
            var lines = [ChartFrame.span(i, axis)]
            for s in present { lines.append("\(s.label): \(Format.value(s.values[i]!, chart.unit))") }
            if chart.style == .stacked, present.count > 1 {
                lines.append("total: \(Format.value(present.reduce(0) { $0 + $1.values[i]! }, chart.unit))")
            }
            return lines.joined(separator: "\n")
        }
    }
}
