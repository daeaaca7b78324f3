import MetDashboard
import Testing

/// The controls in the URL, and the text of numbers and times.
@Suite struct ControlsAndFormatTests {
    @Test func controlsRoundTripThroughTheURL() throws {
        let query = "range=2h&group=queue&queue=default&queue=mail+ers&state=completed,retryable&op=p99&unknown=1"
        let c = try DashboardControls(query: URLQuery.parse(query))
        #expect(c.range == .twoHours && c.group == "queue" && c.op == .p99)
        #expect(c.filters == ["queue": ["default", "mail ers"], "state": ["completed", "retryable"]])
        #expect(c.queryString == "range=2h&group=queue&queue=default&queue=mail%20ers&state=completed&state=retryable&op=p99")
        #expect(try DashboardControls(query: URLQuery.parse(c.queryString)) == c)
        #expect(DashboardControls().queryString == "")
        #expect(try DashboardControls(query: URLQuery.parse("op=&queue=")) == DashboardControls())  // an empty select is auto
        #expect(URLQuery.decode("%C3%A9t%C3%A9%2") == "été%2")
    }

    /// The form: the current controls checked; a label with thousands of values lists 200.
    @Test func theFormShowsTheControls() {
        let workers = (0..<5000).map { "W\($0)" }
        let html = ControlsView.render(DashboardControls(range: .twoHours, group: "queue", filters: ["worker": ["W4999"]], op: .p95),
                                       choices: FilterChoices(["worker": workers, "queue": ["a&b"]]))
        #expect(html.contains("<input type=\"radio\" name=\"range\" value=\"2h\" checked>"))
        #expect(html.contains("<option value=\"queue\" selected>") && html.contains("<option value=\"p95\" selected>"))
        #expect(html.contains("<input type=\"checkbox\" name=\"worker\" value=\"W4999\" checked>"))
        #expect(html.ranges(of: "name=\"worker\"").count == 200 && html.contains("4800 more: add ?worker=NAME to the URL"))
        #expect(html.contains("value=\"a&amp;b\""))
    }

    @Test func badControlsAreRefusedByName() {
        #expect(throws: DashboardControls.Invalid.self) { try DashboardControls(query: [("range", "3d")]) }
        #expect(throws: DashboardControls.Invalid.self) { try DashboardControls(query: [("group", "color")]) }
        #expect(throws: DashboardControls.Invalid.self) { try DashboardControls(query: [("op", "p42")]) }
        do {
            _ = try DashboardControls(query: [("range", "3d")])
        } catch {
            #expect(error.description == "range must be one of 5m, 30m, 2h, all, not \"3d\"")
        }
    }

    /// Filters apply to the series that have their label; the others are named.
    @Test func filtersForASeries() {
        let c = DashboardControls(filters: ["queue": ["a"], "worker": ["W"], "state": ["completed"]])
        let (kept, ignored) = c.filters(for: ["queue", "state"])
        #expect(kept == ["queue": ["a"], "state": ["completed"]] && ignored == ["worker"])
    }

    @Test func numbersAndTimes() {
        #expect(Format.fixed(12.345, 2) == "12.35" && Format.fixed(100, 2) == "100" && Format.fixed(-0.25, 2) == "-0.25")
        #expect(Format.fixed(.nan, 2) == "0" && Format.fixed(.infinity, 2) == "0" && Format.fixed(0.001, 2) == "0")
        #expect(Format.fixed(1e300, 2) == "1e+300")
        #expect(Format.integer(1_234_567) == "1,234,567" && Format.compact(1500) == "1500" && Format.compact(15_000) == "15k")
        #expect(Format.duration(950) == "0.95 µs" && Format.duration(12_345_678) == "12.35 ms" && Format.duration(2.5e9) == "2.5 s")
        #expect(Format.timestamp(1_800_000_000) == "2027-01-15 08:00:00 UTC" && Format.timestamp(0) == "1970-01-01 00:00:00 UTC")
        #expect(Format.clock(1_800_000_059, seconds: false) == "08:00")
        #expect(Format.age(59) == "59 s" && Format.age(600) == "10 min" && Format.age(7500) == "2 h 05 min")
        #expect(Format.bytes(812) == "812 B" && Format.bytes(3 << 20) == "3 MiB")
    }

    @Test func scales() {
        let s = LinearScale(maximum: 1234)
        #expect(s.step == 500 && s.top == 1500 && s.ticks == [0, 500, 1000, 1500])
        #expect(LinearScale(maximum: 1234, count: 6).ticks == [0, 250, 500, 750, 1000, 1250])
        #expect(LinearScale(maximum: 0).ticks == [0, 0.25, 0.5, 0.75, 1])
        let huge = LinearScale(maximum: .greatestFiniteMagnitude)
        #expect(huge.top.isFinite && huge.ticks.allSatisfy(\.isFinite))
        let log = LogScale(lower: 3e5, upper: 2e8)
        #expect(log.lower == 1e5 && log.upper == 1e9 && log.position(1e7) == 0.5)
        #expect(TimeTicks.ticks(first: 1_800_000_000 - 300, end: 1_800_000_005).times.count <= 6)
        let axis = TimeAxis(endingAt: 1_800_000_059, step: 60, columns: 120)
        #expect(axis.start(119) == 1_800_000_000 && axis.column(of: 1_800_000_059) == 119 && axis.column(of: axis.first - 1) == nil)
    }
}
