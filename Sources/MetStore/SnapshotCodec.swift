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
}

/// Chunk layout (all integers varints unless noted):
/// ```
/// u8 version (1), n timelines, then per timeline:
///   series string, u8 kind, n labels, (key string, value string)*, origin node string,
///   incarnation, n points, per point: ts (absolute for the first, then gap from the previous
///   point's end), step, seq, value (count: zigzag; gauge: Gauge encoding; sketch: Sketch encoding)
/// ```
enum SnapshotCodec {
    static let version: UInt8 = 1
    static let maxLabels = 32
    static let maxNameBytes = 256

    static func encode(timelines: [TimelineData]) -> [UInt8] {
        var w = ByteWriter(capacity: 1024)
        w.writeByte(version)
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
    static func decode(_ bytes: [UInt8]) throws(DecodeError) -> [TimelineData] {
        var result: Result<[TimelineData], DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> [TimelineData] in
                guard try r.readByte() == version else { throw .invalid("snapshot version") }
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
        // Each point takes at least 4 bytes.
        let nPoints = try r.readLength(max: r.remaining / 4, "point count")
        var points: [PointRecord] = []
        points.reserveCapacity(nPoints)
        var previousEnd: Int64 = 0
        for i in 0..<nPoints {
            let offset = try r.readVarint()
            guard offset <= UInt64(UInt32.max) else { throw .invalid("point time") }
            let start = (i == 0 ? 0 : previousEnd) + Int64(offset)
            let step = try r.readVarint()
            guard step >= 1, step <= UInt64(UInt16.max), start % Int64(step) == 0, start + Int64(step) <= Int64(UInt32.max) else {
                throw .invalid("point bucket")
            }
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
            let header = PointHeader(seq: seq, ts: UInt32(start), step: UInt16(step))
            points.append(PointRecord(header: header, value: value))
            previousEnd = header.end
        }
        return TimelineData(series: series, kind: kind, labels: labels, origin: origin, points: points)
    }

    static func encodeWatermarks(_ marks: [Origin: UInt64]) -> [UInt8] {
        var w = ByteWriter()
        w.writeByte(version)
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
                guard try r.readByte() == version else { throw .invalid("snapshot version") }
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
