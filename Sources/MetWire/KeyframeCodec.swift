import MetStore
import MetValues

/// The binary form of a ``Keyframe`` before keyframes carried their snapshot (the payload of a
/// `keyframe` frame, type 10, which leaders of this version no longer send; see ``CountCodec``).
/// Still decoded, so a cluster upgraded node by node keeps the keyframes of a leader not yet
/// upgraded: they carry no snapshot, and every delta follows the watermark rule.
/// ```
/// term (zigzag), number, leader node, leader incarnation, timestamp (zigzag),
/// n counts, each: state, queue, count (zigzag), u8 estimated,
/// n watermarks, each: node, incarnation, seq
/// ```
/// Strings are varint-length UTF-8 of at most 256 bytes; every count is checked against the
/// bytes left before anything is allocated.
package enum KeyframeCodec {
    static let maxStringBytes = 256

    package static func encode(_ k: Keyframe) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + 32 * k.counts.count + 24 * k.watermarks.count)
        w.writeSignedVarint(k.term)
        w.writeVarint(k.number)
        w.writeString(k.leader.node)
        w.writeVarint(k.leader.incarnation)
        w.writeSignedVarint(k.timestamp)
        writeCountsAndWatermarks(k, &w)
        return w.bytes
    }

    /// A keyframe's counts, then its watermarks (sorted): the tail both encodings share.
    static func writeCountsAndWatermarks(_ k: Keyframe, _ w: inout ByteWriter) {
        w.writeVarint(UInt64(k.counts.count))
        for c in k.counts {
            w.writeString(c.group.state)
            w.writeString(c.group.queue)
            w.writeSignedVarint(c.count)
            w.writeByte(c.estimated ? 1 : 0)
        }
        let marks = k.watermarks.sorted { ($0.key.node, $0.key.incarnation) < ($1.key.node, $1.key.incarnation) }
        w.writeVarint(UInt64(marks.count))
        for (origin, seq) in marks {
            w.writeString(origin.node)
            w.writeVarint(origin.incarnation)
            w.writeVarint(seq)
        }
    }

    /// Reads what ``writeCountsAndWatermarks(_:_:)`` wrote; a repeated watermark is refused.
    static func readCountsAndWatermarks(_ r: inout ByteReader) throws(DecodeError) -> ([Keyframe.Count], [Origin: UInt64]) {
        let n = try r.readLength(max: r.remaining / 5, "keyframe counts")
        var counts: [Keyframe.Count] = []
        counts.reserveCapacity(n)
        for _ in 0..<n {
            let state = try r.readString(maxBytes: maxStringBytes)
            let queue = try r.readString(maxBytes: maxStringBytes)
            let count = try r.readSignedVarint()
            let flag = try r.readByte()
            guard flag <= 1 else { throw .invalid("keyframe estimated flag") }
            counts.append(.init(group: JobGroup(state: state, queue: queue), count: count, estimated: flag == 1))
        }
        let m = try r.readLength(max: r.remaining / 3, "keyframe watermarks")
        var marks: [Origin: UInt64] = [:]
        for _ in 0..<m {
            let origin = Origin(node: try r.readString(maxBytes: maxStringBytes), incarnation: try r.readVarint())
            guard marks.updateValue(try r.readVarint(), forKey: origin) == nil else { throw .invalid("repeated watermark") }
        }
        return (counts, marks)
    }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Keyframe {
        var result: Result<Keyframe, DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> Keyframe in
                let term = try r.readSignedVarint()
                let number = try r.readVarint()
                let leader = Origin(node: try r.readString(maxBytes: maxStringBytes), incarnation: try r.readVarint())
                let timestamp = try r.readSignedVarint()
                let (counts, marks) = try readCountsAndWatermarks(&r)
                try r.expectEnd()
                return Keyframe(term: term, number: number, leader: leader, timestamp: timestamp, counts: counts, watermarks: marks)
            }
        }
        return try result.get()
    }
}
