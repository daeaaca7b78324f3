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

/// The points of one series for one label set and one origin (or one rollup), in time order.
/// A timeline of one point that fits (a count, a small sketch) holds it inline and allocates
/// nothing; any other is ``TimelineColumns``. Every change goes through the columns and comes
/// back inline when it leaves one such point. Buckets never overlap.
struct Timeline: Sendable {
    enum Storage: Sendable {
        case columns(TimelineColumns)
        case one(InlinePoint)
    }

    // 41 bytes of storage, then the two one-byte fields: a stride of 48 in the store's pages.
    /// Changed only by the writing methods (Timeline+Write.swift), which keep it inline when it can be.
    var storage: Storage = .columns(TimelineColumns())
    let kind: SeriesKind
    /// Set when a point was inserted before newer ones; compaction then checks every point.
    var needsFullCompaction = false

    init(kind: SeriesKind) { self.kind = kind }

    /// A timeline of these columns: inline when they hold one point that fits.
    init(kind: SeriesKind, columns: TimelineColumns) {
        self.kind = kind
        storage = Self.storage(columns, kind: kind)
    }

    static func storage(_ c: TimelineColumns, kind: SeriesKind) -> Storage {
        if c.headers.count == 1, let p = InlinePoint(c.headers[0], c.stored(0, kind: kind)) { return .one(p) }
        return .columns(c)
    }

    var count: Int {
        switch storage {
        case .one: 1
        case .columns(let c): c.headers.count
        }
    }

    var isEmpty: Bool { count == 0 }

    /// Heap bytes held (capacities); none for an inline point.
    var heapBytes: Int {
        if case .columns(let c) = storage { c.heapBytes } else { 0 }
    }

    /// What a snapshot plan counts for this timeline when cutting chunks: its heap bytes, and for
    /// an inline point what its columns would hold, so a chunk holds as many timelines as before.
    var planBytes: Int {
        switch storage {
        case .one(let p): 2 * 32 + MemoryLayout<PointHeader>.stride + (kind == .sketch ? p.sketchByteCount : 8)  // two arrays
        case .columns(let c): c.heapBytes
        }
    }

    // MARK: Reading

    @inline(__always) func header(_ i: Int) -> PointHeader {
        switch storage {
        case .one(let p):
            precondition(i == 0, "point index out of range")
            return p.header
        case .columns(let c): return c.headers[i]
        }
    }

    /// The newest batch folded into points `range` (0 when empty).
    func maxSeq(_ range: Range<Int>) -> UInt64 {
        var m: UInt64 = 0
        for i in range { m = Swift.max(m, header(i).seq) }
        return m
    }

    /// The value of count point `i`.
    func countValue(_ i: Int) -> Int64 {
        switch storage {
        case .one(let p):
            precondition(i == 0, "point index out of range")
            return p.count
        case .columns(let c): return c.counts[i]
        }
    }

    /// The value of gauge point `i` (gauges are never inline).
    func gaugeValue(_ i: Int) -> Gauge {
        guard case .columns(let c) = storage else { preconditionFailure("a gauge point is never inline") }
        return c.gauges[i]
    }

    /// Encoded bytes of all sketch points.
    var sketchByteCount: Int {
        switch storage {
        case .one(let p): p.sketchByteCount
        case .columns(let c): c.arena.count
        }
    }

    /// Encoded bytes of sketch points `range` (not empty).
    func sketchByteCount(_ range: Range<Int>) -> Int {
        switch storage {
        case .one(let p): p.sketchByteCount
        case .columns(let c): c.sketchRange(range.upperBound - 1).upperBound - c.sketchRange(range.lowerBound).lowerBound
        }
    }

    /// Index of the first point starting after `ts`.
    func upperBound(_ ts: Int64) -> Int {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if header(mid).start <= ts { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Index of the first point starting at or after `ts`.
    func lowerBound(_ ts: Int64) -> Int {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if header(mid).start < ts { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The point whose bucket contains `ts`.
    func index(containing ts: Int64) -> Int? {
        let u = upperBound(ts)
        return u > 0 && header(u - 1).end > ts ? u - 1 : nil
    }

    func sketchBytes(_ i: Int) -> ArraySlice<UInt8> {
        switch storage {
        case .one(let p): p.sketchBytes
        case .columns(let c): c.arena[c.sketchRange(i)]
        }
    }

    func stored(_ i: Int) -> StoredValue {
        switch storage {
        case .one(let p):
            precondition(i == 0, "point index out of range")
            return p.stored(kind)
        case .columns(let c): return c.stored(i, kind: kind)
        }
    }

    func record(_ i: Int) -> PointRecord { PointRecord(header: header(i), value: stored(i)) }

    /// The encoded sketches of points `range`, each a buffer valid only inside `body`.
    func withSketchParts<R>(_ range: Range<Int>, _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer>) -> R) -> R {
        switch storage {
        case .one(let p):
            precondition(range == 0..<1, "point index out of range")
            return p.withSketchBytes { raw in withUnsafePointer(to: raw) { body(UnsafeBufferPointer(start: $0, count: 1)) } }
        case .columns(let c):
            return c.arena.withUnsafeBytes { raw in
                withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: range.count) { parts in
                    // Unsafe pointers: the parts borrow the arena only inside this closure.
                    for (j, i) in range.enumerated() { parts[j] = UnsafeRawBufferPointer(rebasing: raw[c.sketchRange(i)]) }
                    return body(UnsafeBufferPointer(parts))
                }
            }
        }
    }

    /// Merges the sketch of point `i` into `into` without materialising it.
    func mergeSketch(_ i: Int, into s: inout Sketch) {
        withSketchParts(i..<(i + 1)) { parts in
            var r = ByteReader(parts[0])
            try? s.merge(from: &r)
        }
    }

    /// Appends the sketches of points `range` merged to `w` (``Sketch/encodeMerged(_:into:)``);
    /// `false`, writing nothing, if one of them does not decode.
    func encodeMergedSketches(_ range: Range<Int>, into w: inout ByteWriter) -> Bool {
        withSketchParts(range) { parts in
            do {
                try Sketch.encodeMerged(parts, into: &w)
                return true
            } catch {
                return false
            }
        }
    }
}
