import MetDashboard
import Testing

/// The time charts as drawn: bar rectangles, line points, gaps, axes, markers, edge cases.
@Suite struct TimeChartTests {
    let axis = Fixture.axis()  // 10 columns of 60 s ending at 2027-01-15 08:00 UTC

    func chart(_ style: TimeChart.Style, _ unit: ValueUnit, _ series: [Series], groupedBy: String = "state") -> TimeChart {
        TimeChart(id: "t", title: "T", subtitle: "s", style: style, unit: unit, groupedBy: groupedBy, series: series, emptyMessage: "Nothing here")
    }

    /// Stacked bars: a rectangle per non-empty column, stacked in series order, on a 0…3 scale
    /// (168 px tall: 56 px a job), 100 units a column with 3 units of gap on each side.
    @Test func stackedBarsAreWhereTheCountsSay() {
        let completed = Series(label: "completed", values: [1, 2, nil, 0, nil, nil, nil, nil, nil, 3])
        let retryable = Series(label: "retryable", values: [1, nil, nil, nil, nil, nil, nil, nil, nil, nil])
        let html = TimeChartView.render(chart(.stacked, .jobs, [completed, retryable]), axis: axis, markers: [])
        let c = SVGReading.rects(SVGReading.path(class: "c2", in: html)!)  // completed: bluish green
        #expect(c.map(\.x) == [3, 103, 903])
        #expect(c.map(\.y) == [112, 56, 0])
        #expect(c.map(\.h) == [56, 112, 168])
        #expect(c.allSatisfy { $0.w == 94 })
        let r = SVGReading.rects(SVGReading.path(class: "c1", in: html)!)  // retryable: orange, on top of completed
        #expect(r.count == 1 && r[0].x == 3 && r[0].y == 56 && r[0].h == 56)
        // Value axis: 0, 1, 2, 3 jobs; the grid lines at their heights (the plot starts 20 px down).
        #expect(SVGReading.texts(inGroup: "ylab", of: html).map(\.text) == ["0", "1", "2", "3"])
        let grid = SVGReading.tags("line", in: html).filter { SVGReading.attribute("x2", of: $0) == "100%" }.compactMap { SVGReading.attribute("y1", of: $0) }
        #expect(grid == ["188", "132", "76", "20"])
        // Hover: one column per bucket with data, exact values and the total.
        #expect(html.contains("<title>07:51–07:52 UTC\ncompleted: 1\nretryable: 1\ntotal: 2</title>"))
        #expect(html.contains("<title>07:59–08:00 UTC\ncompleted: 3</title>") == false)
        #expect(html.contains("<title>08:00–08:01 UTC\ncompleted: 3</title>"))
        // Legend: order and label, with the total over the range.
        #expect(html.contains("<li><span class=\"sw c2\"></span>completed <b data-v=\"6\">6</b></li><li><span class=\"sw c1\"></span>retryable"))
        // Table: a row per column, empty buckets as a dash.
        #expect(html.contains("<tr><th scope=\"row\">07:51</th><td>1</td><td>1</td><td>2</td></tr>"))
        #expect(html.contains("<tr><th scope=\"row\">07:53</th><td>–</td><td>–</td><td>0</td></tr>"))
        SVGReading.expectFinite(html)
    }

    /// Time labels every 2 minutes on round times, at their place along the width.
    @Test func timeTicksAreOnRoundMinutes() {
        let html = TimeChartView.render(chart(.stacked, .jobs, []), axis: axis, markers: [])
        let labels = SVGReading.texts(inGroup: "xlab", of: html)
        #expect(labels.map(\.text) == ["07:52", "07:54", "07:56", "07:58", "08:00"])
        #expect(labels.compactMap { SVGReading.attribute("x", of: " " + $0.tag) } == ["10%", "30%", "50%", "70%", "90%"])
    }

    /// Lines go through the columns' centres, break where a bucket is empty, and a point with no
    /// neighbour gets a dot; durations are shown in the unit of their range (here ms).
    @Test func linesBreakAtGapsAndShowLonePoints() {
        let p50 = Series(label: "p50", values: [1e6, nil, 3e6, 4e6, nil, nil, nil, nil, 2e6, nil])
        let html = TimeChartView.render(chart(.lines, .nanoseconds, [p50], groupedBy: "quantile"), axis: axis, markers: [])
        let d = SVGReading.path(class: "c0", in: html)!
        let runs = SVGReading.runs(d).filter { !$0.isEmpty }
        #expect(runs.count == 3)
        #expect(runs[0].map(\.x) == [50] && runs[0].map(\.y) == [126])
        #expect(runs[1].map(\.x) == [250, 350] && runs[1].map(\.y) == [42, 0])
        #expect(runs[2].map(\.x) == [850] && runs[2].map(\.y) == [84])
        let dots = SVGReading.tags("circle", in: html).map { (SVGReading.attribute("cx", of: $0)!, SVGReading.attribute("cy", of: $0)!) }
        #expect(dots.map(\.0) == ["5%", "85%"] && dots.map(\.1) == ["146", "104"])
        #expect(SVGReading.texts(inGroup: "ylab", of: html).map(\.text) == ["0 ms", "1 ms", "2 ms", "3 ms", "4 ms"])
        #expect(html.contains("p50: 3 ms"))
        #expect(html.contains("peak 4 ms"))
        SVGReading.expectFinite(html)
    }

    /// Markers in the range are dashed vertical lines at their second, labelled above the plot;
    /// one before the range is not drawn.
    @Test func markersAreVerticalLinesAtTheirSecond() {
        let inside = Marker(ts: axis.first + 150, label: "deploy v42", nodes: ["a", "b"])
        let before = Marker(ts: axis.first - 10, label: "old", nodes: ["a"])
        let html = TimeChartView.render(chart(.stacked, .jobs, []), axis: axis, markers: [before, inside])
        let lines = SVGReading.tags("line", in: html).filter { html.contains("marker") && SVGReading.attribute("y1", of: $0) == "0" }
        #expect(lines.count == 2)  // the visible dashed line and its wider hover line
        #expect(lines.allSatisfy { SVGReading.attribute("x1", of: $0) == "250" && SVGReading.attribute("x2", of: $0) == "250" })
        let labels = SVGReading.texts(inGroup: "mlab", of: html)
        #expect(labels.map(\.text) == ["deploy v42"])
        #expect(SVGReading.attribute("x", of: " " + labels[0].tag) == "25%")
        #expect(html.contains("deploy v42 — 2027-01-15 07:53:30 UTC, marked on a, b"))
        #expect(!html.contains(">old<"))
    }

    /// Nothing to draw: the axes and a message, no marks; all zeros: a 0…1 axis and no bars.
    @Test func emptyAndAllZeroCharts() {
        let empty = TimeChartView.render(chart(.stacked, .jobs, []), axis: axis, markers: [])
        #expect(empty.contains(">Nothing here</text>"))
        #expect(SVGReading.tags("path", in: empty).isEmpty)
        #expect(SVGReading.texts(inGroup: "ylab", of: empty).map(\.text) == ["0", "1"])
        let zeros = Series(label: "completed", values: Array(repeating: 0, count: 10))
        let html = TimeChartView.render(chart(.stacked, .jobs, [zeros]), axis: axis, markers: [])
        #expect(!html.contains(">Nothing here</text>"))  // zeros are data
        #expect(SVGReading.path(class: "c2", in: html) == nil)
        let line = TimeChartView.render(chart(.lines, .jobs, [zeros]), axis: axis, markers: [])
        let points = SVGReading.runs(SVGReading.path(class: "c2", in: line)!).flatMap { $0 }
        #expect(points.count == 10 && points.allSatisfy { $0.y == 168 })
        SVGReading.expectFinite(html + line + empty)
    }

    /// A single point is a dot at its column's centre, on a scale topped by its value.
    @Test func aSinglePoint() {
        var values = [Double?](repeating: nil, count: 10)
        values[4] = 7
        let html = TimeChartView.render(chart(.lines, .jobs, [Series(label: "queue-a", values: values)], groupedBy: "queue"), axis: axis, markers: [])
        let dots = SVGReading.tags("circle", in: html)
        #expect(dots.count == 1)
        #expect(SVGReading.attribute("cx", of: dots[0]) == "45%")
        // 7 on an axis of 0…8 (ticks of 2): 168 − 7/8·168 = 21, plus the 20 px above the plot.
        #expect(SVGReading.attribute("cy", of: dots[0]) == "41")
        #expect(SVGReading.texts(inGroup: "ylab", of: html).map(\.text) == ["0", "2", "4", "6", "8"])
    }

    /// A huge outlier tops the scale; the rest sit at the bottom; nothing overflows or is NaN,
    /// and NaN or infinite inputs are gaps.
    @Test func aHugeOutlierAndNonFiniteInput() {
        let values: [Double?] = [1, 1, 1e300, .nan, .infinity, 2, nil, 1, 1, 1]
        let html = TimeChartView.render(chart(.lines, .nanoseconds, [Series(label: "p99", values: values)], groupedBy: "quantile"), axis: axis, markers: [])
        let points = SVGReading.runs(SVGReading.path(class: "c3", in: html)!).flatMap { $0 }
        #expect(points.count == 7)  // NaN and infinity left out, the empty bucket too
        #expect(points.map(\.y).filter { $0 == 0 }.count == 1)
        #expect(points.map(\.y).filter { $0 == 168 }.count == 6)
        let bars = TimeChartView.render(chart(.stacked, .jobs, [Series(label: "completed", values: values)]), axis: axis, markers: [])
        let rects = SVGReading.rects(SVGReading.path(class: "c2", in: bars)!)
        #expect(rects.count == 7 && rects.contains { $0.y == 0 && $0.h == 168 })
        SVGReading.expectFinite(html + bars)
    }
}
