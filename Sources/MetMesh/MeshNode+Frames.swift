import MetUV
import MetWire

/// Every frame received on an established connection, by type; and relays (RELIABILITY C3).
extension MeshNode {
    func received(_ frame: Frame, from c: PeerConnection) {
        guard !c.isClosed, let identity = c.peer, !blackholed.contains(identity.node) else { return }
        let verdict = faults.received(frame.type)
        guard verdict != .drop else { return }
        defer {
            if verdict == .deliverThenCut {
                host.log("fault plane: cutting the connection to \(identity.node) after a \(frame.type) frame")
                c.close(nil)  // logged just above
            }
        }
        let now = UVTimer.now(loop)
        perform(membership.heard(identity.node, now: now))
        switch frame.type {
        case .batch:
            batchArrived(frame.payload, from: c, identity)
            relay(frame, of: identity.node, now: now)
        case .counts, .keyframe:
            countsArrived(frame, from: c, identity)
            relay(frame, of: identity.node, now: now)
        case .relayed:
            guard let inner = try? RelayCodec.decode(frame.payload) else { return c.close("malformed relayed frame") }
            if inner.type == .batch { batchArrived(inner.payload, from: c, identity) } else { countsArrived(inner, from: c, identity) }
        case .moves:
            // Not relayed: a peer that cannot hear the origin counts them with its batch.
            guard host.receivedMoves(frame.payload, from: identity) else {
                host.log("malformed moves frame from \(identity.node); closing its connection")
                return c.close(nil)
            }
        case .members:
            membersArrived(frame.payload, from: c, identity)
        case .resend:
            resend(frame.payload, to: c)
        case .heartbeat:
            counted.heartbeatsReceived += 1
            // A heartbeat read just after this node stalled waited in the socket: its clock is stale.
            if !membership.isGuarded(now: now) { clockOffset(frame.payload, from: identity.node) }
        case .snapshotChunk:
            do { try host.merge(chunk: frame.payload, from: identity) } catch { host.log("snapshot chunk from \(identity.node) refused: \(error)") }
        case .snapshotEnd:
            snapshotEnded(frame.payload, from: c, identity)
        case .snapshotRequest:
            serveSnapshot(frame.payload, to: c)
        case .digest:
            digestArrived(frame.payload, from: c, identity)
        case .handoffChunk, .handoffEnd:
            handoffReceived(frame, from: c, identity)
        case .handoffAck:
            handoffAcked(frame.payload, from: c)
        case .leaving:
            leaving[identity.node] = identity.incarnation
            host.log("\(identity.node) is stopping; it will not be chosen as a handoff successor")
        case .probe:
            probed(frame.payload, from: c, identity, now: now)
        case .evidence:
            guard let e = try? Evidence.decode(frame.payload) else { return c.close("malformed evidence") }
            perform(membership.evidence(about: e.member, from: identity.node, heardAgo: e.heardAgoMilliseconds, now: now))
        case .holdings:
            guard let h = try? Holdings.decode(frame.payload) else { return c.close("malformed holdings") }
            catchUp.holdings(h, from: identity.node)
            stepCatchUp()
        case .hello, .proof:
            host.log("unexpected \(frame.type) frame from \(identity.node); closing its connection")
            c.close(nil)
        }
    }

    func batchArrived(_ payload: [UInt8], from c: PeerConnection, _ identity: PeerIdentity) {
        switch host.receivedBatch(payload, from: identity) {
        case .taken: break
        case .gap(let origin, let missing): requestResend(from: origin, missing)
        case .malformed:
            host.log("malformed batch from \(identity.node); closing its connection")
            c.close(nil)
        }
    }

    /// A keyframe or count delta (`counts`), or a keyframe of a leader of the previous version.
    func countsArrived(_ frame: Frame, from c: PeerConnection, _ identity: PeerIdentity) {
        let taken = frame.type == .keyframe ? host.receivedKeyframe(frame.payload, from: identity)
            : host.receivedCounts(frame.payload, from: identity)
        guard taken else {
            host.log("malformed \(frame.type) frame from \(identity.node); closing its connection")
            return c.close(nil)
        }
    }

    /// Asks `origin` to send its batches `range` again (a receiver saw a sequence gap). An origin
    /// this node cannot hear directly is asked through a peer that hears it: that peer sends its
    /// replica's data of the origin (a per-origin snapshot, merged idempotently).
    package func requestResend(from origin: PeerIdentity, _ range: ClosedRange<UInt64>) {
        assertOnLoop()
        if let c = connections[origin.node], c.peer == origin, membership.member(origin.node)?.status == .alive {
            return c.send(Frame(type: .resend, payload: ResendRequest(range: range, incarnation: origin.incarnation).encoded()))
        }
        let now = UVTimer.now(loop)
        guard let peer = membership.voucher(for: origin, now: now), connections[peer] != nil,
              now - (antiEntropy.asked[origin] ?? 0) >= 5000 else { return }
        antiEntropy.asked[origin] = now
        host.log("missing batches \(range.lowerBound)...\(range.upperBound) of \(origin.node), which this node cannot reach; asking \(peer), which hears it, for its data")
        connections[peer]?.send(Frame(type: .snapshotRequest, payload: WatermarksCodec.encode([origin: max(1, range.lowerBound) - 1])))
    }

    /// A peer suspects `member`: say when this node last heard it, and relay its frames to that
    /// peer for a while (every probe renews it) when this node hears it.
    func probed(_ payload: [UInt8], from c: PeerConnection, _ identity: PeerIdentity, now: UInt64) {
        guard let member = try? Evidence.decodeProbe(payload) else { return c.close("malformed probe") }
        let ago = membership.heardAgo(member, now: now)
        c.send(Frame(type: .evidence, payload: Evidence(member: member, heardAgoMilliseconds: ago).encoded()))
        guard ago != nil, member.node != identity.node else { return }
        if relays[member.node]?[identity.node] == nil {
            host.log("relaying \(member.node)'s batches to \(identity.node), which cannot hear it (RELIABILITY C3)")
        }
        relays[member.node, default: [:]][identity.node] = now + 3 * config.timings.heartbeat
    }

    /// Relays a batch or keyframe that came straight from `origin` to the peers that cannot hear it.
    func relay(_ frame: Frame, of origin: String, now: UInt64) {
        guard let routes = relays[origin], !routes.isEmpty else { return }
        var bytes: [UInt8]?
        for (name, until) in routes where until > now && !blackholed.contains(name) {
            guard let c = connections[name] else { continue }
            if bytes == nil { bytes = Frame(type: .relayed, payload: RelayCodec.encode(frame)).encoded() }
            c.send(encoded: bytes!)
            counted.relayedFrames += 1
        }
    }

    /// Relays nobody asked for again within three heartbeats end.
    func expireRelays(now: UInt64) {
        for (origin, routes) in relays {
            let live = routes.filter { $0.value > now }
            relays[origin] = live.isEmpty ? nil : live
            for name in routes.keys where live[name] == nil {
                host.log("stopped relaying \(origin)'s batches to \(name): it no longer asks")
            }
        }
    }
}
