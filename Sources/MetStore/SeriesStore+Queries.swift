import MetValues

/// The five queries of DESIGN §7: `series`, `labels`, `latest`, `timeslice`, `summary`.
extension SeriesStore {
    /// Most windows one query may produce (lookback ÷ by).
    package static let maxWindows = 100_000

    /// Values of `label` seen on any series with a point in the last `lookback` seconds.
    package func labels(_ label: String, lookback: Int, now: Int64) -> [String] {
        guard let key = catalog.existingStringID(label) else { return [] }
        let start = now - Int64(lookback)
        var values = Set<UInt32>()
        for (i, t) in timelines.enumerated() where !t.isEmpty && t.headers[t.count - 1].end > start {
            if let v = catalog.labelValue(catalog.keys[i].labels, key: key) { values.insert(v) }
        }
        return values.map { catalog.strings[Int($0)] }.sorted()
    }

    /// Points per window of `by` seconds, per group: `[{ts, label, value}]` ordered by time then
    /// label. Grouping by `state` lists every job state in each window, with 0 when empty.
    package func timeslice(_ sel: Selection, by: Int = 5, op: QueryOp? = nil, now: Int64) throws(QueryError) -> [SliceRow] {
        let start = try window(sel, now: now)
        try Self.checkBy(by, start: start, now: now)
        let plan = try plan(sel, first: bucketStart(start, step: by), now: now, by: by, perBucket: op == .max || op == .avg)
        let op = op ?? (plan.kind == .sketch ? .quantile(0.99) : .sum)
        try Self.check(op, plan.kind)
        let (first, windows, acc) = accumulate(plan, first: bucketStart(start, step: by), now: now, by: by, op: op)
        var rows: [SliceRow] = []
        let fillStates = sel.group == "state" && plan.kind != .sketch
        for w in 0..<windows {
            let ts = first + Int64(w) * Int64(by)
            var window: [SliceRow] = []
            for (g, name) in plan.groups.enumerated() {
                let a = acc[g * windows + w]
                guard a.seen, let v = value(a, kind: plan.kind, op: op) else { continue }
                window.append(SliceRow(ts: ts, label: name, value: v))
            }
            if fillStates, !window.isEmpty {
                let present = Set(window.map(\.label))
                for s in JobState.allCases where !present.contains(s.rawValue) {
                    window.append(SliceRow(ts: ts, label: s.rawValue, value: 0))
                }
            }
            window.sort { $0.label < $1.label }
            rows.append(contentsOf: window)
        }
        return rows
    }

    /// Count, sum, min, max, p50, p95, p99 per window and group of a sketch series.
    package func summary(_ sel: Selection, by: Int = 60, now: Int64) throws(QueryError) -> [SummaryRow] {
        let start = try window(sel, now: now)
        try Self.checkBy(by, start: start, now: now)
        let plan = try plan(sel, first: bucketStart(start, step: by), now: now, by: by, perBucket: false)
        guard plan.kind == .sketch else { throw .invalidOperation(op: "summary", kind: plan.kind) }
        let (first, windows, acc) = accumulate(plan, first: bucketStart(start, step: by), now: now, by: by, op: .quantile(0.5))
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
        let start = try window(sel, now: now)
        let plan = try plan(sel, first: start, now: now, by: Int(now - start) + 1, perBucket: op == .max || op == .avg)
        let op = op ?? (plan.kind == .sketch ? .quantile(0.5) : .sum)
        try Self.check(op, plan.kind)
        var result: [String: Double] = [:]
        if plan.kind == .gauge {
            for source in plan.sources {
                let t = source.timeline
                let u = t.upperBound(now)
                guard u > 0, t.headers[u - 1].end > start else { continue }
                let g = t.gauges[u - 1]
                result[plan.groups[source.group], default: 0] += op == .max ? g.max : op == .avg ? g.average : g.last
            }
        } else {
            let span = Int(now - start) + 1
            let (_, windows, acc) = accumulate(plan, first: start, now: now, by: span, op: op)
            for (g, name) in plan.groups.enumerated() {
                for w in 0..<windows where acc[g * windows + w].seen {
                    if let v = value(acc[g * windows + w], kind: plan.kind, op: op) { result[name, default: 0] += v }
                }
            }
        }
        if sel.group == "state" && plan.kind != .sketch {
            for s in JobState.allCases where result[s.rawValue] == nil { result[s.rawValue] = 0 }
        } else if sel.group == nil && result.isEmpty && plan.kind != .sketch {
            result["all"] = 0
        }
        return result
    }

    static func checkBy(_ by: Int, start: Int64, now: Int64) throws(QueryError) {
        guard by > 0 else { throw .invalidParameter("by must be a positive number of seconds") }
        guard (now - start) / Int64(by) < Int64(maxWindows) else {
            throw .invalidParameter("lookback / by gives more than \(maxWindows) windows")
        }
    }
}
