import MetStore
import MetValues

/// The binary form of a ``CountMessage`` (the payload of a `counts` frame, type 16):
/// ```
/// u8 tag: 1 keyframe, 2 delta
/// keyframe: term (zigzag), number, leader node, leader incarnation, timestamp (zigzag),
///           u8 mode (1 snapshots, 2 logical), idBound (zigzag), note (empty: none), u8 has snapshot, [snapshot],
///           n counts, each: state, queue, count (zigzag), u8 estimated,
///           n watermarks, each: node, incarnation, seq,
///           u8 has delta, [delta]          (the delta must belong to this keyframe)
/// delta:    term (zigzag), number, revision, timestamp ms (zigzag), u8 has snapshot, [snapshot],
///           n groups, each: state, queue, delta (zigzag)
/// snapshot: xmin, xmax − xmin, n in progress, each: its distance from the previous (the first
///           from xmin); ids strictly ascending, below xmax
/// ```
/// Strings are varint-length UTF-8 of at most 256 bytes. Every count is checked against the
/// bytes left before anything is allocated; anything inconsistent throws ``DecodeError``.
package enum CountCodec {
    static let maxStringBytes = 256

    package static func encode(_ message: CountMessage) -> [UInt8] {
        var w = ByteWriter(capacity: 128)
        switch message {
        case .keyframe(let k, let delta):
            w.writeByte(1)
            w.writeSignedVarint(k.term)
            w.writeVarint(k.number)
            w.writeString(k.leader.node)
            w.writeVarint(k.leader.incarnation)
            w.writeSignedVarint(k.timestamp)
            w.writeByte(k.mode.rawValue)
            w.writeSignedVarint(k.idBound)
            w.writeString(String((k.note ?? "").utf8.prefix(maxStringBytes)) ?? "")
            write(k.snapshot, &w)
            KeyframeCodec.writeCountsAndWatermarks(k, &w)
            if let delta {
                w.writeByte(1)
                write(delta, &w)
            } else {
                w.writeByte(0)
            }
        case .delta(let d):
            w.writeByte(2)
            write(d, &w)
        }
        return w.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> CountMessage {
        var result: Result<CountMessage, DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> CountMessage in
                let message: CountMessage
                switch try r.readByte() {
                case 1: message = try keyframe(&r)
                case 2: message = .delta(try delta(&r))
                default: throw .invalid("count message tag")
                }
                try r.expectEnd()
                return message
            }
        }
        return try result.get()
    }

    static func keyframe(_ r: inout ByteReader) throws(DecodeError) -> CountMessage {
        let term = try r.readSignedVarint()
        let number = try r.readVarint()
        let leader = Origin(node: try r.readString(maxBytes: maxStringBytes), incarnation: try r.readVarint())
        let timestamp = try r.readSignedVarint()
        guard let mode = CountMode(rawValue: try r.readByte()) else { throw .invalid("count mode") }
        let idBound = try r.readSignedVarint()
        let note = try r.readString(maxBytes: maxStringBytes)
        let snapshot = try optionalSnapshot(&r)
        let (counts, marks) = try KeyframeCodec.readCountsAndWatermarks(&r)
        let k = Keyframe(term: term, number: number, leader: leader, timestamp: timestamp, counts: counts, watermarks: marks,
                         snapshot: snapshot, mode: mode, idBound: idBound, note: note.isEmpty ? nil : note)
        switch try r.readByte() {
        case 0:
            return .keyframe(k, nil)
        case 1:
            let d = try delta(&r)
            guard d.belongs(to: k) else { throw .invalid("a keyframe's delta of another keyframe") }
            return .keyframe(k, d)
        default:
            throw .invalid("keyframe delta flag")
        }
    }

    static func delta(_ r: inout ByteReader) throws(DecodeError) -> CountDelta {
        let term = try r.readSignedVarint()
        let number = try r.readVarint()
        let revision = try r.readVarint()
        let timestampMs = try r.readSignedVarint()
        let snapshot = try optionalSnapshot(&r)
        let n = try r.readLength(max: r.remaining / 3, "delta groups")
        var groups: [JobGroup: Int64] = [:]
        groups.reserveCapacity(n)
        for _ in 0..<n {
            let group = JobGroup(state: try r.readString(maxBytes: maxStringBytes), queue: try r.readString(maxBytes: maxStringBytes))
            guard groups.updateValue(try r.readSignedVarint(), forKey: group) == nil else { throw .invalid("repeated delta group") }
        }
        return CountDelta(term: term, number: number, revision: revision, timestampMs: timestampMs, snapshot: snapshot, groups: groups)
    }

    static func write(_ d: CountDelta, _ w: inout ByteWriter) {
        w.writeSignedVarint(d.term)
        w.writeVarint(d.number)
        w.writeVarint(d.revision)
        w.writeSignedVarint(d.timestampMs)
        write(d.snapshot, &w)
        let groups = d.groups.sorted { $0.key < $1.key }
        w.writeVarint(UInt64(groups.count))
        for (group, n) in groups {
            w.writeString(group.state)
            w.writeString(group.queue)
            w.writeSignedVarint(n)
        }
    }

    static func write(_ s: XidSnapshot?, _ w: inout ByteWriter) {
        guard let s else { return w.writeByte(0) }
        w.writeByte(1)
        w.writeVarint(s.xmin)
        w.writeVarint(s.xmax - s.xmin)
        w.writeVarint(UInt64(s.inProgress.count))
        var previous = s.xmin
        for id in s.inProgress {
            w.writeVarint(id - previous)
            previous = id
        }
    }

    static func optionalSnapshot(_ r: inout ByteReader) throws(DecodeError) -> XidSnapshot? {
        switch try r.readByte() {
        case 0: return nil
        case 1: break
        default: throw .invalid("snapshot flag")
        }
        let xmin = try r.readVarint()
        let (xmax, overflow) = xmin.addingReportingOverflow(try r.readVarint())
        guard !overflow else { throw .invalid("snapshot xmax") }
        let n = try r.readLength(max: r.remaining, "snapshot in-progress count")
        var ids: [UInt64] = []
        ids.reserveCapacity(n)
        var previous = xmin
        for i in 0..<n {
            let gap = try r.readVarint()
            guard i == 0 || gap > 0 else { throw .invalid("snapshot in-progress ids not ascending") }
            let (id, over) = previous.addingReportingOverflow(gap)
            guard !over, id < xmax else { throw .invalid("snapshot in-progress id out of range") }
            ids.append(id)
            previous = id
        }
        guard let s = XidSnapshot(xmin: xmin, xmax: xmax, inProgress: ids) else { throw .invalid("snapshot") }
        return s
    }
}
