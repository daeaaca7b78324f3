import MetStore
import MetValues

/// Who is at the other end of an authenticated connection, or who recorded some data: a node
/// process, its name and the incarnation chosen at its start (DESIGN §3's origin).
package struct PeerIdentity: Sendable, Equatable, Hashable, CustomStringConvertible {
    package var node: String
    package var incarnation: UInt64

    package init(node: String, incarnation: UInt64) {
        self.node = node
        self.incarnation = incarnation
    }

    package var description: String { "\(node)#\(incarnation)" }
}

/// Names on the wire (nodes, clusters, addresses) are at most this many bytes.
package let maxNameBytes = 128

/// The payload of a `hello` frame: the first thing each side of a connection says.
/// ```
/// u8 protocol version · cluster · node · incarnation · 32-byte nonce
/// ```
package struct Hello: Sendable, Equatable {
    package var version: UInt8
    package var cluster: String
    package var node: String
    package var incarnation: UInt64
    package var nonce: [UInt8]

    package init(version: UInt8 = WireProtocol.version, cluster: String, node: String, incarnation: UInt64, nonce: [UInt8]) {
        self.version = version
        self.cluster = cluster
        self.node = node
        self.incarnation = incarnation
        self.nonce = nonce
    }

    package func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.writeByte(version)
        w.writeString(cluster)
        w.writeString(node)
        w.writeVarint(incarnation)
        w.writeBytes(nonce)
        return w.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Hello {
        try decodeWhole(bytes) { r throws(DecodeError) in
            let version = try r.readByte()
            let cluster = try r.readString(maxBytes: maxNameBytes)
            let node = try r.readString(maxBytes: maxNameBytes)
            let incarnation = try r.readVarint()
            let nonce = Array(try r.readBytes(32))
            return Hello(version: version, cluster: cluster, node: node, incarnation: incarnation, nonce: nonce)
        }
    }
}

/// One entry of a `members` frame: a member as gossip tells of it (its status is each node's
/// own judgement and never travels).
package struct MemberRecord: Sendable, Equatable {
    package var name: String
    package var incarnation: UInt64
    /// `host:port` where its mesh listens.
    package var address: String

    package init(name: String, incarnation: UInt64, address: String) {
        self.name = name
        self.incarnation = incarnation
        self.address = address
    }
}

/// The payload of a `members` frame: a node's member list, itself first.
/// ```
/// n members, each: name · incarnation · address
/// ```
package enum MemberListCodec {
    package static func encode(_ members: [MemberRecord]) -> [UInt8] {
        var w = ByteWriter()
        w.writeVarint(UInt64(members.count))
        for m in members {
            w.writeString(m.name)
            w.writeVarint(m.incarnation)
            w.writeString(m.address)
        }
        return w.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> [MemberRecord] {
        try decodeWhole(bytes) { r throws(DecodeError) in
            let n = try r.readLength(max: r.remaining / 3, "member count")
            var out: [MemberRecord] = []
            for _ in 0..<n {
                let name = try r.readString(maxBytes: maxNameBytes)
                let incarnation = try r.readVarint()
                let address = try r.readString(maxBytes: maxNameBytes)
                out.append(MemberRecord(name: name, incarnation: incarnation, address: address))
            }
            return out
        }
    }
}

/// The payload of a `heartbeat` frame: the sender's wall clock in unix milliseconds, from which
/// the receiver estimates the peer's clock offset (DESIGN §3).
package enum HeartbeatCodec {
    package static func encode(wallClockMilliseconds: Int64) -> [UInt8] {
        var w = ByteWriter()
        w.writeVarint(UInt64(max(0, wallClockMilliseconds)))
        return w.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Int64 {
        try decodeWhole(bytes) { r throws(DecodeError) in
            let stamp = try r.readVarint()
            guard stamp <= UInt64(Int64.max) else { throw .invalid("heartbeat clock") }
            return Int64(stamp)
        }
    }
}

/// The payload of a `resend` frame: the batches `range` of the receiver's incarnation
/// `incarnation`, asked again by a replica that saw a gap.
/// ```
/// from · to · incarnation
/// ```
package struct ResendRequest: Sendable, Equatable {
    package var range: ClosedRange<UInt64>
    package var incarnation: UInt64

    package init(range: ClosedRange<UInt64>, incarnation: UInt64) {
        self.range = range
        self.incarnation = incarnation
    }

    package func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.writeVarint(range.lowerBound)
        w.writeVarint(range.upperBound)
        w.writeVarint(incarnation)
        return w.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> ResendRequest {
        try decodeWhole(bytes) { r throws(DecodeError) in
            let from = try r.readVarint(), to = try r.readVarint(), incarnation = try r.readVarint()
            guard from <= to else { throw .invalid("resend range") }
            return ResendRequest(range: from...to, incarnation: incarnation)
        }
    }
}

/// Per-origin watermarks (the last batch applied of each origin), in the encoding a snapshot's
/// end carries: the payload of `digest` frames and of `snapshotRequest` frames naming origins.
package enum WatermarksCodec {
    package static func encode(_ marks: [PeerIdentity: UInt64]) -> [UInt8] {
        StoreSnapshot.encode(watermarks: Dictionary(uniqueKeysWithValues: marks.map { (Origin(node: $0.key.node, incarnation: $0.key.incarnation), $0.value) }))
    }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> [PeerIdentity: UInt64] {
        let marks = try StoreSnapshot.decode(watermarks: bytes)
        return Dictionary(uniqueKeysWithValues: marks.map { (PeerIdentity(node: $0.key.node, incarnation: $0.key.incarnation), $0.value) })
    }
}

/// What a snapshot holds; the first byte of its `snapshotEnd` frame.
package enum SnapshotKind: UInt8, Sendable {
    /// One origin's data: an answer to a resend beyond the retransmit window, or to an
    /// anti-entropy or catch-up request naming origins.
    case origin = 1
    /// The whole store: the answer to an empty `snapshotRequest` (catch-up).
    case whole = 2
}

/// The payload of a `snapshotEnd` frame: the kind, then the snapshot's watermarks as the
/// sending store encoded them (merged only after every chunk).
package struct SnapshotEnd: Sendable, Equatable {
    package var kind: SnapshotKind
    package var watermarks: [UInt8]

    package init(kind: SnapshotKind, watermarks: [UInt8]) {
        self.kind = kind
        self.watermarks = watermarks
    }

    package func encoded() -> [UInt8] { [kind.rawValue] + watermarks }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> SnapshotEnd {
        guard let first = bytes.first, let kind = SnapshotKind(rawValue: first) else { throw .invalid("snapshot kind") }
        return SnapshotEnd(kind: kind, watermarks: Array(bytes.dropFirst()))
    }
}

/// The payload of a `probe` frame: the member the sender suspects. The payload of an
/// `evidence` frame: the same member, and how long ago the answering node last heard it
/// directly (absent: it has no connection to it, or knows another incarnation).
/// ```
/// probe:    name · incarnation
/// evidence: name · incarnation · u8 heard (0/1) · [ms since heard]
/// ```
package struct Evidence: Sendable, Equatable {
    package var member: PeerIdentity
    package var heardAgoMilliseconds: UInt64?

    package init(member: PeerIdentity, heardAgoMilliseconds: UInt64?) {
        self.member = member
        self.heardAgoMilliseconds = heardAgoMilliseconds
    }

    package static func encodeProbe(_ member: PeerIdentity) -> [UInt8] {
        var w = ByteWriter()
        w.writeString(member.node)
        w.writeVarint(member.incarnation)
        return w.bytes
    }

    package static func decodeProbe(_ bytes: [UInt8]) throws(DecodeError) -> PeerIdentity {
        try decodeWhole(bytes) { r throws(DecodeError) in
            PeerIdentity(node: try r.readString(maxBytes: maxNameBytes), incarnation: try r.readVarint())
        }
    }

    package func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.writeString(member.node)
        w.writeVarint(member.incarnation)
        w.writeByte(heardAgoMilliseconds == nil ? 0 : 1)
        if let heardAgoMilliseconds { w.writeVarint(heardAgoMilliseconds) }
        return w.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Evidence {
        try decodeWhole(bytes) { r throws(DecodeError) in
            let member = PeerIdentity(node: try r.readString(maxBytes: maxNameBytes), incarnation: try r.readVarint())
            switch try r.readByte() {
            case 0: return Evidence(member: member, heardAgoMilliseconds: nil)
            case 1: return Evidence(member: member, heardAgoMilliseconds: try r.readVarint())
            default: throw .invalid("evidence flag")
            }
        }
    }
}

/// The payload of a `holdings` frame: whether the sender is ready (holds what its peers held
/// when it joined), then its watermark of every origin it has applied batches of.
/// ```
/// u8 ready (0/1) · watermarks (as in `digest`)
/// ```
package struct Holdings: Sendable, Equatable {
    package var ready: Bool
    package var watermarks: [PeerIdentity: UInt64]

    package init(ready: Bool, watermarks: [PeerIdentity: UInt64]) {
        self.ready = ready
        self.watermarks = watermarks
    }

    package func encoded() -> [UInt8] { [ready ? 1 : 0] + WatermarksCodec.encode(watermarks) }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Holdings {
        guard let flag = bytes.first, flag <= 1 else { throw .invalid("holdings ready flag") }
        return Holdings(ready: flag == 1, watermarks: try WatermarksCodec.decode(Array(bytes.dropFirst())))
    }
}

/// The payload of a `relayed` frame: a `batch`, `counts` or `keyframe` frame of another node, unchanged
/// (its origin and sequence are inside it, so a copy that also arrives directly merges as a
/// duplicate). A relayed frame is never relayed again.
/// ```
/// u8 inner frame type · inner payload
/// ```
package enum RelayCodec {
    package static func encode(_ inner: Frame) -> [UInt8] { [inner.type.rawValue] + inner.payload }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Frame {
        guard let first = bytes.first, let type = FrameType(rawValue: first), [.batch, .counts, .keyframe].contains(type) else {
            throw .invalid("relayed frame type")
        }
        return Frame(type: type, payload: Array(bytes.dropFirst()))
    }
}
