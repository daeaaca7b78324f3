import MetValues

/// What the dashboard asks of the store beyond the queries of DESIGN §7: the merged sketch of
/// a selection (for the histogram of execution times) and the label sets of a series (for
/// markers, whose labels are their data).
extension SeriesStore {
    /// Every point of a sketch series in the selection's window merged into one sketch (its
    /// group ignored). Ungrouped and unfiltered, it reads the series' rollup when each of the
    /// rollup's buckets lies inside the window (start the window on a bucket boundary). Planned
    /// here (under the store owner's lock), computed by the returned closure (without it).
    package func prepareMergedSketch(_ sel: Selection, now: Int64) throws(QueryError) -> () -> Sketch {
        let (start, end) = try window(sel, now: now)
        var ungrouped = sel
        ungrouped.group = nil
        let span = Int(end - start) + 1
        let plan = try plan(ungrouped, first: start, last: end, by: span, perBucket: false)
        guard plan.kind == .sketch else { throw .invalidOperation(op: "histogram", kind: plan.kind) }
        return {
            let (_, _, acc) = Self.accumulate(plan, first: start, last: end, by: span, op: .quantile(0.5))
            var merged = Sketch()
            for a in acc where a.seen { merged.merge(a.merged()) }
            return merged
        }
    }

    /// The label sets of `series` with at least one point still held, each with the total of
    /// its points (counts summed; a gauge its last level; a sketch its number of points), unordered.
    package func labelSets(of series: String) -> [(labels: LabelSet, origin: Origin, total: Double)] {
        guard let sid = catalog.seriesID(series) else { return [] }
        var out: [(LabelSet, Origin, Double)] = []
        for id in catalog.series[Int(sid)].timelines {
            let t = timelines[Int(id)]
            guard !t.isEmpty else { continue }
            let key = catalog.keys[Int(id)]
            var total = 0.0
            for i in 0..<t.count {
                switch t.kind {
                case .count: total += Double(t.countValue(i))
                case .gauge: total = t.gaugeValue(i).last
                case .sketch: total += 1
                }
            }
            out.append((catalog.labelSet(key.labels), catalog.origins[Int(key.origin)], total))
        }
        return out
    }
}
