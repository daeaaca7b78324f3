import MetValues

/// Answers queries by folding points into per-(window, group) accumulators. Grouped count and
/// sketch queries read the per-label rollups when the series has them and the filters allow;
/// everything else scans the matching timelines.
extension SeriesStore {
    /// Where a query's points come from: a timeline (or rollup) and the group it belongs to.
    struct Source {
        var timeline: Timeline
        var group: Int
    }

    /// What a query reads: copies of the timelines (or rollups) it folds, each with its group.
    /// Taken under the store owner's lock, it is read without it: the copies share storage with
    /// the store until the store next changes those timelines (copy-on-write), so a query sees
    /// the store as it was when planned and never holds writers up while it computes.
    struct Plan: Sendable {
        var kind: SeriesKind
        var groups: [String]
        var sources: [Source]
        var fromRollups = false
    }

    /// Plans a query whose windows are `by` seconds from `first`, up to `last`. Rollups are used
    /// only when each of their buckets in range lies inside one window; a coarser bucket (merged
    /// from a snapshot) could hold finer points that a scan would place in several windows.
    func plan(_ sel: Selection, first: Int64, last: Int64, by: Int, perBucket: Bool) throws(QueryError) -> Plan {
        // Count max/avg are per stored bucket, which rollups (buckets of many series) cannot answer.
        let p = try plan(sel, allowRollups: !perBucket)
        guard p.fromRollups else { return p }
        for source in p.sources {
            let t = source.timeline
            var i = t.index(containing: first) ?? t.lowerBound(first)
            while i < t.count, t.header(i).start <= last {
                let h = t.header(i)
                let startWindow = (h.start - first) / Int64(by)
                let endWindow = (h.end - 1 - first) / Int64(by)
                if h.start < first || startWindow != endWindow { return try plan(sel, allowRollups: false) }
                i += 1
            }
        }
        return p
    }

    func plan(_ sel: Selection, allowRollups: Bool) throws(QueryError) -> Plan {
        guard let sid = catalog.seriesID(sel.series) else { throw .unknownSeries(sel.series) }
        let s = Int(sid)
        let kind = catalog.series[s].kind
        var groups: [String] = []
        var groupIndex: [String: Int] = [:]
        func group(_ name: String) -> Int {
            if let g = groupIndex[name] { return g }
            groups.append(name)
            groupIndex[name] = groups.count - 1
            return groups.count - 1
        }
        // Rollups answer an ungrouped query, or one grouped by a label filtered on that label only.
        let filterLabels = Set(sel.filters.map(\.label))
        let groupKey = sel.group.flatMap { catalog.existingStringID($0) }
        let rollupsAnswer = sel.filters.isEmpty || (sel.group != nil && filterLabels == [sel.group!] && sel.filters.count == 1)
        if allowRollups, rollupsAnswer { ensureRollups(series: s, key: groupKey) }
        if allowRollups, rollupsAnswer, kind != .gauge, let index = rollups[s], groupKey.map({ index.builtKeys.contains($0) }) ?? (sel.group == nil) {
            guard let label = sel.group else {
                return Plan(kind: kind, groups: ["all"], sources: [Source(timeline: index.timelines[index.all], group: 0)], fromRollups: true)
            }
            var sources: [Source] = []
            let allowed = sel.filters.first.map { Set($0.values) }
            if let key = catalog.existingStringID(label) {
                for (packed, t) in index.byLabel where UInt32(packed >> 32) == key {
                    let value = catalog.strings[Int(UInt32(truncatingIfNeeded: packed))]
                    if let allowed, !allowed.contains(value) { continue }
                    sources.append(Source(timeline: index.timelines[t], group: group(value)))
                }
            }
            return Plan(kind: kind, groups: groups, sources: sources, fromRollups: true)
        }
        // Scan: resolve filters to ids once, then test each timeline's labels.
        var filters: [(key: UInt32, values: Set<UInt32>)] = []
        for f in sel.filters {
            guard let key = catalog.existingStringID(f.label) else { return Plan(kind: kind, groups: [], sources: []) }
            filters.append((key, Set(f.values.compactMap { catalog.existingStringID($0) })))
        }
        if sel.group != nil, groupKey == nil { return Plan(kind: kind, groups: [], sources: []) }
        var sources: [Source] = []
        var orderKeys: [String] = []
        for id in catalog.series[s].timelines {
            let labels = catalog.keys[Int(id)].labels
            guard filters.allSatisfy({ f in catalog.labelValue(labels, key: f.key).map { f.values.contains($0) } ?? false }) else {
                continue
            }
            var g = 0
            if let key = groupKey {
                guard let v = catalog.labelValue(labels, key: key) else { continue }
                g = group(catalog.strings[Int(v)])
            } else {
                g = group("all")
            }
            sources.append(Source(timeline: timelines[Int(id)], group: g))
            if kind == .gauge { orderKeys.append(sortKey(id)) }
        }
        if kind == .gauge {
            // Gauge statistics (averages) are not integers: add them in an order every replica
            // shares, so that replicas holding the same data give the same answer to the last bit.
            let order = orderKeys.indices.sorted { orderKeys[$0] < orderKeys[$1] }
            sources = order.map { sources[$0] }
        }
        return Plan(kind: kind, groups: groups, sources: sources)
    }

    /// A replica-independent name of a timeline: its origin and labels.
    func sortKey(_ id: UInt32) -> String {
        let key = catalog.keys[Int(id)]
        return "\(catalog.origins[Int(key.origin)])\u{1}\(catalog.labelSet(key.labels))"
    }

    /// Accumulated points of one window and group.
    struct WindowAcc {
        var total = 0.0
        var maxValue = -Double.infinity
        var points = 0.0
        var sketch = Sketch()
        /// The window's only sketch point so far, still encoded: a window with one point is
        /// answered from its bytes, without building bins.
        var pending: ArraySlice<UInt8>?
        var seen = false

        /// All the window's sketch points merged.
        func merged() -> Sketch {
            guard let pending else { return sketch }
            var s = sketch
            ValueMath.mergeEncoded(pending, into: &s)
            return s
        }
    }

    /// Folds the plan's points starting in `[first, last]` into windows of `by` seconds from `first`.
    static func accumulate(_ plan: Plan, first: Int64, last: Int64, by: Int, op: QueryOp) -> (first: Int64, windows: Int, acc: [WindowAcc]) {
        let windows = Int((last - first) / Int64(by)) + 1
        var acc = [WindowAcc](repeating: WindowAcc(), count: windows * Swift.max(plan.groups.count, 1))
        // Count max/avg are over the group's per-bucket totals (labels summed first), so that a
        // rollup (already summed) and a scan give the same answer.
        let perBucket = plan.kind == .count && (op == .max || op == .avg)
        var bucketTotals: [Int: [Int64: Double]] = [:]
        for source in plan.sources {
            let t = source.timeline
            var i = t.lowerBound(first)
            // Gauges are combined per series first (last/max/avg over time), then added up.
            var gaugeWindow = -1
            var gaugeStat = Gauge(0)
            func flushGauge() {
                guard gaugeWindow >= 0 else { return }
                let k = source.group * windows + gaugeWindow
                acc[k].total += op == .max ? gaugeStat.max : op == .avg ? gaugeStat.average : gaugeStat.last
                acc[k].seen = true
            }
            while i < t.count, t.header(i).start <= last {
                let w = Int((t.header(i).start - first) / Int64(by))
                let k = source.group * windows + w
                switch plan.kind {
                case .count:
                    let v = Double(t.countValue(i))
                    acc[k].total += v
                    acc[k].seen = true
                    if perBucket { bucketTotals[k, default: [:]][t.header(i).start, default: 0] += v }
                case .gauge:
                    let g = t.gaugeValue(i)
                    if w != gaugeWindow {
                        flushGauge()
                        gaugeWindow = w
                        gaugeStat = g
                    } else {
                        gaugeStat.combine(later: g)
                    }
                case .sketch:
                    if !acc[k].seen {
                        acc[k].pending = t.sketchBytes(i)
                    } else {
                        if let p = acc[k].pending {
                            ValueMath.mergeEncoded(p, into: &acc[k].sketch)
                            acc[k].pending = nil
                        }
                        t.mergeSketch(i, into: &acc[k].sketch)
                    }
                    acc[k].seen = true
                }
                i += 1
            }
            flushGauge()
        }
        for (k, totals) in bucketTotals {
            acc[k].maxValue = totals.values.max() ?? 0
            acc[k].points = Double(totals.count)
        }
        return (first, windows, acc)
    }

    static func value(_ a: WindowAcc, kind: SeriesKind, op: QueryOp) -> Double? {
        switch kind {
        case .count:
            switch op {
            case .max: return a.maxValue
            case .avg: return a.points > 0 ? a.total / a.points : 0
            default: return a.total
            }
        case .gauge:
            return a.total
        case .sketch:
            if case .quantile(let q) = op, let p = a.pending { return (try? Sketch.quantile(q, encoded: p)) ?? nil }
            let s = a.merged()
            switch op {
            case .quantile(let q): return s.quantile(q)
            case .sum: return s.sum
            case .max: return s.count > 0 ? s.max : nil
            case .avg: return s.mean
            case .count: return Double(s.count)
            }
        }
    }

    static func check(_ op: QueryOp, _ kind: SeriesKind) throws(QueryError) {
        switch (kind, op) {
        case (.count, .quantile), (.count, .count), (.gauge, .quantile), (.gauge, .count):
            throw .invalidOperation(op: op.description, kind: kind)
        default: return
        }
    }

    /// The query's window `[start, end]`: it ends at `until` (default now) and starts at `since`
    /// or `lookback` seconds before its end.
    func window(_ sel: Selection, now: Int64) throws(QueryError) -> (start: Int64, end: Int64) {
        guard sel.lookback > 0, sel.lookback <= 10 * 365 * 86400 else { throw .invalidParameter("lookback must be a positive number of seconds") }
        let end = sel.until ?? now
        guard end >= 0 else { throw .invalidParameter("until must be unix seconds") }
        if let since = sel.since {
            guard since <= now else { throw .invalidParameter("since is in the future") }
            guard since <= end else { throw .invalidParameter("since is after until") }
            return (since, end)
        }
        return (end - Int64(sel.lookback) + 1, end)
    }
}
