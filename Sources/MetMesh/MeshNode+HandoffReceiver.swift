import MetUV
import MetWire

/// The receiving side: one transfer from one stopping peer (loop thread only).
struct IncomingHandoff {
    let from: String
    let count: Int
    let started: UInt64
    var merged = 0
    var lastChunk: UInt64
}

/// The receiving side of handoffs (DESIGN §6, RELIABILITY H6).
extension MeshNode {
    /// A chunk or the end of a peer's handoff: merged (idempotent), then acknowledged.
    func handoffReceived(_ frame: Frame, from c: PeerConnection, _ identity: PeerIdentity) {
        let isEnd = frame.type == .handoffEnd
        guard let (header, body) = try? HandoffCodec.decode(frame.payload), isEnd == (header.index == header.count) else {
            onLog("malformed handoff frame from \(identity.node); closing its connection")
            return c.close(nil)
        }
        let now = UVTimer.now(loop)
        var entry = incoming[header.transfer] ?? {
            onLog("receiving a handoff from \(identity.node): \(header.count) chunks")
            return IncomingHandoff(from: identity.node, count: header.count, started: now, lastChunk: now)
        }()
        guard entry.from == identity.node, entry.count == header.count else {
            onLog("handoff frame from \(identity.node) does not match its transfer; closing its connection")
            return c.close(nil)
        }
        guard isEnd ? onHandoffEnd(body, identity) : onHandoffChunk(body, identity) else {
            onLog("could not merge handoff chunk \(header.index) from \(identity.node); closing its connection")
            incoming[header.transfer] = nil
            return c.close(nil)
        }
        // A node that is stopping itself merges (harmless: idempotent) but acknowledges nothing:
        // what it merges now may miss its own handoff or snapshot, so the sender must not count
        // on it. Its `leaving` frame, sent before, makes the sender choose another successor.
        if !isLeaving {
            c.send(Frame(type: .handoffAck, payload: HandoffCodec.encodeAck(transfer: header.transfer, index: header.index)))
        }
        entry.merged = max(entry.merged, header.index + 1)
        entry.lastChunk = now
        if isEnd {
            incoming[header.transfer] = nil
            onLog("handoff from \(identity.node) complete: \(header.count) chunks merged in \(now - entry.started) ms")
        } else {
            incoming[header.transfer] = entry
        }
    }

    /// Transfers whose sender fell silent are dropped after `receiverTimeoutMilliseconds` (H6);
    /// what was merged stays (it is idempotent), nothing else is held.
    func abandonStaleHandoffs() {
        let now = UVTimer.now(loop)
        // Checked every heartbeat: one beat early rather than one late (H6: within the timeout).
        let limit = handoffReceiverTimeoutMilliseconds - min(handoffReceiverTimeoutMilliseconds / 2, config.heartbeatMilliseconds)
        for (id, entry) in incoming where now - entry.lastChunk >= limit {
            incoming[id] = nil
            onLog("abandoned the handoff from \(entry.from) after \(entry.merged) of \(entry.count + 1) chunks (nothing for \(now - entry.lastChunk) ms); the merged chunks stay")
        }
    }
}
