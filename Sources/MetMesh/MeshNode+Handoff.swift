import MetStore
import MetUV
import MetWire

/// How a stopping node hands its store to a successor (DESIGN §6, RELIABILITY H2–H7).
package struct HandoffSettings: Sendable {
    /// The whole handoff, every successor tried included, ends by then (H3: 20 s by default).
    package var deadlineMilliseconds: UInt64 = 20_000
    /// A successor that acknowledges nothing for this long is given up as stalled (H5).
    package var ackTimeoutMilliseconds: UInt64 = 5_000
    /// After a dropped connection, how long the same successor has to be connected again before
    /// the next one is chosen (H4, H5).
    package var reconnectGraceMilliseconds: UInt64 = 1_000
    /// Store bytes per chunk (≤ 1 MiB, RELIABILITY B3).
    package var chunkBytes = 1 << 20
    /// Chunks in flight at most: the memory bound on both sides, and what a resume may re-send.
    package var window = 4

    package init() {}
}

/// How a handoff ended.
package enum HandoffOutcome: Sendable, Equatable {
    /// The successor acknowledged every chunk and the end.
    case completed(successor: String, chunks: Int, bytes: Int, resent: Int, milliseconds: UInt64)
    /// No live peer that is not itself stopping: nobody to hand off to.
    case noSuccessor
    /// The deadline passed, or every candidate failed, before a successor acknowledged the end.
    case incomplete(acknowledged: Int, total: Int, successor: String?, milliseconds: UInt64, reason: String)

    package var isCompleted: Bool {
        if case .completed = self { return true }
        return false
    }
}

/// The sending side of a handoff in progress (loop thread only).
final class HandoffRun {
    let settings: HandoffSettings
    let started: UInt64
    let done: (HandoffOutcome) -> Void
    /// The current transfer's plan: taken with its watermarks as the transfer starts.
    var plan = SnapshotPlan(starts: [0], end: 0, watermarks: [])
    var transfer: HandoffTransfer?
    /// The connection the current transfer runs on.
    var connection: PeerConnection?
    /// Successors given up in this round, by `name#incarnation` (a restarted node is a new one).
    var tried: Set<String> = []
    /// Rounds through every candidate: after a round, those still connected are tried again.
    var rounds = 1
    var lastProgress: UInt64
    var disconnectedAt: UInt64?
    var bytes = 0
    var quartersLogged = 0
    /// Times the current transfer resumed after a dropped connection.
    var resumes = 0
    var timer: UVTimer?

    init(settings: HandoffSettings, started: UInt64, done: @escaping (HandoffOutcome) -> Void) {
        self.settings = settings
        self.started = started
        self.done = done
        lastProgress = started
    }
}

extension MeshNode {
    /// Starts handing this node's store off as it stops: tells every peer it is leaving, picks
    /// the successor (``HandoffTransfer/successor(of:among:)`` among connected peers that are not
    /// leaving), streams the chunks with at most `window` unacknowledged, resumes from the last
    /// acknowledged chunk after a dropped connection, moves to the next successor when one dies,
    /// stalls or starts leaving itself, and calls `done` once.
    package func handOff(_ settings: HandoffSettings, done: @escaping (HandoffOutcome) -> Void) {
        guard outgoing == nil else { return done(.incomplete(acknowledged: 0, total: 0, successor: nil, milliseconds: 0, reason: "a handoff is already running")) }
        announceLeaving()
        let run = HandoffRun(settings: settings, started: UVTimer.now(loop), done: done)
        outgoing = run
        do {
            run.timer = try UVTimer(loop: loop, every: 100) { [weak self] in self?.handoffTick() }
        } catch {
            return finishHandoff(.incomplete(acknowledged: 0, total: 0, successor: nil, milliseconds: 0, reason: "no timer for the deadline: \(error)"))
        }
        startTransfer()
    }

    /// Tells every peer this node is stopping (again on every new connection from now on), so
    /// none picks it as a successor. Call it as early as the stop begins.
    package func announceLeaving() {
        guard !isLeaving else { return }
        isLeaving = true
        let frame = Frame(type: .leaving, payload: [])
        for c in connections.values { c.send(frame) }
    }

    /// How a tried successor is remembered: a restarted node is a new candidate.
    static func key(_ node: String, _ incarnation: UInt64) -> String { "\(node)#\(incarnation)" }

    func startTransfer() {
        guard let run = outgoing else { return }
        var candidates: [String] { connections.compactMap { name, c in
            guard c.isEstablished, leaving[name] == nil, let peer = c.peer, !run.tried.contains(Self.key(name, peer.incarnation)) else { return nil }
            return name
        } }
        if candidates.isEmpty, !run.tried.isEmpty, run.rounds < 3 {
            // Every candidate failed once; those still connected get another round (a slow
            // reconnect, a stall that passed) while the deadline allows.
            run.rounds += 1
            run.tried.removeAll()
        }
        guard let next = HandoffTransfer.successor(of: config.node, among: candidates), let c = connections[next], let identity = c.peer else {
            if run.transfer == nil { return finishHandoff(.noSuccessor) }
            return finishHandoff(.incomplete(acknowledged: run.transfer?.acknowledged ?? 0, total: run.transfer?.total ?? 0,
                                             successor: run.transfer?.successor, milliseconds: UVTimer.now(loop) - run.started,
                                             reason: "no successor left to try"))
        }
        let now = UVTimer.now(loop)
        // Chunk cursors and watermarks at one instant: the chunks hold at least what the
        // watermarks promise (``SeriesStore/snapshotPlan(maxChunkBytes:)``).
        run.plan = snapshotPlan(run.settings.chunkBytes, nil)
        run.transfer = HandoffTransfer(id: UInt64.random(in: 1...UInt64.max), successor: next, incarnation: identity.incarnation,
                                       count: run.plan.count, window: run.settings.window)
        run.connection = c
        run.lastProgress = now
        run.disconnectedAt = nil
        run.quartersLogged = 0
        run.resumes = 0
        onLog("handoff to \(next) started: \(run.plan.count) chunks of up to \(run.settings.chunkBytes) bytes")
        pumpHandoff()
    }

    /// Sends what the window allows. Each chunk is taken from the store as it is sent, so at most
    /// `window` chunks exist at once, whatever the store's size (H2).
    func pumpHandoff() {
        guard let run = outgoing, var t = run.transfer, run.disconnectedAt == nil,
              let c = run.connection, connections[t.successor] === c, c.isEstablished else { return }
        while let index = t.takeNext() {
            let header = HandoffCodec.Header(transfer: t.id, index: index, count: t.count)
            let frame = index < t.count
                ? Frame(type: .handoffChunk, payload: HandoffCodec.encode(header, body: snapshotChunk(index, run.plan)))
                : Frame(type: .handoffEnd, payload: HandoffCodec.encode(header, body: run.plan.watermarks))
            run.bytes += frame.payload.count
            c.send(frame)
        }
        run.transfer = t
    }

    func handoffAcked(_ payload: [UInt8], from c: PeerConnection, _ identity: PeerIdentity) {
        guard let run = outgoing, var t = run.transfer, c === run.connection,
              let (id, index) = try? HandoffCodec.decodeAck(payload), id == t.id else { return }
        let now = UVTimer.now(loop)
        if t.acknowledge(index) { run.lastProgress = now }
        run.transfer = t
        if t.isDone {
            return finishHandoff(.completed(successor: t.successor, chunks: t.count, bytes: run.bytes, resent: t.resent,
                                            milliseconds: now - run.started))
        }
        if t.quarters > run.quartersLogged, t.quarters < 4 {  // one line per 25 % crossed (H7)
            run.quartersLogged = t.quarters
            onLog("handoff to \(t.successor): \(t.quarters * 25)% (\(t.acknowledged) of \(t.total) chunks acknowledged)")
        }
        pumpHandoff()
    }

    /// Every 100 ms while handing off: the deadline, a successor that is leaving too, one whose
    /// connection dropped and did not come back within the grace, or one that stopped acknowledging.
    func handoffTick() {
        guard let run = outgoing else { return }
        let now = UVTimer.now(loop)
        guard now - run.started < run.settings.deadlineMilliseconds else {
            return finishHandoff(.incomplete(acknowledged: run.transfer?.acknowledged ?? 0, total: run.transfer?.total ?? 0,
                                             successor: run.transfer?.successor, milliseconds: now - run.started,
                                             reason: "deadline of \(run.settings.deadlineMilliseconds) ms"))
        }
        guard let t = run.transfer else { return }
        let progress = "\(t.acknowledged) of \(t.total) chunks acknowledged"
        if leaving[t.successor] != nil {
            onLog("handoff successor \(t.successor) is stopping too (\(progress)); choosing another")
            return nextSuccessor(dropping: nil)
        }
        if let lost = run.disconnectedAt {
            guard now - lost >= run.settings.reconnectGraceMilliseconds else { return }
            onLog("handoff successor \(t.successor) did not come back within \(run.settings.reconnectGraceMilliseconds) ms (\(progress)); choosing another")
            return nextSuccessor(dropping: nil)
        }
        if t.inFlight > 0, now - run.lastProgress >= run.settings.ackTimeoutMilliseconds {
            onLog("handoff successor \(t.successor) acknowledged nothing for \(now - run.lastProgress) ms (\(progress)); giving it up as stalled")
            return nextSuccessor(dropping: connections[t.successor])
        }
    }

    /// Gives up the current successor (closing its connection when it stalled) and starts over
    /// with the next one; merged chunks are idempotent, so the next starts from chunk 0.
    func nextSuccessor(dropping stalled: PeerConnection?) {
        guard let run = outgoing, let t = run.transfer else { return }
        run.tried.insert(Self.key(t.successor, t.incarnation))
        run.connection = nil
        startTransfer()
        stalled?.close(nil)  // already logged
    }

    func finishHandoff(_ outcome: HandoffOutcome) {
        guard let run = outgoing else { return }
        outgoing = nil
        run.timer?.close()
        switch outcome {
        case .completed(let successor, let chunks, let bytes, let resent, let ms):
            onLog("handoff to \(successor) done: \(chunks) chunks, \(bytes) bytes in \(ms) ms\(resent > 0 ? " (\(resent) re-sent after a dropped connection)" : "")")
        case .noSuccessor:
            onLog(connections.isEmpty ? "no peer connected to hand off to" : "no peer to hand off to: every connected peer is stopping too")
        case .incomplete(let acknowledged, let total, let successor, let ms, let reason):
            let how = ms >= outgoingDeadline(run) ? "timed out" : "ended incomplete"
            onLog("handoff \(how): \(acknowledged) of \(total) chunks acknowledged by \(successor ?? "no successor") after \(Double(ms) / 1000) s (\(reason))")
        }
        run.done(outcome)
    }

    /// A connection closed (from ``closed(_:_:)``): if it carried the handoff, wait for it to be
    /// re-established (dialling it at once) before moving on.
    func handoffConnectionLost(_ c: PeerConnection) {
        guard let run = outgoing, let t = run.transfer, c === run.connection, run.disconnectedAt == nil else { return }
        run.disconnectedAt = UVTimer.now(loop)
        onLog("handoff connection to \(t.successor) dropped (\(t.acknowledged) of \(t.total) chunks acknowledged); redialling")
        if let m = table.members[t.successor], let (host, port) = Self.split(m.address) { dial(host: host, port: port) }
    }

    /// A connection was established (from ``established(_:_:)``): a leaving node says so again,
    /// and the handoff resumes from its last acknowledged chunk if this is its successor's new
    /// connection — after a drop, or replacing the one the transfer ran on.
    func handoffConnectionEstablished(_ c: PeerConnection, _ identity: PeerIdentity) {
        leaving[identity.node] = nil  // a new connection, perhaps a new process: it says again if it is leaving
        guard isLeaving else { return }
        c.send(Frame(type: .leaving, payload: []))
        guard let run = outgoing, var t = run.transfer, t.successor == identity.node, c !== run.connection else { return }
        guard identity.incarnation == t.incarnation else {
            onLog("handoff successor \(t.successor) restarted; starting over")
            return nextSuccessor(dropping: nil)
        }
        guard run.resumes < Self.maxResumes else {
            // A peer that keeps closing the connection (an older version refusing a frame type,
            // say) is not worth the whole deadline.
            onLog("handoff connection to \(t.successor) dropped \(run.resumes + 1) times; choosing another successor")
            return nextSuccessor(dropping: nil)
        }
        run.resumes += 1
        t.resume()
        run.transfer = t
        run.connection = c
        run.disconnectedAt = nil
        run.lastProgress = UVTimer.now(loop)
        onLog("handoff to \(t.successor) resumed from chunk \(t.acknowledged) of \(t.total)")
        pumpHandoff()
    }

    func outgoingDeadline(_ run: HandoffRun) -> UInt64 { run.settings.deadlineMilliseconds }

    /// Resumes of one transfer before its successor is given up.
    static var maxResumes: Int { 3 }
}
