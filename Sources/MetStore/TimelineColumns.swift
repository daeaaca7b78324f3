import MetValues

/// The points of a timeline, column by column: a header array plus one value column of the
/// series' kind. Sketch points live back to back in a byte arena (`ends[i]` is the end of point
/// `i`, the last point's end being the arena's: `ends` holds one fewer than the points), so a
/// timeline costs a handful of allocations however many points it holds. A timeline of one
/// point that fits is held inline instead (``InlinePoint``).
struct TimelineColumns: Sendable {
    var headers: [PointHeader] = []
    var counts: [Int64] = []
    var gauges: [Gauge] = []
    /// End of each sketch point but the last (whose end is `arena.count`).
    var ends: [UInt32] = []
    var arena: [UInt8] = []

    init() {}

    /// The columns of one inline point.
    init(_ p: InlinePoint, kind: SeriesKind) {
        append(PointRecord(header: p.header, value: p.stored(kind)))
    }

    /// Heap bytes held (capacities).
    var heapBytes: Int {
        func bytes<T>(_ a: [T]) -> Int { a.capacity == 0 ? 0 : 32 + a.capacity * MemoryLayout<T>.stride }
        return bytes(headers) + bytes(counts) + bytes(gauges) + bytes(ends) + bytes(arena)
    }

    /// Where sketch point `i` starts and ends in the arena.
    @inline(__always) func sketchRange(_ i: Int) -> Range<Int> {
        (i == 0 ? 0 : Int(ends[i - 1]))..<(i == headers.count - 1 ? arena.count : Int(ends[i]))
    }

    func stored(_ i: Int, kind: SeriesKind) -> StoredValue {
        switch kind {
        case .count: .count(counts[i])
        case .gauge: .gauge(gauges[i])
        case .sketch: .sketch(arena[sketchRange(i)])
        }
    }

    mutating func append(_ r: PointRecord) {
        appendValue(r.value)
        headers.append(r.header)
    }

    /// Appends a point's value (before its header: a sketch first stores the end of the point
    /// that is last no more).
    private mutating func appendValue(_ v: StoredValue) {
        switch v {
        case .count(let n): counts.append(n)
        case .gauge(let g): gauges.append(g)
        case .sketch(let bytes):
            if !headers.isEmpty { ends.append(UInt32(arena.count)) }
            arena.append(contentsOf: bytes)
        }
    }

    /// Replaces points `range` with `records` (sorted, not overlapping their neighbours).
    mutating func replace(_ range: Range<Int>, with records: [PointRecord], kind: SeriesKind) {
        if range.lowerBound == headers.count, range.isEmpty {
            for r in records { append(r) }
            return
        }
        let n = headers.count
        headers.replaceSubrange(range, with: records.map(\.header))
        switch kind {
        case .count:
            counts.replaceSubrange(range, with: records.map { if case .count(let n) = $0.value { n } else { 0 } })
        case .gauge:
            gauges.replaceSubrange(range, with: records.map { if case .gauge(let g) = $0.value { g } else { Gauge(0) } })
        case .sketch:
            // Here `range` is not empty or lies before the last point, so `lowerBound < n`.
            func end(_ k: Int) -> Int { k == n - 1 ? arena.count : Int(ends[k]) }
            let startByte = range.lowerBound == 0 ? 0 : Int(ends[range.lowerBound - 1])
            let endByte = range.isEmpty ? startByte : end(range.upperBound - 1)
            var bytes: [UInt8] = []
            // Every end from the first replaced point on, the last point's included.
            var newEnds: [UInt32] = []
            newEnds.reserveCapacity(records.count)
            for r in records {
                if case .sketch(let b) = r.value { bytes.append(contentsOf: b) }
                newEnds.append(UInt32(startByte + bytes.count))
            }
            let delta = bytes.count - (endByte - startByte)
            for k in range.upperBound..<n { newEnds.append(UInt32(end(k) + delta)) }
            arena.replaceSubrange(startByte..<endByte, with: bytes)
            ends.removeSubrange(range.lowerBound...)
            if newEnds.isEmpty {
                // The points from `lowerBound` on are gone: the one before is the last now.
                if !ends.isEmpty { ends.removeLast() }
            } else {
                newEnds.removeLast()
                ends.append(contentsOf: newEnds)
            }
            if ends.isEmpty && ends.capacity > 0 { ends = [] }
        }
    }
}
