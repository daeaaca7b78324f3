/// The frame every time chart shares: one SVG as wide as its card and of fixed height. Marks
/// (bars, lines, marker lines, hover columns) are drawn in a nested SVG whose user space is
/// `width` × `plotHeight`, stretched to the card's width (strokes do not scale); text is drawn
/// in the outer SVG at percentages of the width, so it keeps its size on a phone and on a wide
/// screen alike. An x of `u` in the plot is `u / 10` percent in the outer SVG.
package enum ChartLayout {
    /// The plot's width in user units.
    package static let width = 1000.0
    /// Room above the plot for marker labels.
    package static let plotTop = 20.0
    package static let plotHeight = 168.0
    /// The whole SVG's height in pixels (the time labels below the plot included).
    package static let height = plotTop + plotHeight + 22
    /// The baseline of the time labels.
    package static let timeLabelY = plotTop + plotHeight + 16

    /// The plot x of a time on `axis` (0 at the first column's start, `width` at the end).
    package static func x(_ ts: Int64, _ axis: TimeAxis) -> Double {
        Double(ts - axis.first) / Double(axis.span) * width
    }

    /// Percent of the width for a plot x.
    package static func percent(_ x: Double) -> String { Format.coord(x / width * 100) + "%" }
}

/// The pieces of a time chart's SVG.
enum ChartFrame {
    /// `<svg>` of a chart and the plot's nested `<svg>`, opened.
    static func open(label: String) -> String {
        "<svg class=\"plot\" width=\"100%\" height=\"\(Format.coord(ChartLayout.height))\" role=\"img\" aria-label=\"\(HTML.escape(label))\">"
    }

    static let openPlot =
        "<svg class=\"marks\" y=\"\(Format.coord(ChartLayout.plotTop))\" width=\"100%\" height=\"\(Format.coord(ChartLayout.plotHeight))\" viewBox=\"0 0 \(Format.coord(ChartLayout.width)) \(Format.coord(ChartLayout.plotHeight))\" preserveAspectRatio=\"none\">"

    /// Horizontal grid lines at the value ticks.
    static func grid(_ yTicks: [(y: Double, label: String)]) -> String {
        var out = "<g class=\"grid\">"
        for t in yTicks {
            let y = Format.coord(ChartLayout.plotTop + t.y)
            out += "<line x1=\"0\" x2=\"100%\" y1=\"\(y)\" y2=\"\(y)\"/>"
        }
        out += "</g>"
        return out
    }

    /// Value labels at the left, just above their grid line (the top one just below it).
    static func valueLabels(_ yTicks: [(y: Double, label: String)]) -> String {
        var out = "<g class=\"ylab\">"
        for (i, t) in yTicks.enumerated() {
            let isTop = i == yTicks.count - 1 && yTicks.count > 1
            let y = ChartLayout.plotTop + t.y + (isTop ? 12 : -3)
            out += "<text x=\"2\" y=\"\(Format.coord(y))\">\(HTML.escape(t.label))</text>"
        }
        out += "</g>"
        return out
    }

    /// Time labels under the plot, with a tick mark each.
    static func timeLabels(_ axis: TimeAxis) -> String {
        let (times, seconds) = TimeTicks.ticks(first: axis.first, end: axis.end)
        var out = "<g class=\"xlab\">"
        let bottom = ChartLayout.plotTop + ChartLayout.plotHeight
        for t in times {
            let x = ChartLayout.x(t, axis)
            // A label in the last 4 % would run into the one before it on a phone; the right
            // edge is "now" anyway.
            guard x <= ChartLayout.width * 0.96 else { continue }
            let p = ChartLayout.percent(x)
            // Labels near the edges are anchored inside the chart.
            let anchor = x < 25 ? " text-anchor=\"start\"" : x > ChartLayout.width - 25 ? " text-anchor=\"end\"" : ""
            out += "<line x1=\"\(p)\" x2=\"\(p)\" y1=\"\(Format.coord(bottom))\" y2=\"\(Format.coord(bottom + 4))\"/>"
            out += "<text x=\"\(p)\" y=\"\(Format.coord(ChartLayout.timeLabelY))\"\(anchor) data-ts=\"\(t)\">\(Format.clock(t, seconds: seconds))</text>"
        }
        out += "</g>"
        return out
    }

    /// Markers inside the range: a dashed vertical line in the plot (with its title), and a
    /// label above it, moved down a row when it would overlap the previous one.
    static func markerLines(_ markers: [Marker], axis: TimeAxis) -> String {
        var out = ""
        for m in visible(markers, axis: axis) {
            let x = Format.coord(ChartLayout.x(m.ts, axis))
            out += "<g class=\"marker\"><line x1=\"\(x)\" x2=\"\(x)\" y1=\"0\" y2=\"\(Format.coord(ChartLayout.plotHeight))\"/>"
            out += "<line class=\"mhit\" x1=\"\(x)\" x2=\"\(x)\" y1=\"0\" y2=\"\(Format.coord(ChartLayout.plotHeight))\"><title>\(HTML.escape(title(m)))</title></line></g>"
        }
        return out
    }

    static func markerLabels(_ markers: [Marker], axis: TimeAxis) -> String {
        var out = "<g class=\"mlab\">"
        var rowEnds: [Double] = [-1e9, -1e9, -1e9]
        for m in visible(markers, axis: axis) {
            let x = ChartLayout.x(m.ts, axis)
            let text = m.label.count > 28 ? String(m.label.prefix(27)) + "…" : m.label
            // About 6.5 px a character at 11 px on a 600 px card: in plot units, 11 a character.
            let width = Double(text.count) * 11 + 10
            let rightAligned = x > ChartLayout.width * 0.7
            let (from, to) = rightAligned ? (x - width, x) : (x, x + width)
            let row = rowEnds.firstIndex { $0 < from } ?? 0
            rowEnds[row] = to
            let y = 12 + Double(row) * 13
            let anchor = rightAligned ? "end" : "start"
            let dx = rightAligned ? -3 : 3
            out += "<text x=\"\(ChartLayout.percent(x))\" dx=\"\(dx)\" y=\"\(Format.coord(y))\" text-anchor=\"\(anchor)\">\(HTML.escape(text))<title>\(HTML.escape(title(m)))</title></text>"
        }
        out += "</g>"
        return out
    }

    static func visible(_ markers: [Marker], axis: TimeAxis) -> [Marker] {
        markers.filter { $0.ts >= axis.first && $0.ts < axis.end }.sorted { $0.ts < $1.ts }
    }

    static func title(_ m: Marker) -> String {
        "\(m.label) — \(Format.timestamp(m.ts)), marked on \(m.nodes.joined(separator: ", "))"
    }

    /// A transparent column per bucket carrying a `<title>` (the hover text) over the whole plot height.
    static func hoverColumns(axis: TimeAxis, titles: [String?]) -> String {
        let w = ChartLayout.width / Double(axis.columns)
        var out = "<g class=\"hit\">"
        for (i, t) in titles.enumerated() {
            guard let t else { continue }
            out += "<rect x=\"\(Format.coord(Double(i) * w))\" width=\"\(Format.coord(w))\" height=\"\(Format.coord(ChartLayout.plotHeight))\"><title>\(HTML.escape(t))</title></rect>"
        }
        out += "</g>"
        return out
    }

    /// The bucket's time span, as hover texts and tables give it.
    static func span(_ i: Int, _ axis: TimeAxis) -> String {
        let s = axis.start(i)
        let seconds = axis.step % 60 != 0
        return "\(Format.clock(s, seconds: seconds))–\(Format.clock(s + Int64(axis.step), seconds: seconds)) UTC"
    }

    /// A message in the middle of an empty plot.
    static func empty(_ message: String) -> String {
        "<text class=\"empty\" x=\"50%\" y=\"\(Format.coord(ChartLayout.plotTop + ChartLayout.plotHeight / 2))\" text-anchor=\"middle\">\(HTML.escape(message))</text>"
    }

    /// Value ticks of `chart`'s unit for data up to `maximum`: the scale, the tick positions and
    /// labels, and the divisor that turns a value into the scale's unit.
    static func valueAxis(maximum: Double, unit: ValueUnit) -> (scale: LinearScale, ticks: [(y: Double, label: String)], divisor: Double, symbol: String) {
        switch unit {
        case .jobs:
            let scale = LinearScale(maximum: maximum, integers: true)
            return (scale, scale.ticks.map { (scale.y($0, height: ChartLayout.plotHeight), Format.compact($0)) }, 1, "")
        case .nanoseconds:
            let u = DurationUnit.suiting(maximum)
            let scale = LinearScale(maximum: maximum / u.nanoseconds)
            let decimals = scale.step >= 1 ? 0 : scale.step >= 0.1 ? 1 : scale.step >= 0.01 ? 2 : 3
            return (scale, scale.ticks.map { (scale.y($0, height: ChartLayout.plotHeight), Format.fixed($0, decimals) + " " + u.symbol) },
                    u.nanoseconds, u.symbol)
        }
    }
}
