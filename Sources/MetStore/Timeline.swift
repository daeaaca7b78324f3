import MetValues

/// Where and when a point is, and the newest batch of its origin that touched it.
struct PointHeader: Sendable, Equatable {
    /// Sequence number of the newest batch of the origin folded into this point (0 for rollups).
    var seq: UInt64
    /// Bucket start, unix seconds.
    var ts: UInt32
    /// Bucket width, seconds.
    var step: UInt16

    @inline(__always) var start: Int64 { Int64(ts) }
    @inline(__always) var end: Int64 { Int64(ts) + Int64(step) }
}

/// A point's value as stored: sketches stay in their encoded form (a slice of the arena).
enum StoredValue: Sendable {
    case count(Int64)
    case gauge(Gauge)
    case sketch(ArraySlice<UInt8>)

    init(_ v: PointValue) {
        switch v {
        case .count(let n): self = .count(n)
        case .gauge(let g): self = .gauge(g)
        case .sketch(let s): self = .sketch(s.encoded()[...])
        }
    }
}

/// One stored point, used when ranges of a timeline are rewritten.
struct PointRecord: Sendable {
    var header: PointHeader
    var value: StoredValue
}

/// The points of one series for one label set and one origin (or one rollup), in time order,
/// column by column: a header array plus one value column of the series' kind. Sketch points
/// live back to back in a byte arena (`ends[i]` is the end of point `i`, the last point's end
/// being the arena's: `ends` holds one fewer than the points, so a one-point sketch timeline is
/// two allocations, its header and its bytes), so a timeline costs a handful of allocations
/// however many points it holds. Buckets never overlap.
struct Timeline: Sendable {
    var headers: [PointHeader] = []
    var counts: [Int64] = []
    var gauges: [Gauge] = []
    /// End of each sketch point but the last (whose end is `arena.count`).
    var ends: [UInt32] = []
    var arena: [UInt8] = []
    /// Set when a point was inserted before newer ones; compaction then checks every point.
    // The two one-byte fields last: 42 bytes, a stride of 48 in the store's array (56 before).
    let kind: SeriesKind
    var needsFullCompaction = false

    init(kind: SeriesKind) { self.kind = kind }

    var count: Int { headers.count }
    var isEmpty: Bool { headers.isEmpty }

    /// Heap bytes held (capacities).
    var heapBytes: Int {
        func bytes<T>(_ a: [T]) -> Int { a.capacity == 0 ? 0 : 32 + a.capacity * MemoryLayout<T>.stride }
        return bytes(headers) + bytes(counts) + bytes(gauges) + bytes(ends) + bytes(arena)
    }

    // MARK: Reading

    /// Index of the first point starting after `ts`.
    func upperBound(_ ts: Int64) -> Int {
        var lo = 0
        var hi = headers.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if headers[mid].start <= ts { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Index of the first point starting at or after `ts`.
    func lowerBound(_ ts: Int64) -> Int {
        var lo = 0
        var hi = headers.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if headers[mid].start < ts { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The point whose bucket contains `ts`.
    func index(containing ts: Int64) -> Int? {
        let u = upperBound(ts)
        return u > 0 && headers[u - 1].end > ts ? u - 1 : nil
    }

    /// Where sketch point `i` starts and ends in the arena.
    @inline(__always) func sketchRange(_ i: Int) -> Range<Int> {
        (i == 0 ? 0 : Int(ends[i - 1]))..<(i == headers.count - 1 ? arena.count : Int(ends[i]))
    }

    func sketchBytes(_ i: Int) -> ArraySlice<UInt8> { arena[sketchRange(i)] }

    func stored(_ i: Int) -> StoredValue {
        switch kind {
        case .count: .count(counts[i])
        case .gauge: .gauge(gauges[i])
        case .sketch: .sketch(sketchBytes(i))
        }
    }

    func record(_ i: Int) -> PointRecord { PointRecord(header: headers[i], value: stored(i)) }

    /// Merges the sketch of point `i` into `into` without materialising it.
    func mergeSketch(_ i: Int, into s: inout Sketch) {
        let range = sketchRange(i)
        arena.withUnsafeBytes { raw in
            // Unsafe pointer: the reader is used only inside this closure, over bytes this process encoded.
            var r = ByteReader(UnsafeRawBufferPointer(rebasing: raw[range]))
            try? s.merge(from: &r)
        }
    }

    /// Appends the sketches of points `range` merged to `w` (``Sketch/encodeMerged(_:into:)``);
    /// `false`, writing nothing, if one of them does not decode.
    func encodeMergedSketches(_ range: Range<Int>, into w: inout ByteWriter) -> Bool {
        arena.withUnsafeBytes { raw in
            withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: range.count) { parts in
                // Unsafe pointers: the parts borrow the arena only inside this closure.
                for (j, i) in range.enumerated() { parts[j] = UnsafeRawBufferPointer(rebasing: raw[sketchRange(i)]) }
                do {
                    try Sketch.encodeMerged(UnsafeBufferPointer(parts), into: &w)
                    return true
                } catch {
                    return false
                }
            }
        }
    }

    // MARK: Writing

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
    mutating func replace(_ range: Range<Int>, with records: [PointRecord]) {
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

    mutating func setSeq(_ i: Int, _ seq: UInt64) { headers[i].seq = Swift.max(headers[i].seq, seq) }

    mutating func setCount(_ i: Int, _ n: Int64) { counts[i] = n }

    /// Rewrites the whole timeline from records, with exact capacities.
    mutating func rebuild(_ records: some Collection<PointRecord>) {
        var t = Timeline(kind: kind)
        t.headers.reserveCapacity(records.count)
        switch kind {
        case .count: t.counts.reserveCapacity(records.count)
        case .gauge: t.gauges.reserveCapacity(records.count)
        case .sketch:
            t.ends.reserveCapacity(Swift.max(0, records.count - 1))
            var total = 0
            for r in records { if case .sketch(let b) = r.value { total += b.count } }
            t.arena.reserveCapacity(total)
        }
        for r in records { t.append(r) }
        self = t
    }
}
