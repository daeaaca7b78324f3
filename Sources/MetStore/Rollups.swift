/// Per-label rollups: for a busy count or sketch series, one extra timeline per label value (and
/// one for the whole series) holding the sum of every timeline with that value, bucket by
/// bucket. A grouped query then reads a few dozen rollup timelines instead of thousands of
/// series (the `timeslice.ms_10k_2h` figure).
///
/// Rollups are derived state, kept exact by mirroring every change of the timelines they sum:
/// deltas are added, compaction merges their buckets the same way, and a snapshot merge that
/// replaces a bucket subtracts the old copy and adds the new one (the new copy always contains
/// the old one, see `SeriesStore+Snapshot.swift`, so the subtraction never goes below zero).
/// Gauges have none: a sum of levels is not a level of sums over time.
struct RollupIndex: Sendable {
    /// Rollup timeline summing the whole series.
    var all: Int
    /// `(label key id << 32) | value id` → rollup timeline.
    var byLabel: [UInt64: Int] = [:]
}

extension SeriesStore {
    /// Called once for each new timeline, after its first point is in.
    func timelineCreated(_ id: UInt32) {
        let key = catalog.keys[Int(id)]
        let s = Int(key.series)
        if rollups[s] != nil {
            for i in 0..<timelines[Int(id)].count {
                let r = timelines[Int(id)].record(i)
                addToRollups(timeline: id, r.value, (r.header.start, Int(r.header.step)))
            }
        } else if catalog.series[s].kind != .gauge, catalog.series[s].timelines.count >= rollupThreshold {
            buildRollups(series: s)
        }
    }

    /// Rollup timelines a timeline contributes to, created on demand.
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
                rollupTimelines.append(Timeline(kind: catalog.series[s].kind))
                index.byLabel[k] = rollupTimelines.count - 1
                targets.append(rollupTimelines.count - 1)
            }
        }
        rollups[s] = index
        return targets
    }

    func addToRollups(timeline id: UInt32, _ value: StoredValue, _ bucket: (start: Int64, step: Int)) {
        guard rollups[Int(catalog.keys[Int(id)].series)] != nil else { return }
        for t in rollupTargets(id) { rollupTimelines[t].add(value, ts: bucket.start, step: bucket.step, seq: 0) }
    }

    func subtractFromRollups(timeline id: UInt32, _ value: StoredValue, at ts: Int64) {
        guard rollups[Int(catalog.keys[Int(id)].series)] != nil else { return }
        for t in rollupTargets(id) { rollupTimelines[t].subtract(value, ts: ts) }
    }

    /// Builds the rollups of a series from its timelines (once, when it becomes busy).
    func buildRollups(series s: Int) {
        rollupTimelines.append(Timeline(kind: catalog.series[s].kind))
        rollups[s] = RollupIndex(all: rollupTimelines.count - 1)
        for id in catalog.series[s].timelines {
            for i in 0..<timelines[Int(id)].count {
                let r = timelines[Int(id)].record(i)
                addToRollups(timeline: id, r.value, (r.header.start, Int(r.header.step)))
            }
        }
    }

    /// The rollup timeline for `label = value` of a series, if the series has rollups.
    func rollupTimeline(series s: Int, label: String?, value: String?) -> Int?? {
        guard let index = rollups[s] else { return nil }
        guard let label, let value else { return .some(index.all) }
        guard let k = catalog.existingStringID(label), let v = catalog.existingStringID(value) else { return .some(nil) }
        return .some(index.byLabel[(UInt64(k) << 32) | UInt64(v)])
    }
}
