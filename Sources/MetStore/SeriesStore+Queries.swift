import MetValues

/// The five queries of DESIGN §7: `series`, `labels`, `latest`, `timeslice`, `summary`.
///
/// Each of `latest`, `timeslice` and `summary` is planned, then run: `prepare…` reads the
/// store (call it under the lock of whoever owns the store) and returns the computation, which
/// reads only the copies the plan took, so the owner can run it after releasing its lock.
extension SeriesStore {
    /// Most windows one query may produce (lookback ÷ by).
    package static let maxWindows = 100_000
    /// Columns a timeslice aims at when its resolution follows the range.
    package static let defaultColumns = 100
    /// Resolutions a timeslice picks from when `by` is omitted (seconds).
    static let niceSteps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400]

    /// Values of `label` seen on any series with a point in the last `lookback` seconds.
    package func labels(_ label: String, lookback: Int, now: Int64) -> [String] {
        guard let key = catalog.existingStringID(label) else { return [] }
        let start = now - Int64(lookback)
        var values = Set<UInt32>()
        for (i, t) in timelines.enumerated() where !t.isEmpty && t.header(t.count - 1).end > start {
            if let v = catalog.labelValue(catalog.keys[i].labels, key: key) { values.insert(v) }
        }
        return values.map { catalog.strings[Int($0)] }.sorted()
    }

    /// Points per window of `by` seconds, per group: `[{ts, label, value}]` ordered by time then
    /// label. Without `by` the resolution follows the range (``resolution(start:end:now:)``).
    /// Grouping by `state` lists every job state in each window, with 0 when empty; `fill` gives
    /// every group that has a point in the range every window.
    package func timeslice(_ sel: Selection, by: Int? = 5, op: QueryOp? = nil, fill: Fill? = nil, now: Int64) throws(QueryError) -> [SliceRow] {
        try prepareTimeslice(sel, by: by, op: op, fill: fill, now: now)()
    }

    package func prepareTimeslice(_ sel: Selection, by: Int?, op: QueryOp?, fill: Fill?, now: Int64) throws(QueryError) -> () -> [SliceRow] {
        let (start, end) = try window(sel, now: now)
        let by = by ?? resolution(start: start, end: end, now: now)
        try Self.checkBy(by, start: start, end: end)
        let first = bucketStart(start, step: by)
        let plan = try plan(sel, first: first, last: end, by: by, perBucket: op == .max || op == .avg)
        let op = op ?? (plan.kind == .sketch ? .quantile(0.99) : .sum)
        try Self.check(op, plan.kind)
        let fillStates = sel.group == "state" && plan.kind != .sketch
        return { Self.sliceRows(plan, first: first, last: end, by: by, op: op, fill: fill, fillStates: fillStates) }
    }

    static func sliceRows(_ plan: Plan, first: Int64, last: Int64, by: Int, op: QueryOp, fill: Fill?, fillStates: Bool) -> [SliceRow] {
        let (first, windows, acc) = accumulate(plan, first: first, last: last, by: by, op: op)
        // Filled: every group with a point anywhere in the range, in every window.
        var filled = Set<Int>()
        if fill != nil {
            for g in plan.groups.indices where (0..<windows).contains(where: { acc[g * windows + $0].seen }) { filled.insert(g) }
        }
        var rows: [SliceRow] = []
        for w in 0..<windows {
            let ts = first + Int64(w) * Int64(by)
            var window: [SliceRow] = []
            for (g, name) in plan.groups.enumerated() {
                let a = acc[g * windows + w]
                if a.seen, let v = value(a, kind: plan.kind, op: op) {
                    window.append(SliceRow(ts: ts, label: name, value: v))
                } else if filled.contains(g) {
                    window.append(SliceRow(ts: ts, label: name, value: fill == .zero ? 0 : nil))
                }
            }
            if fillStates, fill != nil || !window.isEmpty {
                let present = Set(window.map(\.label))
                for s in JobState.allCases where !present.contains(s.rawValue) {
                    window.append(SliceRow(ts: ts, label: s.rawValue, value: fill == .null ? nil : 0))
                }
            }
            window.sort { $0.label < $1.label }
            rows.append(contentsOf: window)
        }
        return rows
    }

    /// The resolution of a timeslice over `[start, end]` when none is asked for: about
    /// ``defaultColumns`` windows, on a step of ``niceSteps`` that is a multiple of the step the
    /// tiers keep at `start` (the coarsest in the range), so no window splits a stored bucket.
    package func resolution(start: Int64, end: Int64, now: Int64) -> Int {
        let span = Int(Swift.max(1, end - start + 1))
        let stored = tiers.targetStep(for: start, now: now) ?? tiers.tiers[tiers.tiers.count - 1].step
        let wanted = Swift.max(stored, (span + Self.defaultColumns - 1) / Self.defaultColumns)
        if let nice = Self.niceSteps.first(where: { $0 >= wanted && $0 % stored == 0 }) { return nice }
        return (wanted + stored - 1) / stored * stored
    }

    /// Count, sum, min, max, p50, p95, p99 per window and group of a sketch series.
    package func summary(_ sel: Selection, by: Int = 60, now: Int64) throws(QueryError) -> [SummaryRow] {
        try prepareSummary(sel, by: by, now: now)()
    }

    package func prepareSummary(_ sel: Selection, by: Int, now: Int64) throws(QueryError) -> () -> [SummaryRow] {
        let (start, end) = try window(sel, now: now)
        try Self.checkBy(by, start: start, end: end)
        let first = bucketStart(start, step: by)
        let plan = try plan(sel, first: first, last: end, by: by, perBucket: false)
        guard plan.kind == .sketch else { throw .invalidOperation(op: "summary", kind: plan.kind) }
        return { Self.summaryRows(plan, first: first, last: end, by: by) }
    }

    static func summaryRows(_ plan: Plan, first: Int64, last: Int64, by: Int) -> [SummaryRow] {
        let (first, windows, acc) = accumulate(plan, first: first, last: last, by: by, op: .quantile(0.5))
        var rows: [SummaryRow] = []
        for w in 0..<windows {
            let ts = first + Int64(w) * Int64(by)
            var window: [SummaryRow] = []
            for (g, name) in plan.groups.enumerated() {
                let s = acc[g * windows + w].merged()
                guard s.count > 0 else { continue }
                window.append(SummaryRow(
                    ts: ts, label: name, count: s.count, sum: s.sum, min: s.min, max: s.max,
                    p50: s.quantile(0.5) ?? 0, p95: s.quantile(0.95) ?? 0, p99: s.quantile(0.99) ?? 0))
            }
            window.sort { $0.label < $1.label }
            rows.append(contentsOf: window)
        }
        return rows
    }

    /// The current value per group: for gauges the sum of each series' latest level within the
    /// lookback; for counts the total over the lookback; for sketches `op` (default p50) over the
    /// lookback. Ungrouped results use the key `"all"`; grouping by `state` lists every state.
    package func latest(_ sel: Selection, op: QueryOp? = nil, now: Int64) throws(QueryError) -> [String: Double] {
        try prepareLatest(sel, op: op, now: now)()
    }

    package func prepareLatest(_ sel: Selection, op: QueryOp?, now: Int64) throws(QueryError) -> () -> [String: Double] {
        let (start, end) = try window(sel, now: now)
        let span = Int(end - start) + 1
        let plan = try plan(sel, first: start, last: end, by: span, perBucket: op == .max || op == .avg)
        let op = op ?? (plan.kind == .sketch ? .quantile(0.5) : .sum)
        try Self.check(op, plan.kind)
        let (group, kind) = (sel.group, plan.kind)
        return {
            var result = Self.latestValues(plan, start: start, end: end, op: op)
            if group == "state" && kind != .sketch {
                for s in JobState.allCases where result[s.rawValue] == nil { result[s.rawValue] = 0 }
            } else if group == nil && result.isEmpty && kind != .sketch {
                result["all"] = 0
            }
            return result
        }
    }

    static func latestValues(_ plan: Plan, start: Int64, end: Int64, op: QueryOp) -> [String: Double] {
        var result: [String: Double] = [:]
        if plan.kind == .gauge {
            for source in plan.sources {
                let t = source.timeline
                let u = t.upperBound(end)
                guard u > 0, t.header(u - 1).end > start else { continue }
                let g = t.gaugeValue(u - 1)
                result[plan.groups[source.group], default: 0] += op == .max ? g.max : op == .avg ? g.average : g.last
            }
            return result
        }
        let span = Int(end - start) + 1
        let (_, windows, acc) = accumulate(plan, first: start, last: end, by: span, op: op)
        for (g, name) in plan.groups.enumerated() {
            for w in 0..<windows where acc[g * windows + w].seen {
                if let v = value(acc[g * windows + w], kind: plan.kind, op: op) { result[name, default: 0] += v }
            }
        }
        return result
    }

    static func checkBy(_ by: Int, start: Int64, end: Int64) throws(QueryError) {
        guard by > 0 else { throw .invalidParameter("by must be a positive number of seconds") }
        guard (end - start) / Int64(by) < Int64(maxWindows) else {
            throw .invalidParameter("lookback / by gives more than \(maxWindows) windows")
        }
    }
}
