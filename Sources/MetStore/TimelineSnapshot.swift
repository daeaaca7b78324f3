import MetValues

/// One timeline with decoded values, for loading data from outside the mesh (tests, tools,
/// benchmarks). It merges exactly like a snapshot chunk: bucket windows keep the copy with the
/// newer batch of the origin.
package struct TimelineSnapshot: Sendable {
    package struct Point: Sendable {
        package var ts: Int64
        package var step: Int
        package var seq: UInt64
        package var value: PointValue

        package init(ts: Int64, step: Int, seq: UInt64, value: PointValue) {
            self.ts = ts
            self.step = step
            self.seq = seq
            self.value = value
        }
    }

    package var series: String
    package var labels: LabelSet
    package var origin: Origin
    package var points: [Point]

    package init(series: String, labels: LabelSet, origin: Origin, points: [Point]) {
        self.series = series
        self.labels = labels
        self.origin = origin
        self.points = points
    }
}

extension SeriesStore {
    /// Merges one timeline. Points must be sorted, aligned to their step and not overlap.
    @discardableResult
    package func merge(_ t: TimelineSnapshot, now: Int64) throws(DecodeError) -> MergeStats {
        guard let kind = t.points.first?.value.kind else { return MergeStats() }
        var previousEnd = Int64.min
        var points: [PointRecord] = []
        points.reserveCapacity(t.points.count)
        for p in t.points {
            guard p.value.kind == kind, p.step >= 1, p.step <= Int(UInt16.max), p.ts >= 0, p.ts % Int64(p.step) == 0,
                p.ts >= previousEnd, p.ts + Int64(p.step) <= Int64(UInt32.max)
            else { throw .invalid("timeline point \(p.ts)/\(p.step)") }
            previousEnd = p.ts + Int64(p.step)
            points.append(PointRecord(header: PointHeader(seq: p.seq, ts: UInt32(p.ts), step: UInt16(p.step)), value: StoredValue(p.value)))
        }
        var stats = MergeStats()
        merge(TimelineData(series: t.series, kind: kind, labels: t.labels, origin: t.origin, points: points), now: now, stats: &stats)
        return stats
    }
}
