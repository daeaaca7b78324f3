import MetValues

/// Changing a timeline's points. Each change runs on its columns (an inline point becomes
/// columns first) and the result goes back inline when it is one point that fits; the common
/// changes of a one-point timeline never leave it.
extension Timeline {
    mutating func append(_ r: PointRecord) {
        if isEmpty, let p = InlinePoint(r.header, r.value) {
            storage = .one(p)
            return
        }
        withColumns { $0.append(r) }
    }

    /// Replaces points `range` with `records` (sorted, not overlapping their neighbours).
    mutating func replace(_ range: Range<Int>, with records: [PointRecord]) {
        if records.count == 1, range == 0..<count, count <= 1, let p = InlinePoint(records[0].header, records[0].value) {
            storage = .one(p)
            return
        }
        let kind = kind
        withColumns { $0.replace(range, with: records, kind: kind) }
    }

    mutating func setSeq(_ i: Int, _ seq: UInt64) {
        if case .one(var p) = storage {
            precondition(i == 0, "point index out of range")
            p.seq = Swift.max(p.seq, seq)
            storage = .one(p)
            return
        }
        withColumns { $0.headers[i].seq = Swift.max($0.headers[i].seq, seq) }
    }

    mutating func setCount(_ i: Int, _ n: Int64) {
        if case .one(var p) = storage {
            precondition(i == 0, "point index out of range")
            p.count = n
            storage = .one(p)
            return
        }
        withColumns { $0.counts[i] = n }
    }

    /// Rewrites the whole timeline from records, with exact capacities.
    mutating func rebuild(_ records: some Collection<PointRecord>) {
        var c = TimelineColumns()
        if records.count > 1 {
            c.headers.reserveCapacity(records.count)
            switch kind {
            case .count: c.counts.reserveCapacity(records.count)
            case .gauge: c.gauges.reserveCapacity(records.count)
            case .sketch:
                c.ends.reserveCapacity(records.count - 1)
                var total = 0
                for r in records { if case .sketch(let b) = r.value { total += b.count } }
                c.arena.reserveCapacity(total)
            }
        }
        for r in records { c.append(r) }
        self = Timeline(kind: kind, columns: c)
    }

    /// Runs `body` on the columns, then stores them (inline when they hold one point that fits).
    private mutating func withColumns<R>(_ body: (inout TimelineColumns) -> R) -> R {
        var c: TimelineColumns
        switch storage {
        case .one(let p): c = TimelineColumns(p, kind: kind)
        case .columns(let held): c = held
        }
        // `c` now holds the only reference to the arrays: changing them copies nothing.
        storage = .columns(TimelineColumns())
        let result = body(&c)
        storage = Self.storage(c, kind: kind)
        return result
    }
}
