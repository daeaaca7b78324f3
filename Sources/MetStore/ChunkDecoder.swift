import MetValues

/// A version-3 snapshot chunk decoded and validated, kept flat (a few arrays a chunk, none a
/// timeline) so that the receiver resolves each table entry once and builds its timelines
/// straight from ``points``.
struct DecodedChunk {
    struct Stream {
        var series: String
        var kind: SeriesKind
        var origin: Int
    }

    struct Entry {
        var stream: Int32
        var set: Int32
        /// One past this timeline's last point in ``DecodedChunk/points``.
        var end: Int32
    }

    var strings: [String] = []
    /// Each label set's (key, value) string indices, keys ascending: set `i` is
    /// `setPairs[setEnds[i - 1]..<setEnds[i]]`.
    var setPairs: [(key: Int32, value: Int32)] = []
    var setEnds: [Int32] = []
    var origins: [Origin] = []
    var streams: [Stream] = []
    var timelines: [Entry] = []
    var points: [PointRecord] = []

    func pairs(ofSet i: Int) -> ArraySlice<(key: Int32, value: Int32)> {
        setPairs[Int(i == 0 ? 0 : setEnds[i - 1])..<Int(setEnds[i])]
    }

    /// Set `i` as a label set (its keys are ascending already).
    func labelSet(_ i: Int) -> LabelSet {
        LabelSet(sortedPairs: pairs(ofSet: i).map { (key: strings[Int($0.key)], value: strings[Int($0.value)]) })
    }

    func pointRange(_ t: Int) -> Range<Int> { Int(t == 0 ? 0 : timelines[t - 1].end)..<Int(timelines[t].end) }

    /// The timelines one by one, names resolved (the older versions' decoded form).
    var timelineData: [TimelineData] {
        timelines.indices.map { t in
            let s = streams[Int(timelines[t].stream)]
            return TimelineData(series: s.series, kind: s.kind, labels: labelSet(Int(timelines[t].set)),
                                origin: origins[s.origin], points: Array(points[pointRange(t)]))
        }
    }
}

extension SnapshotCodec {
    /// A whole version-3 chunk, version byte included.
    static func decodeVersion3(_ bytes: [UInt8]) throws(DecodeError) -> DecodedChunk {
        var result: Result<DecodedChunk, DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> DecodedChunk in
                guard try r.readByte() == 3 else { throw .invalid("snapshot version") }
                let c = try decodeVersion3(&r, bytes)
                try r.expectEnd()
                return c
            }
        }
        return try result.get()
    }

    /// A version-3 chunk after its version byte; every index is checked against its table, every
    /// label set's keys must ascend, every point is checked as in the older versions.
    static func decodeVersion3(_ r: inout ByteReader, _ bytes: [UInt8]) throws(DecodeError) -> DecodedChunk {
        var c = DecodedChunk()
        // Every string takes at least one byte (its length).
        let nStrings = try r.readLength(max: r.remaining, "string count")
        c.strings.reserveCapacity(nStrings)
        for _ in 0..<nStrings { c.strings.append(try r.readString(maxBytes: maxNameBytes)) }
        func string(_ index: UInt64) throws(DecodeError) -> Int32 {
            guard index < UInt64(c.strings.count) else { throw .invalid("string index") }
            return Int32(index)
        }
        // A set takes at least three bytes.
        let nSets = try r.readLength(max: r.remaining / 3, "label set count")
        c.setEnds.reserveCapacity(nSets)
        c.setPairs.reserveCapacity(nSets * 4)
        var previous = 0..<0
        for _ in 0..<nSets {
            let n = try r.readLength(max: maxLabels, "label count")
            let (same, sameKey) = (try r.readVarint(), try r.readVarint())
            guard same >> n == 0, sameKey >> n == 0, same & sameKey == 0,
                  (same | sameKey) >> previous.count == 0 else { throw .invalid("label set reuse") }
            let start = c.setPairs.count
            for i in 0..<n {
                let bit: UInt64 = 1 << i
                var pair = same & bit != 0 ? c.setPairs[previous.lowerBound + i] : (key: 0, value: 0)
                if same & bit == 0 {
                    pair.key = sameKey & bit != 0 ? c.setPairs[previous.lowerBound + i].key : try string(r.readVarint())
                    pair.value = try string(r.readVarint())
                }
                if i > 0 {
                    guard c.strings[Int(c.setPairs[c.setPairs.count - 1].key)] < c.strings[Int(pair.key)] else { throw .invalid("label order") }
                }
                c.setPairs.append(pair)
            }
            previous = start..<c.setPairs.count
            c.setEnds.append(Int32(c.setPairs.count))
        }
        // An origin takes at least two bytes.
        let nOrigins = try r.readLength(max: r.remaining / 2, "origin count")
        c.origins.reserveCapacity(nOrigins)
        for _ in 0..<nOrigins {
            let node = c.strings[Int(try string(r.readVarint()))]
            c.origins.append(Origin(node: node, incarnation: try r.readVarint()))
        }
        // A stream takes at least three bytes.
        let nStreams = try r.readLength(max: r.remaining / 3, "stream count")
        c.streams.reserveCapacity(nStreams)
        for _ in 0..<nStreams {
            let series = c.strings[Int(try string(r.readVarint()))]
            guard !series.isEmpty else { throw .invalid("series name") }
            let kind = try kindFromCode(r.readByte())
            let origin = try r.readVarint()
            guard origin < UInt64(c.origins.count) else { throw .invalid("origin index") }
            c.streams.append(.init(series: series, kind: kind, origin: Int(origin)))
        }
        // Each timeline takes at least 3 bytes: a count beyond that is a lie.
        let n = try r.readLength(max: r.remaining / 3, "timeline count")
        c.timelines.reserveCapacity(n)
        c.points.reserveCapacity(n)
        var set: Int64 = 0
        var firstStart: Int64 = 0
        for _ in 0..<n {
            let stream = try r.readVarint()
            guard stream < UInt64(c.streams.count) else { throw .invalid("stream index") }
            set += try r.readSignedVarint()
            guard set >= 0, set < Int64(c.setEnds.count) else { throw .invalid("label set index") }
            try readPoints(&r, bytes, kind: c.streams[Int(stream)].kind, firstStart: &firstStart, into: &c.points)
            guard c.points.count <= Int(Int32.max) else { throw .invalid("point count") }
            c.timelines.append(.init(stream: Int32(stream), set: Int32(set), end: Int32(c.points.count)))
        }
        return c
    }

    /// A version-3 timeline's points, appended to `points`: the first's start as its distance
    /// from the previous timeline's first start (`firstStart`, updated), zigzag.
    static func readPoints(_ r: inout ByteReader, _ bytes: [UInt8], kind: SeriesKind, firstStart: inout Int64,
                           into points: inout [PointRecord]) throws(DecodeError) {
        // Each point takes at least 4 bytes.
        let nPoints = try r.readLength(max: r.remaining / 4, "point count")
        var previousEnd: Int64 = 0
        for i in 0..<nPoints {
            let start: Int64
            if i == 0 {
                let offset = try r.readSignedVarint()
                guard offset >= -Int64(UInt32.max), offset <= Int64(UInt32.max) else { throw .invalid("point time") }
                start = firstStart + offset
                firstStart = start
            } else {
                let offset = try r.readVarint()
                guard offset <= UInt64(UInt32.max) else { throw .invalid("point time") }
                start = previousEnd + Int64(offset)
            }
            let point = try SnapshotCodec.readPoint(&r, bytes, kind: kind, start: start)
            points.append(point)
            previousEnd = point.header.end
        }
    }
}
