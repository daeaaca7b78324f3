import MetDashboard
import Testing

/// Reading back what a renderer drew: elements, attributes, path geometry.
enum SVGReading {
    /// The opening tags of `name` elements (`<path ...>`), in order.
    static func tags(_ name: String, in html: String) -> [String] {
        let pattern = try! Regex("<\(name) [^>]*>")
        return html.matches(of: pattern).map { String(html[$0.range]) }
    }

    /// An attribute of a tag.
    static func attribute(_ name: String, of tag: String) -> String? {
        guard let r = tag.firstRange(of: " \(name)=\"") else { return nil }
        let rest = tag[r.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    /// The `d` of the `<path>` with `class`.
    static func path(class cls: String, in html: String) -> String? {
        tags("path", in: html).first { attribute("class", of: $0) == cls }.flatMap { attribute("d", of: $0) }
    }

    /// Rectangles of a bar path written as `M x,y h w v h h -w z`.
    static func rects(_ d: String) -> [(x: Double, y: Double, w: Double, h: Double)] {
        d.split(separator: "z").compactMap { part in
            let nums = numbers(String(part))
            guard nums.count >= 5 else { return nil }
            return (nums[0], nums[1], nums[2], nums[3])
        }
    }

    /// Points of a line path: every `M` starts a new run.
    static func runs(_ d: String) -> [[(x: Double, y: Double)]] {
        d.split(separator: "M").map { run in
            run.split(separator: "L").map { p in
                let xy = p.split(separator: ",").map { Double($0)! }
                return (xy[0], xy[1])
            }
        }
    }

    /// Every number in a string, signs included.
    static func numbers(_ s: String) -> [Double] {
        s.matches(of: /-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?/).compactMap { Double($0.output.0) }
    }

    /// The texts of `<text>` elements inside the `<g class="cls">` group.
    static func texts(inGroup cls: String, of html: String) -> [(tag: String, text: String)] {
        guard let start = html.firstRange(of: "<g class=\"\(cls)\">") else { return [] }
        let rest = html[start.upperBound...]
        let group = rest[..<(rest.firstRange(of: "</g>")?.lowerBound ?? rest.endIndex)]
        return group.matches(of: /<text ([^>]*)>([^<]*)/).map { (String($0.output.1), String($0.output.2)) }
    }

    /// Fails when the output holds a number that is not finite or a NaN.
    static func expectFinite(_ html: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let lower = html.lowercased()
        for bad in ["nan", "inf\"", "infinity", "=\"-inf", "e+308"] {
            #expect(!lower.contains(bad), "the output contains \(bad)", sourceLocation: sourceLocation)
        }
    }
}

/// Data for the charts' tests.
enum Fixture {
    static let now: Int64 = 1_800_000_000
    static func axis(columns: Int = 10, step: Int = 60) -> TimeAxis { TimeAxis(endingAt: now, step: step, columns: columns) }

    static func page(executed: [Series] = [], exec: [Series] = [], markers: [Marker] = [], axis: TimeAxis = axis()) -> DashboardPage {
        DashboardPage(
            cluster: "test", node: "a", now: now, axis: axis,
            executed: TimeChart(id: "executed", title: "Jobs executed", subtitle: "jobs per 60 s", style: .stacked, unit: .jobs,
                                groupedBy: "state", series: executed),
            jobCounts: JobCounts(live: [("available", 3), ("executing", 1)], keyframeAge: 2,
                                 history: TimeChart(id: "job-counts", title: "Jobs by state over time", subtitle: "", style: .lines,
                                                    unit: .jobs, groupedBy: "state", series: [])),
            execTime: TimeChart(id: "exec-time", title: "Execution time", subtitle: "", style: .lines, unit: .nanoseconds,
                                groupedBy: "quantile", series: exec),
            waitTime: TimeChart(id: "wait-time", title: "Wait time", subtitle: "", style: .lines, unit: .nanoseconds, groupedBy: "quantile",
                                series: []),
            histogram: Histogram(), executing: Executing(groupedBy: "queue", rows: [("default", 2)]),
            clusterPanel: ClusterPanel(members: [.init(name: "a", address: "127.0.0.1:1", status: "self", connected: true, seq: 4)]),
            markers: markers)
    }
}
