import MetValues

/// The tables at the head of a version-2 snapshot chunk (see ``SnapshotCodec``): every name the
/// chunk's timelines use, once, and the label sets and origins built from them.
struct ChunkTables {
    var strings: [String] = []
    var stringIndex: [String: Int] = [:]
    /// Each label set as (key, value) string indices.
    var labelSets: [[(Int, Int)]] = []
    /// Label sets by the sender's catalog id, or by value when the id is unknown.
    var labelSetByKey: [Int: Int] = [:]
    var labelSetByValue: [LabelSet: Int] = [:]
    var origins: [(node: Int, incarnation: UInt64)] = []
    var originIndex: [Origin: Int] = [:]
    /// Bytes the tables will take, roughly (for the writer's capacity).
    var byteEstimate = 0

    mutating func string(_ s: String) -> Int {
        if let i = stringIndex[s] { return i }
        let i = strings.count
        strings.append(s)
        stringIndex[s] = i
        byteEstimate += s.utf8.count + 2
        return i
    }

    mutating func labelSet(_ labels: LabelSet, key: Int) -> Int {
        if key >= 0, let i = labelSetByKey[key] { return i }
        if key < 0, let i = labelSetByValue[labels] { return i }
        let i = labelSets.count
        labelSets.append(labels.pairs.map { (string($0.key), string($0.value)) })
        if key >= 0 { labelSetByKey[key] = i } else { labelSetByValue[labels] = i }
        byteEstimate += 1 + 4 * labels.pairs.count
        return i
    }

    mutating func origin(_ o: Origin) -> Int {
        if let i = originIndex[o] { return i }
        let i = origins.count
        origins.append((string(o.node), o.incarnation))
        originIndex[o] = i
        byteEstimate += 12
        return i
    }

    func write(into w: inout ByteWriter) {
        w.writeVarint(UInt64(strings.count))
        for s in strings { w.writeString(s) }
        w.writeVarint(UInt64(labelSets.count))
        for set in labelSets {
            w.writeVarint(UInt64(set.count))
            for (k, v) in set {
                w.writeVarint(UInt64(k))
                w.writeVarint(UInt64(v))
            }
        }
        w.writeVarint(UInt64(origins.count))
        for o in origins {
            w.writeVarint(UInt64(o.node))
            w.writeVarint(o.incarnation)
        }
    }
}

extension SnapshotCodec {
    /// A version-2 chunk after its version byte: the tables, checked, then the timelines, each
    /// index checked against its table. Decoded timelines carry their label set's table index as
    /// `labelsKey`, so the receiver resolves each label set once per chunk.
    static func decodeVersion2(_ r: inout ByteReader, _ bytes: [UInt8]) throws(DecodeError) -> [TimelineData] {
        try decodeVersion2(&r, bytes, tables: nil)
    }

    /// As above; `tables` (when given) receives the chunk's strings and each label set's string
    /// indices, so that the receiver interns each string once a chunk.
    static func decodeVersion2(_ r: inout ByteReader, _ bytes: [UInt8], tables: ReceivedTables?) throws(DecodeError) -> [TimelineData] {
        // Every string takes at least one byte (its length).
        let nStrings = try r.readLength(max: r.remaining, "string count")
        var strings: [String] = []
        strings.reserveCapacity(nStrings)
        for _ in 0..<nStrings { strings.append(try r.readString(maxBytes: maxNameBytes)) }
        func string(_ index: UInt64) throws(DecodeError) -> String {
            guard index < UInt64(strings.count) else { throw .invalid("string index") }
            return strings[Int(index)]
        }
        let nSets = try r.readLength(max: r.remaining, "label set count")
        var sets: [LabelSet] = []
        sets.reserveCapacity(nSets)
        for _ in 0..<nSets {
            let nLabels = try r.readLength(max: maxLabels, "label count")
            var pairs: [(String, String)] = []
            pairs.reserveCapacity(nLabels)
            var indices: [(key: Int, value: Int)] = []
            indices.reserveCapacity(nLabels)
            for _ in 0..<nLabels {
                let (k, v) = (try r.readVarint(), try r.readVarint())
                pairs.append((try string(k), try string(v)))
                indices.append((Int(k), Int(v)))
            }
            let labels = LabelSet(pairs)
            guard labels.pairs.count == nLabels else { throw .invalid("repeated label") }
            sets.append(labels)
            // The set's pairs in key order, as the catalog keeps them.
            tables?.labelSetStrings.append(indices.sorted { strings[$0.key] < strings[$1.key] })
        }
        tables?.strings = strings
        // An origin takes at least two bytes.
        let nOrigins = try r.readLength(max: r.remaining / 2, "origin count")
        var origins: [Origin] = []
        origins.reserveCapacity(nOrigins)
        for _ in 0..<nOrigins {
            let node = try string(r.readVarint())
            origins.append(Origin(node: node, incarnation: try r.readVarint()))
        }
        let base = try r.readVarint()
        guard base <= UInt64(UInt32.max) else { throw .invalid("base time") }
        // Each timeline takes at least 5 bytes: a count beyond that is a lie.
        let n = try r.readLength(max: r.remaining / 5, "timeline count")
        var out: [TimelineData] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let series = try string(r.readVarint())
            guard !series.isEmpty else { throw .invalid("series name") }
            let kind = try kindFromCode(r.readByte())
            let set = try r.readVarint()
            guard set < UInt64(sets.count) else { throw .invalid("label set index") }
            let origin = try r.readVarint()
            guard origin < UInt64(origins.count) else { throw .invalid("origin index") }
            let points = try readPoints(&r, bytes, kind: kind, base: Int64(base))
            out.append(TimelineData(series: series, kind: kind, labels: sets[Int(set)], origin: origins[Int(origin)],
                                    points: points, labelsKey: Int(set)))
        }
        return out
    }
}

/// What a receiver keeps of a version-2 chunk's tables while merging it: the strings, each label
/// set's (key, value) string indices, and the catalog ids they resolved to so far.
final class ReceivedTables {
    var strings: [String] = []
    var labelSetStrings: [[(key: Int, value: Int)]] = []
    /// Catalog string id of each chunk string; `UInt32.max` until resolved.
    lazy var stringIDs = [UInt32](repeating: .max, count: strings.count)
    /// Catalog label set id of each chunk label set; `UInt32.max` until resolved.
    lazy var labelSetIDs = [UInt32](repeating: .max, count: labelSetStrings.count)
}
