/// Compaction: merging aged points into the coarser buckets of the next tier and dropping
/// expired ones (see ``CompactionTiers``). It works one timeline at a time, so the extra memory
/// it needs is one timeline's worth, and callers can interleave it with queries.
public struct CompactionStats: Sendable, Equatable {
    public var timelinesChanged = 0
    public var pointsBefore = 0
    public var pointsAfter = 0

    public init() {}

    public static func += (a: inout CompactionStats, b: CompactionStats) {
        a.timelinesChanged += b.timelinesChanged
        a.pointsBefore += b.pointsBefore
        a.pointsAfter += b.pointsAfter
    }
}

extension SeriesStore {
    /// Compacts everything: every timeline and every rollup.
    @discardableResult
    public func compact(now: Int64) -> CompactionStats {
        var stats = compact(now: now, timelines: 0..<timelines.count)
        stats += compactRollups(now: now)
        return stats
    }

    /// Compacts a slice of the timelines (for callers that interleave compaction with queries).
    @discardableResult
    public func compact(now: Int64, timelines range: Range<Int>) -> CompactionStats {
        var stats = CompactionStats()
        for i in range.clamped(to: 0..<timelines.count) {
            stats += Self.compact(&timelines[i], tiers: tiers, now: now)
        }
        return stats
    }

    /// Compacts the rollups; they follow the same rule, so they stay the sums of the timelines.
    @discardableResult
    public func compactRollups(now: Int64) -> CompactionStats {
        var stats = CompactionStats()
        for i in rollupTimelines.indices { stats += Self.compact(&rollupTimelines[i], tiers: tiers, now: now) }
        return stats
    }

    static func compact(_ t: inout Timeline, tiers: CompactionTiers, now: Int64) -> CompactionStats {
        guard !t.isEmpty else { return CompactionStats() }
        // Only the points before the newest cut can change.
        let newestCut = tiers.cut(tier: 0, now: now)
        let end = t.needsFullCompaction ? t.count : t.lowerBound(newestCut)
        guard end > 0, t.needsFullCompaction || needsWork(t, tiers: tiers, now: now) else { return CompactionStats() }
        var records: [PointRecord] = []
        records.reserveCapacity(end)
        var group: [PointRecord] = []
        var groupStart: Int64 = 0
        var groupStep = 0
        func flush() {
            guard !group.isEmpty else { return }
            if group.count == 1, Int(group[0].header.step) == groupStep {
                records.append(group[0])
            } else {
                let seq = group.reduce(0) { Swift.max($0, $1.header.seq) }
                let value = ValueMath.combine(group.map(\.value), kind: t.kind)
                records.append(PointRecord(header: PointHeader(seq: seq, ts: UInt32(groupStart), step: UInt16(groupStep)), value: value))
            }
            group.removeAll(keepingCapacity: true)
        }
        for i in 0..<end {
            let h = t.headers[i]
            guard let target = tiers.targetStep(for: h.start, now: now) else { continue }  // expired
            let step = Swift.max(target, Int(h.step))
            let start = bucketStart(h.start, step: step)
            if group.isEmpty || start != groupStart || step != groupStep {
                flush()
                groupStart = start
                groupStep = step
            }
            group.append(t.record(i))
        }
        flush()
        let before = end
        t.replace(0..<end, with: records)
        t.needsFullCompaction = false
        var stats = CompactionStats()
        stats.timelinesChanged = 1
        stats.pointsBefore = before
        stats.pointsAfter = records.count
        return stats
    }

    /// True when a point before some tier's cut is still finer than that tier allows, or expired.
    static func needsWork(_ t: Timeline, tiers: CompactionTiers, now: Int64) -> Bool {
        let last = tiers.tiers.count - 1
        if t.headers[0].start < tiers.cut(tier: last, now: now) { return true }
        for i in 0..<last {
            let b = t.lowerBound(tiers.cut(tier: i, now: now))
            if b > 0 && Int(t.headers[b - 1].step) < tiers.tiers[i + 1].step { return true }
        }
        return false
    }
}
