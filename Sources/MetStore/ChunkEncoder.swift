import MetValues

/// Writes a version-3 snapshot chunk (layout in ``SnapshotCodec``): tables and timelines are
/// added as they come, each table entry once; the caller keeps its own index of what it added
/// (by catalog id when encoding from the store, by value otherwise).
struct ChunkEncoder {
    private var strings: [String] = []
    private var stringBytes = 0
    private var sets = ByteWriter(capacity: 1024)
    private(set) var setCount = 0
    /// The previous label set of the table, as (key, value) string indices.
    private var previousSet: [(key: Int, value: Int)] = []
    private var origins: [(node: Int, incarnation: UInt64)] = []
    private var streams: [(name: Int, kind: SeriesKind, origin: Int)] = []
    private var body = ByteWriter(capacity: 4096)
    private var timelineCount = 0
    private var previousSetIndex = 0
    private var previousFirstStart: Int64 = 0

    var stringCount: Int { strings.count }
    var originCount: Int { origins.count }
    var streamCount: Int { streams.count }

    /// Adds a string to the table; returns its index.
    mutating func addString(_ s: String) -> Int {
        strings.append(s)
        stringBytes += s.utf8.count + 2
        return strings.count - 1
    }

    /// Adds a label set (pairs of string indices, keys ascending); returns its index. Written as
    /// what differs from the previous set of the table.
    mutating func addLabelSet(_ pairs: some Collection<(key: Int, value: Int)>) -> Int {
        var same: UInt64 = 0
        var sameKey: UInt64 = 0
        for (i, p) in pairs.enumerated() where i < previousSet.count {
            if previousSet[i].key == p.key { if previousSet[i].value == p.value { same |= 1 << i } else { sameKey |= 1 << i } }
        }
        sets.writeVarint(UInt64(pairs.count))
        sets.writeVarint(same)
        sets.writeVarint(sameKey)
        for (i, p) in pairs.enumerated() where same & (1 << i) == 0 {
            if sameKey & (1 << i) == 0 { sets.writeVarint(UInt64(p.key)) }
            sets.writeVarint(UInt64(p.value))
        }
        previousSet.removeAll(keepingCapacity: true)
        previousSet.append(contentsOf: pairs)
        setCount += 1
        return setCount - 1
    }

    mutating func addOrigin(node: Int, incarnation: UInt64) -> Int {
        origins.append((node, incarnation))
        return origins.count - 1
    }

    /// A series of one origin: the timelines' first field.
    mutating func addStream(name: Int, kind: SeriesKind, origin: Int) -> Int {
        streams.append((name, kind, origin))
        return streams.count - 1
    }

    /// Adds a timeline's points (sorted, not overlapping) under a stream and a label set.
    mutating func addTimeline(stream: Int, set: Int, count: Int, point: (Int) -> (PointHeader, StoredValue)) {
        timelineCount += 1
        body.writeVarint(UInt64(stream))
        body.writeSignedVarint(Int64(set - previousSetIndex))
        previousSetIndex = set
        body.writeVarint(UInt64(count))
        var previousEnd: Int64 = 0
        for i in 0..<count {
            let (header, value) = point(i)
            if i == 0 {
                body.writeSignedVarint(header.start - previousFirstStart)
                previousFirstStart = header.start
            } else {
                body.writeVarint(UInt64(header.start - previousEnd))
            }
            body.writeVarint(UInt64(header.step))
            body.writeVarint(header.seq)
            switch value {
            case .count(let n): body.writeSignedVarint(n)
            case .gauge(let g): g.encode(into: &body)
            case .sketch(let bytes): body.writeBytes(bytes)
            }
            previousEnd = header.end
        }
    }

    /// The chunk's bytes.
    func finish() -> [UInt8] {
        var w = ByteWriter(capacity: stringBytes + sets.count + 12 * (origins.count + streams.count) + body.count + 24)
        w.writeByte(3)
        w.writeVarint(UInt64(strings.count))
        for s in strings { w.writeString(s) }
        w.writeVarint(UInt64(setCount))
        w.writeBytes(sets.bytes)
        w.writeVarint(UInt64(origins.count))
        for o in origins {
            w.writeVarint(UInt64(o.node))
            w.writeVarint(o.incarnation)
        }
        w.writeVarint(UInt64(streams.count))
        for s in streams {
            w.writeVarint(UInt64(s.name))
            w.writeByte(SnapshotCodec.kindCode(s.kind))
            w.writeVarint(UInt64(s.origin))
        }
        w.writeVarint(UInt64(timelineCount))
        w.writeBytes(body.bytes)
        return w.bytes
    }
}

extension SnapshotCodec {
    /// Timelines given by value as a version-3 chunk (tables keyed by the names themselves).
    static func encode(timelines: [TimelineData]) -> [UInt8] {
        var e = ChunkEncoder()
        var strings: [String: Int] = [:]
        var sets: [LabelSet: Int] = [:]
        var origins: [Origin: Int] = [:]
        var streams: [StreamKey: Int] = [:]
        func string(_ s: String) -> Int {
            if let i = strings[s] { return i }
            let i = e.addString(s)
            strings[s] = i
            return i
        }
        for t in timelines {
            let origin: Int
            if let o = origins[t.origin] { origin = o } else {
                origin = e.addOrigin(node: string(t.origin.node), incarnation: t.origin.incarnation)
                origins[t.origin] = origin
            }
            let key = StreamKey(series: t.series, kind: t.kind, origin: origin)
            let stream: Int
            if let s = streams[key] { stream = s } else {
                stream = e.addStream(name: string(t.series), kind: t.kind, origin: origin)
                streams[key] = stream
            }
            let set: Int
            if let s = sets[t.labels] { set = s } else {
                set = e.addLabelSet(t.labels.pairs.map { (key: string($0.key), value: string($0.value)) })
                sets[t.labels] = set
            }
            e.addTimeline(stream: stream, set: set, count: t.points.count) { (t.points[$0].header, t.points[$0].value) }
        }
        return e.finish()
    }

    struct StreamKey: Hashable {
        var series: String
        var kind: SeriesKind
        var origin: Int
    }
}
