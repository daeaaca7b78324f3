import MetValues

/// Compaction: merging aged points into the coarser buckets of the next tier and dropping
/// expired ones (see ``CompactionTiers``). It works one timeline at a time, so the extra memory
/// it needs is one timeline's worth, and callers can interleave it with queries.
package struct CompactionStats: Sendable, Equatable {
    package var timelinesChanged = 0
    package var pointsBefore = 0
    package var pointsAfter = 0

    package init() {}

    package static func += (a: inout CompactionStats, b: CompactionStats) {
        a.timelinesChanged += b.timelinesChanged
        a.pointsBefore += b.pointsBefore
        a.pointsAfter += b.pointsAfter
    }
}

extension SeriesStore {
    /// Compacts everything: every timeline and every rollup.
    @discardableResult
    package func compact(now: Int64) -> CompactionStats {
        var stats = compact(now: now, timelines: 0..<timelines.count)
        stats += compactRollups(now: now)
        refreshOriginsWithData()
        return stats
    }

    /// Compacts a slice of the timelines (for callers that interleave compaction with queries).
    @discardableResult
    package func compact(now: Int64, timelines range: Range<Int>) -> CompactionStats {
        var stats = CompactionStats()
        var scratch = Sketch()
        for i in range.clamped(to: 0..<timelines.count) {
            stats += Self.compact(&timelines[i], tiers: tiers, now: now, scratch: &scratch)
        }
        return stats
    }

    /// Compacts the rollups; they follow the same rule, so they stay the sums of the timelines.
    @discardableResult
    package func compactRollups(now: Int64) -> CompactionStats {
        var stats = CompactionStats()
        var scratch = Sketch()
        for s in rollups.indices where rollups[s] != nil {
            for i in rollups[s]!.timelines.indices {
                stats += Self.compact(&rollups[s]!.timelines[i], tiers: tiers, now: now, scratch: &scratch, keepPages: true)
            }
        }
        return stats
    }

    /// `keepPages`: the scratch keeps its pages between groups (rollups: sums over many label sets
    /// use most of the same pages every time); otherwise it drops them, so that encoding a
    /// timeline's small merged sketch visits only the pages it uses.
    static func compact(_ t: inout Timeline, tiers: CompactionTiers, now: Int64, scratch: inout Sketch, keepPages: Bool = false) -> CompactionStats {
        guard !t.isEmpty else { return CompactionStats() }
        // Only the points before the newest cut can change.
        let end = t.needsFullCompaction ? t.count : t.lowerBound(tiers.cut(tier: 0, now: now))
        guard end > 0, t.needsFullCompaction || needsWork(t, tiers: tiers, now: now) else { return CompactionStats() }
        var out = TimelineBuilder(kind: t.kind, capacity: t.count, arenaCapacity: t.sketchByteCount)
        var kept = 0
        // A group: consecutive points that share a target bucket.
        var groupFirst = -1
        var groupStart: Int64 = 0
        var groupStep = 0
        func flush(upTo i: Int) {
            guard groupFirst >= 0 else { return }
            let range = groupFirst..<i
            if range.count == 1 {
                // One point alone in its new bucket keeps its value: only the bucket changes.
                var h = t.header(groupFirst)
                h.ts = UInt32(groupStart)
                h.step = UInt16(groupStep)
                out.copy(t, range, as: h)
            } else {
                let seq = t.maxSeq(range)
                out.merge(t, range, as: PointHeader(seq: seq, ts: UInt32(groupStart), step: UInt16(groupStep)), scratch: &scratch, keepPages: keepPages)
            }
            kept += 1
            groupFirst = -1
        }
        let targets = tiers.targets(now: now)
        for i in 0..<end {
            let h = t.header(i)
            guard let target = targets.step(for: h.start) else {  // expired
                flush(upTo: i)
                continue
            }
            let step = Swift.max(target, Int(h.step))
            let start = bucketStart(h.start, step: step)
            if groupFirst < 0 || start != groupStart || step != groupStep {
                flush(upTo: i)
                groupFirst = i
                groupStart = start
                groupStep = step
            }
        }
        flush(upTo: end)
        out.copy(t, end..<t.count)
        t = out.finish()
        var stats = CompactionStats()
        stats.timelinesChanged = 1
        stats.pointsBefore = end
        stats.pointsAfter = kept
        return stats
    }

    /// True when a point before some tier's cut is still finer than that tier allows, or expired.
    static func needsWork(_ t: Timeline, tiers: CompactionTiers, now: Int64) -> Bool {
        let last = tiers.tiers.count - 1
        if t.header(0).start < tiers.cut(tier: last, now: now) { return true }
        for i in 0..<last {
            let b = t.lowerBound(tiers.cut(tier: i, now: now))
            if b > 0 && Int(t.header(b - 1).step) < tiers.tiers[i + 1].step { return true }
        }
        return false
    }
}
