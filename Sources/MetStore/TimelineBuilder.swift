import MetValues

/// Writes a new timeline column by column, with capacities reserved up front, copying kept
/// points and merging groups of points into one (compaction). A sketch group is merged through
/// one reusable accumulator and encoded straight into the new arena, so merging allocates
/// nothing per point.
struct TimelineBuilder {
    private let kind: SeriesKind
    private var t = TimelineColumns()
    private var arena: ByteWriter

    init(kind: SeriesKind, capacity: Int, arenaCapacity: Int) {
        self.kind = kind
        t.headers.reserveCapacity(capacity)
        switch kind {
        case .count: t.counts.reserveCapacity(capacity)
        case .gauge: t.gauges.reserveCapacity(capacity)
        case .sketch: t.ends.reserveCapacity(Swift.max(0, capacity - 1))
        }
        arena = ByteWriter(capacity: arenaCapacity)
    }

    /// Copies one point of `src` with a new header (a lone point moved to a coarser bucket).
    mutating func copy(_ src: Timeline, _ range: Range<Int>, as header: PointHeader) {
        copy(src, range)
        t.headers[t.headers.count - 1] = header
    }

    /// Copies points `range` of `src` unchanged.
    mutating func copy(_ src: Timeline, _ range: Range<Int>) {
        guard !range.isEmpty else { return }
        guard case .columns(let c) = src.storage else { return append(src.record(0)) }
        switch kind {
        case .count: t.counts.append(contentsOf: c.counts[range])
        case .gauge: t.gauges.append(contentsOf: c.gauges[range])
        case .sketch:
            let from = c.sketchRange(range.lowerBound).lowerBound
            let to = c.sketchRange(range.upperBound - 1).upperBound
            let shift = arena.count - from
            endLastPoint()
            for k in range.dropLast() { t.ends.append(UInt32(Int(c.ends[k]) + shift)) }
            arena.writeBytes(c.arena[from..<to])
        }
        t.headers.append(contentsOf: c.headers[range])
    }

    /// Appends one point holding the points `range` of `src` merged, as bucket `header`.
    mutating func merge(_ src: Timeline, _ range: Range<Int>, as header: PointHeader, scratch: inout Sketch, keepPages: Bool = false) {
        defer { t.headers.append(header) }
        switch kind {
        case .count:
            var c = Count()
            for k in range { c.add(src.countValue(k)) }
            t.counts.append(c.value)
        case .gauge:
            var g = src.gaugeValue(range.lowerBound)
            for k in range.dropFirst() { g.combine(later: src.gaugeValue(k)) }
            t.gauges.append(g)
        case .sketch:
            endLastPoint()
            // Bins merged in encoded form, without filling and scanning the scratch's pages.
            if src.sketchByteCount(range) <= Self.encodedMergeLimit, src.encodeMergedSketches(range, into: &arena) { return }
            if keepPages { scratch.reset() } else { scratch.clear() }
            for k in range { src.mergeSketch(k, into: &scratch) }
            scratch.encode(into: &arena)
        }
    }

    /// Most bytes of sketches merged in encoded form: its temporary buffers take about 24 times
    /// as much, so a minute of a busy rollup's seconds (about 20 KB) goes through the scratch
    /// sketch's pages, which add each part's bins as they are read (`compaction.peak_mib_260k`
    /// was 3.7–4.4 MiB with every group in encoded form, 1.7 this way, for 5 ms more).
    static let encodedMergeLimit = 4 << 10

    /// Before a sketch point is appended (ahead of its header): the point that is last so far
    /// is last no more, so its end goes into `ends` (see ``Timeline/ends``).
    private mutating func endLastPoint() {
        if !t.headers.isEmpty { t.ends.append(UInt32(arena.count)) }
    }

    /// The timeline, with capacities trimmed when the reservation was generous (rollups are
    /// built from many more records than they end up holding).
    consuming func finish() -> Timeline {
        if kind == .sketch { t.arena = arena.bytes }
        t.headers = Self.trimmed(t.headers)
        t.counts = Self.trimmed(t.counts)
        t.gauges = Self.trimmed(t.gauges)
        t.ends = t.ends.isEmpty ? [] : Self.trimmed(t.ends)
        t.arena = Self.trimmed(t.arena)
        return Timeline(kind: kind, columns: t)
    }

    static func trimmed<T>(_ a: [T]) -> [T] {
        guard a.capacity > a.count + a.count / 8 + 16 else { return a }
        var copy: [T] = []
        copy.reserveCapacity(a.count)
        copy.append(contentsOf: a)
        return copy
    }
}

extension TimelineBuilder {
    /// Appends one stored point as it is.
    mutating func append(_ r: PointRecord) {
        switch r.value {
        case .count(let n): t.counts.append(n)
        case .gauge(let g): t.gauges.append(g)
        case .sketch(let bytes):
            endLastPoint()
            arena.writeBytes(bytes)
        }
        t.headers.append(r.header)
    }

    /// Appends one point summing points `range` of `src` and `extra` (counts and sketches).
    mutating func appendSum(_ src: Timeline, _ range: Range<Int>, _ extra: ArraySlice<PointRecord>, as header: PointHeader, scratch: inout Sketch) {
        defer { t.headers.append(header) }
        switch kind {
        case .count, .gauge:
            var c = Count()
            for k in range { c.add(src.countValue(k)) }
            for case .count(let n) in extra.map(\.value) { c.add(n) }
            t.counts.append(c.value)
        case .sketch:
            scratch.clear()
            for k in range { src.mergeSketch(k, into: &scratch) }
            for case .sketch(let bytes) in extra.map(\.value) { ValueMath.mergeEncoded(bytes, into: &scratch) }
            endLastPoint()
            scratch.encode(into: &arena)
        }
    }
}

extension Timeline {
    /// Adds sorted, non-overlapping records in one linear pass (rollups): where buckets
    /// overlap, everything in the coarsest bucket becomes one point of that bucket.
    mutating func addAll(_ incoming: [PointRecord], scratch: inout Sketch) {
        guard !incoming.isEmpty else { return }
        if incoming.count == 1 {
            add(incoming[0].value, ts: incoming[0].header.start, step: Int(incoming[0].header.step), seq: incoming[0].header.seq)
            return
        }
        var extraBytes = 0
        for case .sketch(let b) in incoming.map(\.value) { extraBytes += b.count }
        var out = TimelineBuilder(kind: kind, capacity: count + incoming.count, arenaCapacity: sketchByteCount + extraBytes)
        forEachWindow(with: incoming) { local, extra, windowStart, windowEnd in
            if extra.isEmpty {
                out.copy(self, local)
            } else if local.isEmpty && extra.count == 1 {
                out.append(incoming[extra.lowerBound])
            } else {
                let seq = Swift.max(maxSeq(local), incoming[extra].reduce(0) { Swift.max($0, $1.header.seq) })
                let header = PointHeader(seq: seq, ts: UInt32(windowStart), step: UInt16(windowEnd - windowStart))
                out.appendSum(self, local, incoming[extra], as: header, scratch: &scratch)
            }
        }
        self = out.finish()
    }

    /// Walks this timeline's buckets and `incoming`'s (both sorted by start) as windows: the
    /// smallest spans covering overlapping buckets. Buckets nest (each step divides the next),
    /// so a window is one bucket of the coarsest step present in it. `body` gets the window's
    /// local and incoming index ranges, either of which may be empty, and its bounds.
    func forEachWindow(with incoming: [PointRecord], _ body: (_ local: Range<Int>, _ incoming: Range<Int>, _ start: Int64, _ end: Int64) -> Void) {
        var li = 0
        var ii = 0
        while li < count || ii < incoming.count {
            let startsLocal = ii >= incoming.count || (li < count && header(li).start <= incoming[ii].header.start)
            let windowStart = startsLocal ? header(li).start : incoming[ii].header.start
            var windowEnd = startsLocal ? header(li).end : incoming[ii].header.end
            var lj = li
            var ij = ii
            var moved = true
            while moved {
                moved = false
                while lj < count, header(lj).start < windowEnd {
                    windowEnd = Swift.max(windowEnd, header(lj).end)
                    lj += 1
                    moved = true
                }
                while ij < incoming.count, incoming[ij].header.start < windowEnd {
                    windowEnd = Swift.max(windowEnd, incoming[ij].header.end)
                    ij += 1
                    moved = true
                }
            }
            body(li..<lj, ii..<ij, windowStart, windowEnd)
            li = lj
            ii = ij
        }
    }
}
