import MetDashboard
import MetRuntime
import MetStore
import MetValues

/// The charts of the page, each from one or two collector queries on the shared axis.
extension DashboardSource {
    /// The subtitle's "per 30 s".
    var perColumn: String { "per \(axis.step % 60 == 0 && axis.step >= 120 ? "\(axis.step / 60) min" : "\(axis.step) s")" }

    /// A group's name on the charts: `exec_count`'s `scheduled` is a snoozed job.
    func display(_ label: String, group: String) -> String { group == "state" && label == "scheduled" ? "snoozed" : label }

    /// Orders groups: the final states in their fixed order, anything else by `rank` (largest first), then name.
    func ordered(_ groups: [String: [Double?]], group: String, rank: ([Double?]) -> Double) -> [(String, [Double?])] {
        if group == "state" {
            return Self.finalStates.compactMap { s in groups[s].map { (s, $0) } }
                + groups.filter { !Self.finalStates.contains($0.key) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        return groups.map { ($0.key, $0.value) }.sorted { rank($0.1) != rank($1.1) ? rank($0.1) > rank($1.1) : $0.0 < $1.0 }
    }

    static func total(_ v: [Double?]) -> Double { v.reduce(0) { $0 + ($1 ?? 0) } }
    static func peak(_ v: [Double?]) -> Double { v.reduce(0) { max($0, $1 ?? 0) } }
    static func allZero(_ v: [Double?]) -> Bool { v.allSatisfy { ($0 ?? 0) == 0 } }

    /// Jobs executed per column (`exec_count`), stacked by the group; with `op=max`, the busiest
    /// stored bucket of each column, as lines. Beyond seven groups the smallest are summed as "other".
    func executed() -> TimeChart {
        let group = controls.group
        let (sel, ignored) = selection("exec_count", labels: Self.jobLabels, group: group)
        let peak = controls.op == .max
        var chart = TimeChart(id: "executed", title: "Jobs executed",
                              subtitle: peak ? "the busiest \(axis.step == settings.tiers.finestStep ? "second" : "stored bucket") \(perColumn), by \(group)"
                                  : "jobs finished \(perColumn), by final \(group == "state" ? "state" : group)",
                              style: peak ? .lines : .stacked, unit: .jobs, groupedBy: group, series: [],
                              emptyMessage: "No jobs executed in this range")
        do throws(QueryError) {
            var groups = try columns(sel, op: peak ? .max : .sum, fill: .zero)
            groups = groups.filter { !Self.allZero($0.value) }
            var ordered = self.ordered(groups, group: group, rank: peak ? Self.peak : Self.total)
            if ordered.count > Palette.maxGroups {
                let rest = ordered[(Palette.maxGroups - 1)...]
                chart.hiddenGroups = rest.count
                ordered = Array(ordered.prefix(Palette.maxGroups - 1))
                if !peak {
                    let other = (0..<axis.columns).map { i -> Double? in
                        let vs = rest.compactMap { $0.1[i] }
                        return vs.isEmpty ? nil : vs.reduce(0, +)
                    }
                    ordered.append(("other", other))
                }
            }
            chart.series = ordered.map { Series(label: display($0.0, group: group), values: $0.1) }
        } catch {
            chart.note = "Query failed: \(error)"
        }
        if !ignored.isEmpty { chart.note = note(ignored: ignored) }
        return chart
    }

    /// Execution or wait time: p50, p95 and p99 of every job in the selection per column
    /// (auto); with an operation, that statistic per group (at most seven, slowest first).
    func timing(_ series: String, title: String, id: String) -> TimeChart {
        let group = controls.group
        var chart = TimeChart(id: id, title: title, subtitle: "", style: .lines, unit: .nanoseconds, groupedBy: "quantile", series: [],
                              emptyMessage: "No jobs executed in this range")
        do throws(QueryError) {
            switch controls.op {
            case nil:
                let (sel, ignored) = selection(series, labels: Self.jobLabels, group: nil)
                chart.subtitle = "p50, p95 and p99 of the jobs finished \(perColumn)"
                if !ignored.isEmpty { chart.note = note(ignored: ignored) }
                var p50 = [Double?](repeating: nil, count: axis.columns)
                var (p95, p99) = (p50, p50)
                let rows: [SummaryRow]
                do throws(QueryError) { rows = try collector.summary(sel, by: axis.step, now: now) } catch .unknownSeries { rows = [] }
                for r in rows {
                    guard let i = axis.column(of: r.ts) else { continue }
                    (p50[i], p95[i], p99[i]) = (r.p50, r.p95, r.p99)
                }
                chart.series = rows.isEmpty ? [] : [Series(label: "p50", values: p50), Series(label: "p95", values: p95), Series(label: "p99", values: p99)]
            case let op?:
                let (sel, ignored) = selection(series, labels: Self.jobLabels, group: group)
                if !ignored.isEmpty { chart.note = note(ignored: ignored) }
                let queryOp: QueryOp = switch op {
                case .sum: .sum
                case .max: .max
                case .p50: .quantile(0.5)
                case .p95: .quantile(0.95)
                case .p99: .quantile(0.99)
                }
                chart.groupedBy = group
                chart.subtitle = op == .sum ? "total time of the jobs finished \(perColumn), by \(group)" : "\(op.rawValue) of the jobs finished \(perColumn), by \(group)"
                let groups = try columns(sel, op: queryOp, fill: .null).filter { $0.value.contains { $0 != nil } }
                let ordered = groups.map { ($0.key, $0.value) }.sorted { Self.peak($0.1) != Self.peak($1.1) ? Self.peak($0.1) > Self.peak($1.1) : $0.0 < $1.0 }
                chart.hiddenGroups = max(0, ordered.count - Palette.maxGroups)
                chart.series = ordered.prefix(Palette.maxGroups).map { Series(label: display($0.0, group: group), values: $0.1) }
            }
        } catch {
            chart.note = "Query failed: \(error)"
        }
        return chart
    }

    /// The execution times of the selection over the whole range, from the merged sketch's bins.
    func histogram() -> Histogram {
        let (sel, _) = selection("exec_time", labels: Self.jobLabels, group: nil)
        let sketch: Sketch
        do throws(QueryError) {
            let compute = try collector.withStore { store in Result { () throws(QueryError) in try store.prepareMergedSketch(sel, now: now) } }.get()
            sketch = compute()
        } catch {
            return Histogram()
        }
        var points: [(value: Double, count: UInt64)] = []
        sketch.forEachBin { sign, index, count in
            if sign > 0 { points.append((IndexMapping.representative(index), count)) }
        }
        return Histogram.gathering(points, zeros: sketch.zeroCount, p50: sketch.quantile(0.5), p95: sketch.quantile(0.95),
                                   p99: sketch.quantile(0.99), max: sketch.count > 0 ? sketch.max : nil)
    }

    /// `full_count` now (the keyframe plus the transitions since) and its history per column.
    func jobCounts(status: ClusterStatus) -> JobCounts {
        let group = controls.group == "queue" ? "queue" : "state"
        let (sel, ignored) = selection("full_count", labels: ["queue", "state"], group: group)
        var history = TimeChart(id: "job-counts", title: "Jobs by state over time",
                                subtitle: "jobs in each \(group) at the end of each column, as the leader counted them",
                                style: .lines, unit: .jobs, groupedBy: group, series: [],
                                emptyMessage: "No job counts in this range: no leader has counted yet")
        do throws(QueryError) {
            let groups = try columns(sel, op: .sum, fill: .null).filter { !Self.allZero($0.value) }
            let order = group == "state" ? JobState.allCases.map(\.rawValue) : groups.keys.sorted { Self.peak(groups[$0]!) > Self.peak(groups[$1]!) }
            let shown = order.compactMap { g in groups[g].map { (g, $0) } }
            history.hiddenGroups = max(0, shown.count - Palette.maxGroups - 1)
            history.series = shown.prefix(Palette.maxGroups + 1).map { Series(label: $0.0, values: $0.1) }
        } catch {
            history.note = "Query failed: \(error)"
        }
        if !ignored.isEmpty { history.note = note(ignored: ignored, why: "job counts are kept per queue and state") }
        guard let counts = collector.fullCount().counts else {
            return JobCounts(live: nil, unavailable: "No keyframe yet (\(noKeyframeReason(status)))", history: history)
        }
        var stateOnly = sel
        stateOnly.group = "state"
        let live = (try? FullCountQuery.latest(counts, stateOnly)) ?? [:]
        let states = JobState.allCases.map(\.rawValue).filter { s in controls.filters["state"].map { $0.contains(s) } ?? true }
        return JobCounts(live: states.map { ($0, live[$0] ?? 0) }, keyframeAge: status.keyframe?.age,
                         estimatedGroups: status.keyframe?.estimatedGroups ?? 0, history: history)
    }

    func noKeyframeReason(_ s: ClusterStatus) -> String {
        if let reason = s.fullCount.reason { return reason }
        if s.postgres.configured, s.postgres.reachable == false {
            return "Postgres is unreachable\(s.postgres.lastError.map { ": " + $0 } ?? "")"
        }
        if s.leadership.leader == nil {
            return s.postgres.configured ? "no leader yet" : "this node has no database and no leader has sent a keyframe"
        }
        return "waiting for the first keyframe of \(s.leadership.leader!)"
    }

    /// Jobs executing now by node (group by node), worker (by worker) or queue (otherwise).
    func executing() -> Executing {
        let group = controls.group == "node" || controls.group == "worker" ? controls.group : "queue"
        var (sel, _) = selection("executing", labels: ["node", "queue", "worker"], group: group)
        // The level is sent every batch while it is not zero: a few intervals back is "now".
        sel.since = nil
        sel.lookback = max(5, Int((settings.broadcastInterval * 3).rounded(.up)))
        let latest = (try? collector.latest(sel, now: now)) ?? [:]
        return Executing(groupedBy: group, rows: latest.filter { $0.value > 0 }.map { ($0.key, $0.value) })
    }

    func note(ignored: [String], why: String = "the series has no such label") -> String {
        "Not filtered by \(ignored.joined(separator: " or ")): \(why)."
    }
}
