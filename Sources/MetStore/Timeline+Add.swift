import MetValues

/// Folding one value into a timeline: the delta path and the rollups' path.
extension Timeline {
    /// Folds a value for bucket `[ts, ts + step)` in: into the point containing it when that
    /// point is at least as coarse; otherwise the finer points of that bucket and the value
    /// become one point of `step`; otherwise a new point. Returns the bucket that holds it.
    ///
    /// With `skipIncluded` (an origin's batch applied to its own timeline) the value is skipped,
    /// returning `nil`, when the containing point already folded in batch `seq` or a later one:
    /// every copy of an origin's data is a prefix of its batches, so a point whose newest batch
    /// is at least `seq` already holds batch `seq` (it came in with a snapshot).
    @discardableResult
    mutating func add(_ value: StoredValue, ts: Int64, step: Int, seq: UInt64, skipIncluded: Bool = false) -> (start: Int64, step: Int)? {
        if let i = index(containing: ts), Int(header(i).step) >= step {
            let h = header(i)
            if skipIncluded && h.seq >= seq { return nil }
            switch value {
            case .count(let n):
                var c = Count(countValue(i))
                c.add(n)
                setCount(i, c.value)
            default:
                let merged = ValueMath.combine([stored(i), value], kind: kind)
                replace(i..<(i + 1), with: [PointRecord(header: h, value: merged)])
            }
            setSeq(i, seq)
            return (h.start, Int(h.step))
        }
        let j0 = lowerBound(ts)
        let j1 = lowerBound(ts + Int64(step))
        if skipIncluded && (j0..<j1).contains(where: { header($0).seq >= seq }) { return nil }
        let bucket = PointHeader(seq: seq, ts: UInt32(ts), step: UInt16(step))
        if j0 < j1 {
            let values = (j0..<j1).map { stored($0) } + [value]
            var h = bucket
            h.seq = Swift.max(seq, maxSeq(j0..<j1))
            replace(j0..<j1, with: [PointRecord(header: h, value: ValueMath.combine(values, kind: kind))])
        } else {
            if j0 < count { needsFullCompaction = true }
            replace(j0..<j0, with: [PointRecord(header: bucket, value: value)])
        }
        return (ts, step)
    }

}
