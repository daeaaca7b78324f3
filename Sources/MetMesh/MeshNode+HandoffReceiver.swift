import MetUV
import MetWire

/// The receiving side of handoffs (DESIGN §6, RELIABILITY H6), with ``HandoffReceiver``.
extension MeshNode {
    /// A chunk or the end of a peer's handoff: merged (idempotent), then acknowledged.
    func handoffReceived(_ frame: Frame, from c: PeerConnection, _ identity: PeerIdentity) {
        let isEnd = frame.type == .handoffEnd
        guard let (header, body) = try? HandoffCodec.decode(frame.payload), isEnd == (header.index == header.count) else {
            host.log("malformed handoff frame from \(identity.node); closing its connection")
            return c.close(nil)
        }
        let now = UVTimer.now(loop)
        let (ok, line) = receiver.arrived(header, from: identity.node, now: now)
        if let line { host.log(line) }
        guard ok else {
            host.log("handoff frame from \(identity.node) does not match its transfer; closing its connection")
            return c.close(nil)
        }
        do {
            if isEnd { try host.merge(watermarks: body, from: identity) } else { try host.merge(chunk: body, from: identity) }
        } catch {
            host.log("could not merge handoff chunk \(header.index) from \(identity.node) (\(error)); closing its connection")
            receiver.refused(header.transfer)
            return c.close(nil)
        }
        // A node that is stopping itself merges (harmless: idempotent) but acknowledges nothing:
        // what it merges now may miss its own handoff or snapshot, so the sender must not count
        // on it. Its `leaving` frame, sent before, makes the sender choose another successor.
        if !isLeaving {
            c.send(Frame(type: .handoffAck, payload: HandoffCodec.encodeAck(transfer: header.transfer, index: header.index)))
        }
        if let done = receiver.merged(header, now: now) { host.log(done) }
    }

    /// Transfers whose sender fell silent are dropped after the receiver timeout (H6); what was
    /// merged stays (it is idempotent), nothing else is held.
    func abandonStaleHandoffs() {
        let timeout = config.handoffReceiverTimeoutMilliseconds
        // Checked every heartbeat: one beat early rather than one late (H6: within the timeout).
        let limit = timeout - min(timeout / 2, config.timings.heartbeat)
        for line in receiver.expire(now: UVTimer.now(loop), limit: limit) { host.log(line) }
    }
}
