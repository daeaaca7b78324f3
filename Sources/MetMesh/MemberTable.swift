import MetValues

/// What this node knows of one member of the cluster.
package struct Member: Sendable, Equatable, Hashable {
    package enum Status: UInt8, Sendable { case alive = 1, down = 2 }

    package var name: String
    package var incarnation: UInt64
    /// `host:port` where its mesh listens; empty until known (a peer that dialled us tells it).
    package var address: String
    package var status: Status

    package init(name: String, incarnation: UInt64, address: String, status: Status) {
        self.name = name
        self.incarnation = incarnation
        self.address = address
        self.status = status
    }
}

/// The member list of one node, merged from its own connections and from gossip (RELIABILITY
/// M1, M8, M10), as a pure value: the mesh feeds it events and acts on the changes it reports.
///
/// Rules: a member is `(name, incarnation)`; a newer incarnation always replaces an older one,
/// whatever its status or address; for the same incarnation, `down` is only ever decided by this
/// node's own connection closing (gossip can tell us about members, not kill them), and a live
/// connection makes a member `alive`. A connection from an older incarnation of a known live
/// name is refused (two processes claiming one name: the newer wins).
package struct MemberTable: Sendable {
    package enum Change: Sendable, Equatable {
        case joined(Member)
        case replaced(old: Member, new: Member)
        case down(Member)
        case alive(Member)
    }

    package let me: Member
    package private(set) var members: [String: Member] = [:]

    package init(me: Member) { self.me = me }

    /// Every member but this node, by name.
    package var peers: [Member] { members.values.sorted { $0.name < $1.name } }

    /// A member heard of through gossip (or a seed's list).
    package mutating func learn(_ m: Member) -> [Change] {
        guard m.name != me.name else { return [] }
        guard let known = members[m.name] else {
            // Heard of, not yet seen: it counts as alive until our own connection says otherwise.
            var fresh = m
            fresh.status = .alive
            members[m.name] = fresh
            return [.joined(fresh)]
        }
        if m.incarnation == known.incarnation, known.address.isEmpty, !m.address.isEmpty {
            members[m.name]!.address = m.address  // learnt where it listens; nothing else changes
            return []
        }
        guard m.incarnation > known.incarnation else { return [] }
        var newer = m
        newer.status = .alive
        members[m.name] = newer
        return [.replaced(old: known, new: newer)]
    }

    /// Merges a gossiped member list.
    package mutating func learn(_ list: [Member]) -> [Change] { list.flatMap { learn($0) } }

    /// Whether to accept an authenticated connection from `peer`: no if this name is known alive
    /// with a newer incarnation.
    package func accepts(name: String, incarnation: UInt64) -> Bool {
        guard name != me.name else { return false }
        guard let known = members[name] else { return true }
        return incarnation >= known.incarnation || known.status == .down
    }

    /// An authenticated connection to `peer` is up.
    package mutating func connected(name: String, incarnation: UInt64, address: String) -> [Change] {
        guard accepts(name: name, incarnation: incarnation) else { return [] }
        let m = Member(name: name, incarnation: incarnation, address: address, status: .alive)
        guard let known = members[name] else {
            members[name] = m
            return [.joined(m)]
        }
        members[name] = m
        if known.incarnation < incarnation { return [.replaced(old: known, new: m)] }
        return known.status == .down ? [.alive(m)] : []
    }

    /// The connection to `peer` closed: it is down (it may come back, or a newer incarnation may).
    package mutating func disconnected(name: String, incarnation: UInt64) -> [Change] {
        guard var known = members[name], known.incarnation == incarnation, known.status == .alive else { return [] }
        known.status = .down
        members[name] = known
        return [.down(known)]
    }

    /// Exactly one connection per pair, even when both dial at once: the one dialled by the node
    /// whose name sorts first is kept, the other closed, by the same rule on both ends.
    package static func keeps(dialler: String, listener: String) -> Bool { dialler < listener }

    /// Members this node should have a connection to: every live peer whose name sorts after
    /// this node's (the other side of each pair dials us).
    package var toDial: [Member] { peers.filter { $0.status == .alive && Self.keeps(dialler: me.name, listener: $0.name) } }
}

/// The payload of a `members` frame: a node's member list, itself first.
package enum MemberListCodec {
    package static func encode(_ members: [Member]) -> [UInt8] {
        var w = ByteWriter()
        w.writeVarint(UInt64(members.count))
        for m in members {
            w.writeString(m.name)
            w.writeVarint(m.incarnation)
            w.writeString(m.address)
            w.writeByte(m.status.rawValue)
        }
        return w.bytes
    }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> [Member] {
        var result: Result<[Member], DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> [Member] in
                let n = try r.readLength(max: r.remaining / 4, "member count")
                var out: [Member] = []
                for _ in 0..<n {
                    let name = try r.readString(maxBytes: 128)
                    let incarnation = try r.readVarint()
                    let address = try r.readString(maxBytes: 128)
                    guard let status = Member.Status(rawValue: try r.readByte()) else { throw .invalid("member status") }
                    out.append(Member(name: name, incarnation: incarnation, address: address, status: status))
                }
                try r.expectEnd()
                return out
            }
        }
        return try result.get()
    }
}
