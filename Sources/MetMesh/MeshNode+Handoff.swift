import MetUV
import MetWire

/// The sending side of a handoff in progress (loop thread only): the ``HandoffRound`` machine,
/// the snapshot of the current transfer, and the connection it runs on.
final class HandoffRun {
    var round: HandoffRound
    let done: (HandoffOutcome) -> Void
    /// The current transfer's snapshot: planned with its watermarks as the transfer starts.
    var source: (any SnapshotSource)?
    /// The connection the current transfer runs on.
    var connection: PeerConnection?
    var timer: UVTimer?

    init(round: HandoffRound, done: @escaping (HandoffOutcome) -> Void) {
        self.round = round
        self.done = done
    }
}

/// Performing a handoff (DESIGN §6, RELIABILITY H2–H7): the decisions are ``HandoffRound``'s;
/// this plans snapshots, sends chunks, closes and dials, and reports the outcome.
extension MeshNode {
    /// Starts handing this node's store off as it stops: tells every peer it is leaving, then
    /// streams the store to a successor chosen among connected peers that are not leaving, with
    /// at most `window` chunks unacknowledged, resuming after a dropped connection and moving on
    /// when one dies, stalls or leaves itself; calls `done` once.
    package func handOff(_ settings: HandoffSettings, done: @escaping (HandoffOutcome) -> Void) {
        assertOnLoop()
        guard outgoing == nil else { return done(.incomplete(acknowledged: 0, total: 0, successor: nil, milliseconds: 0, reason: "a handoff is already running")) }
        announceLeaving()
        let now = UVTimer.now(loop)
        let run = HandoffRun(round: HandoffRound(settings: settings, me: config.node, now: now), done: done)
        outgoing = run
        do {
            run.timer = try UVTimer(loop: loop, every: 100) { [weak self] in self?.handoffTick() }
        } catch {
            return finishHandoff(.incomplete(acknowledged: 0, total: 0, successor: nil, milliseconds: 0, reason: "no timer for the deadline: \(error)"))
        }
        performHandoff(run.round.start(candidates: successorCandidates(), now: now))
    }

    /// Tells every peer this node is stopping (again on every new connection from now on), so
    /// none picks it as a successor. Call it as early as the stop begins.
    package func announceLeaving() {
        assertOnLoop()
        guard !isLeaving else { return }
        isLeaving = true
        let bytes = Frame(type: .leaving, payload: []).encoded()
        for c in connections.values { c.send(encoded: bytes) }
    }

    /// Established peers that are not leaving.
    func successorCandidates() -> [PeerIdentity] {
        connections.compactMap { name, c in c.isEstablished && leaving[name] == nil ? c.peer : nil }
    }

    func performHandoff(_ actions: [HandoffRound.Action]) {
        for action in actions {
            guard let run = outgoing else { return }
            switch action {
            case .plan(let successor):
                // Chunk cursors and watermarks at one instant: the chunks hold at least what the
                // watermarks promise.
                let source = host.planSnapshot(of: nil, chunkBytes: run.round.settings.chunkBytes)
                run.source = source
                performHandoff(run.round.planned(successor, id: UInt64.random(in: 1...UInt64.max), count: source.chunkCount, now: UVTimer.now(loop)))
            case .attach:
                run.connection = run.round.transfer.flatMap { connections[$0.successor] }
            case .send(let index, let t):
                // Each chunk is taken from the store as it is sent, so at most `window` chunks
                // exist at once, whatever the store's size (H2).
                guard let c = run.connection, let source = run.source, connections[t.successor] === c, c.isEstablished else { continue }
                let header = HandoffCodec.Header(transfer: t.id, index: index, count: t.count)
                let frame = index < t.count
                    ? Frame(type: .handoffChunk, payload: HandoffCodec.encode(header, body: source.chunk(index)))
                    : Frame(type: .handoffEnd, payload: HandoffCodec.encode(header, body: source.watermarks))
                run.round.sent(bytes: frame.payload.count)
                c.send(frame)
            case .close(let name):
                connections[name]?.close(nil)  // already logged
            case .redial(let name):
                if let m = membership.member(name), let (host, port) = Self.split(m.address) { dial(host: host, port: port) }
            case .log(let line):
                host.log(line)
            case .finish(let outcome):
                finishHandoff(outcome)
            }
        }
    }

    func handoffAcked(_ payload: [UInt8], from c: PeerConnection) {
        guard let run = outgoing, c === run.connection, let (id, index) = try? HandoffCodec.decodeAck(payload) else { return }
        performHandoff(run.round.acknowledged(transfer: id, index: index, now: UVTimer.now(loop)))
    }

    /// Every 100 ms while handing off.
    func handoffTick() {
        guard let run = outgoing else { return }
        let leavingToo = run.round.transfer.map { leaving[$0.successor] != nil } ?? false
        performHandoff(run.round.tick(now: UVTimer.now(loop), successorLeaving: leavingToo, candidates: successorCandidates()))
    }

    func finishHandoff(_ outcome: HandoffOutcome) {
        guard let run = outgoing else { return }
        outgoing = nil
        run.timer?.close()
        switch outcome {
        case .completed(let successor, let chunks, let bytes, let resent, let ms):
            host.log("handoff to \(successor) done: \(chunks) chunks, \(bytes) bytes in \(ms) ms\(resent > 0 ? " (\(resent) re-sent after a dropped connection)" : "")")
        case .noSuccessor:
            host.log(connections.isEmpty ? "no peer connected to hand off to" : "no peer to hand off to: every connected peer is stopping too")
        case .incomplete(let acknowledged, let total, let successor, let ms, let reason):
            let how = ms >= run.round.settings.deadlineMilliseconds ? "timed out" : "ended incomplete"
            host.log("handoff \(how): \(acknowledged) of \(total) chunks acknowledged by \(successor ?? "no successor") after \(Double(ms) / 1000) s (\(reason))")
        }
        run.done(outcome)
    }

    /// A connection closed (from ``closed(_:_:)``): if it carried the handoff, wait for it to be
    /// re-established (dialling it at once) before moving on.
    func handoffConnectionLost(_ c: PeerConnection) {
        guard let run = outgoing, c === run.connection else { return }
        performHandoff(run.round.connectionLost(now: UVTimer.now(loop)))
    }

    /// A connection was established (from ``established(_:_:)``): a leaving node says so again,
    /// and the handoff resumes if this is its successor's new connection — after a drop, or
    /// replacing the one the transfer ran on.
    func handoffConnectionEstablished(_ c: PeerConnection, _ identity: PeerIdentity) {
        leaving[identity.node] = nil  // a new connection, perhaps a new process: it says again if it is leaving
        guard isLeaving else { return }
        c.send(Frame(type: .leaving, payload: []))
        guard let run = outgoing, c !== run.connection else { return }
        performHandoff(run.round.reconnected(identity, candidates: successorCandidates(), now: UVTimer.now(loop)))
    }
}
