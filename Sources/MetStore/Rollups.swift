import MetValues

/// Per-label rollups: for a busy count or sketch series, one extra timeline for the whole
/// series and, for each label key that queries group by, one per value of that key, holding
/// the sum of every timeline with that value, bucket by bucket. A grouped query then reads a few
/// dozen rollup timelines instead of thousands of series (the `timeslice.ms_10k_2h` figure).
///
/// Rollups are derived state, built when a query first needs them: the whole-series rollup for
/// any query of the series, a key's rollups for the first query grouped by that key, each in
/// one pass over the series. Batches add to them as they add to the timelines, and compaction
/// merges their buckets by the same rule, so they stay the exact sums. A snapshot merge, which
/// may replace buckets wholesale, drops the series' rollups instead. A key with more than
/// ``SeriesStore/maxRollupValuesPerLabel`` values (queue names made per tenant) gets none:
/// grouping by it scans, which costs no more than building and keeping its rollups would.
/// Gauges have none: a sum of levels is not a level of sums over time.
struct RollupIndex: Sendable {
    /// The rollup timelines; `all` sums the whole series.
    var timelines: [Timeline]
    var all: Int
    /// `(label key id << 32) | value id` → rollup timeline.
    var byLabel: [UInt64: Int] = [:]
    /// Label keys whose per-value rollups exist and are kept up to date.
    var builtKeys: Set<UInt32> = []
    /// Label keys with too many values to roll up.
    var overflowKeys: Set<UInt32> = []
    /// Values rolled up per built key.
    var valueCounts: [UInt32: Int] = [:]

    init(kind: SeriesKind) {
        timelines = [Timeline(kind: kind)]
        all = 0
    }
}

extension SeriesStore {
    /// Most values of one label key that get rollups of their own in one series.
    package static let maxRollupValuesPerLabel = 1000

    /// Called once for each new timeline, after its first points are in.
    func timelineCreated(_ id: UInt32) {
        let s = Int(catalog.keys[Int(id)].series)
        guard rollups[s] != nil else { return }
        let t = timelines[Int(id)]
        var scratch = Sketch()
        let records = (0..<t.count).map { t.record($0) }
        for target in rollupTargets(id) { rollups[s]!.timelines[target].addAll(records, scratch: &scratch) }
    }

    /// Indices (into the series' rollup timelines) a timeline contributes to: the whole-series
    /// rollup and, for each built key, its value's rollup (created on demand; a key that passes
    /// the value limit gives its rollups up). The index is changed in place: a copy per new
    /// label value would make building the rollups of a series with many values quadratic.
    func rollupTargets(_ id: UInt32) -> [Int] {
        let key = catalog.keys[Int(id)]
        let s = Int(key.series)
        guard rollups[s] != nil else { return [] }
        var targets = [rollups[s]!.all]
        for p in catalog.pairs(ofLabelSet: key.labels) where rollups[s]!.builtKeys.contains(p.key) {
            if let t = rollupTarget(series: s, key: p.key, value: p.value) { targets.append(t) }
        }
        return targets
    }

    /// The rollup of one value of a built key, made if needed; nil once the key overflowed.
    private func rollupTarget(series s: Int, key: UInt32, value: UInt32) -> Int? {
        let packed = (UInt64(key) << 32) | UInt64(value)
        if let t = rollups[s]!.byLabel[packed] { return t }
        guard rollups[s]!.builtKeys.contains(key) else { return nil }
        if valuesRolledUp(series: s, key: key) >= Self.maxRollupValuesPerLabel {
            dropRollups(series: s, key: key)
            return nil
        }
        rollups[s]!.timelines.append(Timeline(kind: catalog.series[s].kind))
        rollups[s]!.byLabel[packed] = rollups[s]!.timelines.count - 1
        rollups[s]!.valueCounts[key, default: 0] += 1
        return rollups[s]!.timelines.count - 1
    }

    private func valuesRolledUp(series s: Int, key: UInt32) -> Int { rollups[s]!.valueCounts[key, default: 0] }

    /// Gives up the rollups of one label key of a series (too many values): their timelines are
    /// emptied (indices stay valid) and grouped queries by that key scan instead.
    func dropRollups(series s: Int, key: UInt32) {
        rollups[s]!.builtKeys.remove(key)
        rollups[s]!.overflowKeys.insert(key)
        rollups[s]!.valueCounts[key] = nil
        for (packed, t) in rollups[s]!.byLabel where UInt32(packed >> 32) == key {
            rollups[s]!.timelines[t] = Timeline(kind: catalog.series[s].kind)
            rollups[s]!.byLabel[packed] = nil
        }
    }

    func addToRollups(timeline id: UInt32, _ value: StoredValue, _ bucket: (start: Int64, step: Int)) {
        let s = Int(catalog.keys[Int(id)].series)
        guard rollups[s] != nil else { return }
        for t in rollupTargets(id) { rollups[s]!.timelines[t].add(value, ts: bucket.start, step: bucket.step, seq: 0) }
    }

    /// Forgets a series' rollups (after a snapshot merge); they are rebuilt when next needed.
    func dropRollups(series s: Int) { rollups[s] = nil }

    /// Makes sure a busy count or sketch series has its whole-series rollup and, when `key` is
    /// given, that key's rollups (unless it has too many values), each built in one pass: every
    /// rollup gets all its members' points, sorted, summed window by window.
    func ensureRollups(series s: Int, key: UInt32?) {
        guard catalog.series[s].kind != .gauge, catalog.series[s].timelines.count >= rollupThreshold else { return }
        if rollups[s] == nil {
            rollups[s] = RollupIndex(kind: catalog.series[s].kind)
            build(series: s) { _ in [rollups[s]!.all] }
        }
        guard let key, !rollups[s]!.builtKeys.contains(key), !rollups[s]!.overflowKeys.contains(key) else { return }
        // Count the key's values first: a key over the limit is never built.
        var values = Set<UInt32>()
        for id in catalog.series[s].timelines {
            if let v = catalog.labelValue(catalog.keys[Int(id)].labels, key: key) { values.insert(v) }
            if values.count > Self.maxRollupValuesPerLabel { break }
        }
        guard values.count <= Self.maxRollupValuesPerLabel else {
            rollups[s]!.overflowKeys.insert(key)
            return
        }
        rollups[s]!.builtKeys.insert(key)
        build(series: s) { id in
            catalog.labelValue(catalog.keys[Int(id)].labels, key: key).flatMap { rollupTarget(series: s, key: key, value: $0) }.map { [$0] } ?? []
        }
    }

    /// Adds every timeline of series `s` to the rollups `targets` names for it, in one pass.
    private func build(series s: Int, targets: (UInt32) -> [Int]) {
        var members: [Int: [PointRecord]] = [:]
        for id in catalog.series[s].timelines {
            let t = timelines[Int(id)]
            guard !t.isEmpty else { continue }
            for target in targets(id) {
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

extension SeriesStore {
    /// The label keys a series has rollups for, and those it gave up (for tests).
    package func rollupKeys(series: String) -> (built: Set<String>, overflow: Set<String>) {
        guard let s = catalog.seriesID(series), let index = rollups[Int(s)] else { return ([], []) }
        return (Set(index.builtKeys.map { catalog.strings[Int($0)] }), Set(index.overflowKeys.map { catalog.strings[Int($0)] }))
    }
}
