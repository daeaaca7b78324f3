import MetUV
import MetWire

/// Connections: adopting a socket, the handshake's outcome, one connection per pair, closes and
/// refusals, gossip of the member list, and performing the membership machine's actions.
extension MeshNode {
    func adopt(_ connection: UVConnection, address: String, dialled: Bool) {
        let handshake = Handshake(role: dialled ? .initiator : .responder, cluster: config.cluster, node: config.node,
                                  incarnation: config.incarnation, secret: config.secret, previous: config.previousSecrets)
        let peer = PeerConnection(connection: connection, loop: loop, mesh: self, address: address, handshake: handshake, dialled: dialled)
        if !dialled, pending.values.filter({ !$0.dialled }).count >= Self.maxUnauthenticated {
            // S7: a flood of unauthenticated sockets is refused at once, before any handshake.
            return peer.close("more than \(Self.maxUnauthenticated) unauthenticated connections at once")
        }
        pending[ObjectIdentifier(peer)] = peer
        peer.start()
    }

    /// A connection that never completed the handshake, or was refused after it, was closed:
    /// counted by reason, logged at most once per remote host per minute (S6).
    func rejected(_ c: PeerConnection, _ reason: String, counting key: String? = nil) {
        counted.rejections[key ?? reason, default: 0] += 1
        let remoteHost = c.remoteHost
        guard rejectionLines.allows(remoteHost, now: UVTimer.now(loop)) else { return }
        host.log("connection \(c.dialled ? "to" : "from") \(c.remote.isEmpty ? "a peer" : c.remote) closed: \(reason) (further lines for \(remoteHost) suppressed for 60 s)")
    }

    /// An authenticated peer sent a frame of a type this build does not know; it was skipped.
    func skipped(_ type: UInt8, from c: PeerConnection) {
        guard let name = c.peer?.node, closeLines.allows("\(name) type \(type)", now: UVTimer.now(loop)) else { return }
        host.log("\(name) sent a frame of type \(type), unknown to this version; skipped (a newer version? logged once a minute)")
    }

    func established(_ c: PeerConnection, _ identity: PeerIdentity) {
        pending[ObjectIdentifier(c)] = nil
        if c.dialled {
            dialing.remove(c.address)
            retry[c.address] = nil  // connected: the next loss starts the backoff afresh
        }
        // Test fault plane: cut off (a black hole lets no handshake through either).
        if partitioned.contains(identity.node) || blackholed.contains(identity.node) { return c.close(nil) }
        guard membership.accepts(name: identity.node, incarnation: identity.incarnation) else {
            // Counted and logged (once a minute per host) by `rejected`, as the connection closes.
            let reason = identity.node == config.node ? "it claims this node's name"
                : "incarnation \(identity.incarnation) of \(identity.node) is older than the live one"
            return c.close("refused \(identity.node): \(reason)")
        }
        if let existing = connections[identity.node], !existing.isClosed,
           let old = existing.peer, old.incarnation < identity.incarnation {
            // Two live processes claim one name (RELIABILITY M10): the newer incarnation wins.
            host.log("two processes claim the name \(identity.node): incarnation \(old.incarnation) at \(existing.remote) is refused in favour of \(identity.incarnation) at \(c.remote)")
            connections[identity.node] = nil
            existing.close(nil)
        }
        if let existing = connections[identity.node], !existing.isClosed {
            // Both dialled at once: keep the connection dialled by the name that sorts first.
            let dialler = c.dialled ? config.node : identity.node
            guard Membership.keeps(dialler: dialler, listener: dialler == config.node ? identity.node : config.node) else {
                return c.close(nil)
            }
            connections[identity.node] = nil
            existing.close(nil)
        }
        connections[identity.node] = c
        let now = UVTimer.now(loop)
        if let index = c.sharedSecretIndex, index > 0, previousSecretLines.allows(identity.node, now: now) {
            // S5: the rotation is not finished while a peer still needs a previous secret.
            host.log("connection with \(identity.node) authenticated with previous secret \(index) (the first both nodes hold in the dialler's order): the rotation is not finished until every node holds the current secret; previousSecrets must stay until then")
        }
        // A peer that dialled us tells where it listens in its member list; until then keep the
        // address known for this same incarnation (a restarted peer listens somewhere new).
        let known = membership.member(identity.node).flatMap { $0.incarnation == identity.incarnation ? $0.address : nil }
        perform(membership.connected(identity, address: c.dialled ? c.address : (known ?? ""), now: now))
        // Tell everyone who we know now (ourselves first), so they can dial the rest (M8), and
        // this peer what we hold (a joiner compares it with its own, C6).
        gossip()
        c.send(Frame(type: .holdings, payload: Holdings(ready: isReady, watermarks: host.watermarks()).encoded()))
        if let counts = host.heldCounts() { c.send(Frame(type: .counts, payload: counts)) }
        antiEntropy.sent[identity.node] = nil  // a new connection gets the next digest in full
        handoffConnectionEstablished(c, identity)
        performCatchUp(catchUp.connectionChanged(identity.node, closed: false))
    }

    func closed(_ c: PeerConnection, _ reason: String?) {
        pending[ObjectIdentifier(c)] = nil
        if c.dialled { dialing.remove(c.address) }
        guard let identity = c.peer, connections[identity.node] === c else {
            if let refusal = c.refusal {
                rejected(c, "\(c.peer?.node ?? "a peer") sent \(refusal)", counting: "frame MAC: \(refusal.rawValue)")
            } else if let reason {
                rejected(c, reason)
            }
            return
        }
        connections[identity.node] = nil
        if let refusal = c.refusal {
            // A frame failed its MAC (S3): counted by reason, one line per remote host per minute (S6).
            rejected(c, "\(identity.node) sent \(refusal)", counting: "frame MAC: \(refusal.rawValue)")
        } else if let reason, reason != PeerConnection.closedByPeer, closeLines.allows(identity.node, now: UVTimer.now(loop)) {
            // A frame this node could not take, a full queue, a silent peer: say which.
            host.log("connection with \(identity.node) closed: \(reason)")
        }
        if leaving[identity.node] == identity.incarnation, let address = membership.member(identity.node)?.address {
            retry[address] = nil  // a graceful stop is usually a restart: dial it again from 50 ms (C6)
        }
        perform(membership.disconnected(identity, now: UVTimer.now(loop)))
        handoffConnectionLost(c)
        performCatchUp(catchUp.connectionChanged(identity.node, closed: true))
    }

    /// Sends this node's member list to every established peer. Called whenever the list
    /// changes; a node only re-sends when its own list changed, so gossip settles.
    func gossip() {
        let list = [membership.me.record] + membership.peers.filter { !$0.address.isEmpty }.map(\.record)
        let bytes = Frame(type: .members, payload: MemberListCodec.encode(list)).encoded()
        for c in connections.values { c.send(encoded: bytes) }
    }

    /// A peer's member list: learn from it, and dial the members this node should dial.
    func membersArrived(_ payload: [UInt8], from c: PeerConnection, _ identity: PeerIdentity) {
        guard let list = try? MemberListCodec.decode(payload) else { return c.close("malformed member list") }
        let now = UVTimer.now(loop)
        let before = membership.members
        perform(membership.learn(list.filter { $0.name != identity.node }, now: now))
        // The sender's own entry carries the address it listens on.
        if let own = list.first(where: { $0.name == identity.node }) {
            perform(membership.connected(PeerIdentity(node: own.name, incarnation: own.incarnation), address: own.address, now: now))
        }
        if membership.members != before { gossip() }
        for m in membership.toDial where connections[m.name] == nil && m.status != .down {
            if let (host, port) = Self.split(m.address) { dial(host: host, port: port) }
        }
    }

    /// Performs what the membership machine decided.
    func perform(_ actions: [MembershipAction]) {
        for action in actions {
            switch action {
            case .transition(let t):
                host.membershipChanged(t)
            case .probe(let member):
                let bytes = Frame(type: .probe, payload: Evidence.encodeProbe(member)).encoded()
                for (name, c) in connections where name != member.node && !blackholed.contains(name) { c.send(encoded: bytes) }
            case .close(let name, let reason):
                connections[name]?.close(reason)
            case .log(let line):
                host.log(line)
            }
        }
    }
}
