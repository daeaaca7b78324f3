import MetValues

/// Per-label rollups: for a busy count or sketch series, one extra timeline per label value (and
/// one for the whole series) holding the sum of every timeline with that value, bucket by
/// bucket. A grouped query then reads a few dozen rollup timelines instead of thousands of
/// series (the `timeslice.ms_10k_2h` figure).
///
/// Rollups are derived state. Batches add to them as they add to the timelines, and compaction
/// merges their buckets by the same rule, so they stay the exact sums. A snapshot merge, which
/// may replace buckets wholesale, drops the series' rollups instead; the next query that can use
/// them rebuilds them in one pass. Gauges have none: a sum of levels is not a level of sums over
/// time.
struct RollupIndex: Sendable {
    /// The rollup timelines; `all` sums the whole series.
    var timelines: [Timeline]
    var all: Int
    /// `(label key id << 32) | value id` → rollup timeline.
    var byLabel: [UInt64: Int] = [:]

    init(kind: SeriesKind) {
        timelines = [Timeline(kind: kind)]
        all = 0
    }
}

extension SeriesStore {
    /// Called once for each new timeline, after its first points are in.
    func timelineCreated(_ id: UInt32) {
        guard rollups[Int(catalog.keys[Int(id)].series)] != nil else { return }
        let t = timelines[Int(id)]
        var scratch = Sketch()
        let records = (0..<t.count).map { t.record($0) }
        for target in rollupTargets(id) { rollups[Int(catalog.keys[Int(id)].series)]!.timelines[target].addAll(records, scratch: &scratch) }
    }

    /// Indices (into the series' rollup timelines) a timeline contributes to, created on demand.
    func rollupTargets(_ id: UInt32) -> [Int] {
        let key = catalog.keys[Int(id)]
        let s = Int(key.series)
        guard var index = rollups[s] else { return [] }
        var targets = [index.all]
        for p in catalog.labelSets[Int(key.labels)] {
            let k = (UInt64(p.key) << 32) | UInt64(p.value)
            if let t = index.byLabel[k] {
                targets.append(t)
            } else {
                index.timelines.append(Timeline(kind: catalog.series[s].kind))
                index.byLabel[k] = index.timelines.count - 1
                targets.append(index.timelines.count - 1)
            }
        }
        rollups[s] = index
        return targets
    }

    func addToRollups(timeline id: UInt32, _ value: StoredValue, _ bucket: (start: Int64, step: Int)) {
        let s = Int(catalog.keys[Int(id)].series)
        guard rollups[s] != nil else { return }
        for t in rollupTargets(id) { rollups[s]!.timelines[t].add(value, ts: bucket.start, step: bucket.step, seq: 0) }
    }

    /// Forgets a series' rollups (after a snapshot merge); they are rebuilt when next needed.
    func dropRollups(series s: Int) { rollups[s] = nil }

    /// Makes sure a busy count or sketch series has rollups, building them in one pass: every
    /// rollup gets all its members' points, sorted, summed window by window.
    func ensureRollups(series s: Int) {
        guard rollups[s] == nil, catalog.series[s].kind != .gauge, catalog.series[s].timelines.count >= rollupThreshold else { return }
        rollups[s] = RollupIndex(kind: catalog.series[s].kind)
        var members: [Int: [PointRecord]] = [:]
        for id in catalog.series[s].timelines {
            let t = timelines[Int(id)]
            for target in rollupTargets(id) {
                members[target, default: []].append(contentsOf: (0..<t.count).map { t.record($0) })
            }
        }
        var scratch = Sketch()
        for (target, var records) in members {
            records.sort { $0.header.start < $1.header.start || ($0.header.start == $1.header.start && $0.header.step > $1.header.step) }
            rollups[s]!.timelines[target].addAll(records, scratch: &scratch)
        }
    }
}
