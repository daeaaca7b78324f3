import MetValues

/// A replica's state in transferable pieces: chunks of whole timelines, then the per-origin
/// watermarks, which may only be applied once every chunk is merged (a watermark promises
/// "everything of this origin up to here", which only the complete snapshot can keep).
package struct StoreSnapshot: Sendable {
    package var chunks: [[UInt8]]
    package var watermarks: [UInt8]

    package init(chunks: [[UInt8]], watermarks: [UInt8]) {
        self.chunks = chunks
        self.watermarks = watermarks
    }

    package var byteCount: Int { chunks.reduce(watermarks.count) { $0 + $1.count } }

    /// A chunk holding no timeline.
    package static var emptyChunk: [UInt8] { SnapshotCodec.encode(timelines: []) }

    /// Watermarks in a snapshot's encoding (what a snapshot's end carries).
    package static func encode(watermarks: [Origin: UInt64]) -> [UInt8] { SnapshotCodec.encodeWatermarks(watermarks) }

    /// Watermarks from their encoding.
    package static func decode(watermarks bytes: [UInt8]) throws(DecodeError) -> [Origin: UInt64] {
        try SnapshotCodec.decodeWatermarks(bytes)
    }
}

/// One timeline as it travels in a snapshot chunk.
struct TimelineData: Sendable {
    var series: String
    var kind: SeriesKind
    var labels: LabelSet
    var origin: Origin
    var points: [PointRecord]
    /// The label set's number where it is known: the sender's catalog id when encoding (the
    /// chunk's table is keyed by it), the chunk's table index when decoded (the receiver resolves
    /// each table entry once). -1: unknown (tables are then keyed by the labels themselves).
    var labelsKey: Int = -1
}

/// Chunk layout, version 3 (all integers varints unless noted). Names are written once per chunk,
/// in tables the timelines refer to by index (``ChunkEncoder`` writes it, ``decodeVersion3(_:_:)``
/// reads it):
/// ```
/// u8 version (3)
/// n strings, each a length-prefixed UTF-8 string
/// n label sets, each as what differs from the set before it in the table (the first from an
///   empty set): n pairs, same mask, same-key mask (bit i: pair i equals, or has the key of, the
///   previous set's pair i), then for each pair not the same: [key string index unless same
///   key], value string index. Keys strictly ascending.
/// n origins, each: node string index, incarnation
/// n streams (a series of one origin), each: series string index, u8 kind, origin index
/// n timelines, per timeline: stream index, label set index (zigzag, from the previous
///   timeline's; the first from 0), n points, per point: ts (the first as zigzag from the
///   previous timeline's first ts, the first timeline's from 0; then the gap from the previous
///   point's end), step, seq, value (count: zigzag; gauge: Gauge encoding; sketch: Sketch
///   encoding)
/// ```
/// Version 2 (still read) had no streams: each timeline carried its series string index, kind
/// byte and origin index, its label set index as is, and the first point's ts from a base ts
/// written before the timelines; label sets were written in full. 150k one-point timelines took
/// 3.54 MiB in version 2, about 2.7 in version 3 (11 MB in version 1, names per timeline).
/// Version 1 (still read: chunks of older nodes, snapshots they left in Postgres) wrote each
/// timeline's series, labels and origin node as strings and its first ts as absolute. A node that
/// reads only older versions refuses a newer chunk as a whole (`invalid("snapshot version")`):
/// nothing of it is merged, the handoff's receiver logs the refusal and closes the connection,
/// and the sender's handoff fails over as for any refused chunk (RELIABILITY H12).
enum SnapshotCodec {
    /// The version this node writes; it reads 1, 2 and 3.
    static let version: UInt8 = 3
    /// The watermarks' encoding (unchanged since version 1, which is still read).
    static let watermarkVersion: UInt8 = 2
    static let maxLabels = 32
    static let maxNameBytes = 256

    /// A version-2 chunk (what nodes before version 3 write), for the compatibility tests.
    static func encodeVersion2(timelines: [TimelineData]) -> [UInt8] {
        var tables = ChunkTables()
        var body = ByteWriter(capacity: 1024)
        var base = Int64(UInt32.max)
        for t in timelines { if let first = t.points.first { base = Swift.min(base, first.header.start) } }
        if base == Int64(UInt32.max) { base = 0 }
        body.writeVarint(UInt64(base))
        body.writeVarint(UInt64(timelines.count))
        for t in timelines {
            body.writeVarint(UInt64(tables.string(t.series)))
            body.writeByte(kindCode(t.kind))
            body.writeVarint(UInt64(tables.labelSet(t.labels, key: t.labelsKey)))
            body.writeVarint(UInt64(tables.origin(t.origin)))
            writePoints(t.points, base: base, into: &body)
        }
        var w = ByteWriter(capacity: body.count + tables.byteEstimate + 16)
        w.writeByte(2)
        tables.write(into: &w)
        w.writeBytes(body.bytes)
        return w.bytes
    }

    static func writePoints(_ points: [PointRecord], base: Int64, into w: inout ByteWriter) {
        w.writeVarint(UInt64(points.count))
        var previousEnd = base
        for p in points {
            w.writeVarint(UInt64(p.header.start - previousEnd))
            w.writeVarint(UInt64(p.header.step))
            w.writeVarint(p.header.seq)
            switch p.value {
            case .count(let n): w.writeSignedVarint(n)
            case .gauge(let g): g.encode(into: &w)
            case .sketch(let bytes): w.writeBytes(bytes)
            }
            previousEnd = p.header.end
        }
    }

    /// A version-1 chunk (what older nodes write), for the compatibility tests.
    static func encodeVersion1(timelines: [TimelineData]) -> [UInt8] {
        var w = ByteWriter(capacity: 1024)
        w.writeByte(1)
        w.writeVarint(UInt64(timelines.count))
        for t in timelines { encode(t, into: &w) }
        return w.bytes
    }

    static func encode(_ t: TimelineData, into w: inout ByteWriter) {
        w.writeString(t.series)
        w.writeByte(kindCode(t.kind))
        w.writeVarint(UInt64(t.labels.pairs.count))
        for p in t.labels.pairs {
            w.writeString(p.key)
            w.writeString(p.value)
        }
        w.writeString(t.origin.node)
        w.writeVarint(t.origin.incarnation)
        w.writeVarint(UInt64(t.points.count))
        var previousEnd: Int64 = 0
        for (i, p) in t.points.enumerated() {
            w.writeVarint(UInt64(i == 0 ? p.header.start : p.header.start - previousEnd))
            w.writeVarint(UInt64(p.header.step))
            w.writeVarint(p.header.seq)
            switch p.value {
            case .count(let n): w.writeSignedVarint(n)
            case .gauge(let g): g.encode(into: &w)
            case .sketch(let bytes): w.writeBytes(bytes)
            }
            previousEnd = p.header.end
        }
    }

    /// Decodes and validates a chunk: sorted, aligned, non-overlapping buckets; valid values.
    static func decode(_ bytes: [UInt8], tables: ReceivedTables? = nil) throws(DecodeError) -> [TimelineData] {
        var result: Result<[TimelineData], DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> [TimelineData] in
                let v = try r.readByte()
                if v == 3 {
                    let c = try decodeVersion3(&r, bytes)
                    try r.expectEnd()
                    return c.timelineData
                }
                if v == 2 {
                    let out = try decodeVersion2(&r, bytes, tables: tables)
                    try r.expectEnd()
                    return out
                }
                guard v == 1 else { throw .invalid("snapshot version \(v) (this node reads 1, 2 and 3)") }
                // Each timeline takes at least 6 bytes: a count beyond that is a lie.
                let n = try r.readLength(max: r.remaining / 6, "timeline count")
                var out: [TimelineData] = []
                out.reserveCapacity(n)
                for _ in 0..<n { out.append(try decodeTimeline(&r, bytes)) }
                try r.expectEnd()
                return out
            }
        }
        return try result.get()
    }

    static func decodeTimeline(_ r: inout ByteReader, _ bytes: [UInt8]) throws(DecodeError) -> TimelineData {
        let series = try r.readString(maxBytes: maxNameBytes)
        guard !series.isEmpty else { throw .invalid("series name") }
        let kind = try kindFromCode(r.readByte())
        let nLabels = try r.readLength(max: maxLabels, "label count")
        var pairs: [(String, String)] = []
        for _ in 0..<nLabels { pairs.append((try r.readString(maxBytes: maxNameBytes), try r.readString(maxBytes: maxNameBytes))) }
        let labels = LabelSet(pairs)
        guard labels.pairs.count == nLabels else { throw .invalid("repeated label") }
        let node = try r.readString(maxBytes: maxNameBytes)
        let origin = Origin(node: node, incarnation: try r.readVarint())
        let points = try readPoints(&r, bytes, kind: kind, base: 0)
        return TimelineData(series: series, kind: kind, labels: labels, origin: origin, points: points)
    }

    /// A timeline's points; the first's offset counts from `base`.
    static func readPoints(_ r: inout ByteReader, _ bytes: [UInt8], kind: SeriesKind, base: Int64) throws(DecodeError) -> [PointRecord] {
        // Each point takes at least 4 bytes.
        let nPoints = try r.readLength(max: r.remaining / 4, "point count")
        var points: [PointRecord] = []
        points.reserveCapacity(nPoints)
        var previousEnd = base
        for _ in 0..<nPoints {
            let offset = try r.readVarint()
            guard offset <= UInt64(UInt32.max) else { throw .invalid("point time") }
            let point = try readPoint(&r, bytes, kind: kind, start: previousEnd + Int64(offset))
            points.append(point)
            previousEnd = point.header.end
        }
        return points
    }

    /// One point after its start (every version): its step, sequence number and value, checked.
    static func readPoint(_ r: inout ByteReader, _ bytes: [UInt8], kind: SeriesKind, start: Int64) throws(DecodeError) -> PointRecord {
        let step = try r.readVarint()
        guard start >= 0, step >= 1, step <= UInt64(UInt16.max), start % Int64(step) == 0,
              start + Int64(step) <= Int64(UInt32.max) else { throw .invalid("point bucket") }
        let seq = try r.readVarint()
        let value: StoredValue
        switch kind {
        case .count: value = .count(try r.readSignedVarint())
        case .gauge: value = .gauge(try Gauge.decode(from: &r))
        case .sketch:
            let begin = r.offset
            try Sketch.validate(from: &r)  // the bytes are kept as they are
            value = .sketch(bytes[begin..<r.offset])
        }
        return PointRecord(header: PointHeader(seq: seq, ts: UInt32(start), step: UInt16(step)), value: value)
    }

    static func encodeWatermarks(_ marks: [Origin: UInt64]) -> [UInt8] {
        var w = ByteWriter()
        w.writeByte(watermarkVersion)
        let sorted = marks.sorted { ($0.key.node, $0.key.incarnation) < ($1.key.node, $1.key.incarnation) }
        w.writeVarint(UInt64(sorted.count))
        for (o, mark) in sorted {
            w.writeString(o.node)
            w.writeVarint(o.incarnation)
            w.writeVarint(mark)
        }
        return w.bytes
    }

    static func decodeWatermarks(_ bytes: [UInt8]) throws(DecodeError) -> [Origin: UInt64] {
        var result: Result<[Origin: UInt64], DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> [Origin: UInt64] in
                guard (1...watermarkVersion).contains(try r.readByte()) else { throw .invalid("snapshot version") }
                let n = try r.readLength(max: r.remaining / 3, "origin count")
                var marks: [Origin: UInt64] = [:]
                for _ in 0..<n {
                    let node = try r.readString(maxBytes: maxNameBytes)
                    let o = Origin(node: node, incarnation: try r.readVarint())
                    marks[o] = Swift.max(marks[o] ?? 0, try r.readVarint())
                }
                try r.expectEnd()
                return marks
            }
        }
        return try result.get()
    }

    static func kindCode(_ k: SeriesKind) -> UInt8 {
        switch k {
        case .count: 1
        case .gauge: 2
        case .sketch: 3
        }
    }

    static func kindFromCode(_ c: UInt8) throws(DecodeError) -> SeriesKind {
        switch c {
        case 1: .count
        case 2: .gauge
        case 3: .sketch
        default: throw .invalid("series kind")
        }
    }
}
