import MetUV
import MetWire

/// How a stopping node hands its store to a successor (DESIGN §6, RELIABILITY H2–H7).
public struct HandoffSettings: Sendable {
    /// The whole handoff, every successor tried included, ends by then (H3: 20 s by default).
    public var deadlineMilliseconds: UInt64 = 20_000
    /// A successor that acknowledges nothing for this long is given up as stalled (H5).
    public var ackTimeoutMilliseconds: UInt64 = 5_000
    /// After a dropped connection, how long the same successor has to be connected again before
    /// the next one is chosen (H4, H5).
    public var reconnectGraceMilliseconds: UInt64 = 1_000
    /// Store bytes per chunk (≤ 1 MiB, RELIABILITY B3).
    public var chunkBytes = 1 << 20
    /// Chunks in flight at most: the memory bound on both sides, and what a resume may re-send.
    public var window = 4

    public init() {}
}

/// How a handoff ended.
public enum HandoffOutcome: Sendable, Equatable {
    /// The successor acknowledged every chunk and the end.
    case completed(successor: String, chunks: Int, bytes: Int, resent: Int, milliseconds: UInt64)
    /// No live peer that is not itself stopping: nobody to hand off to.
    case noSuccessor
    /// The deadline passed, or every candidate failed, before a successor acknowledged the end.
    case incomplete(acknowledged: Int, total: Int, successor: String?, milliseconds: UInt64, reason: String)

    public var isCompleted: Bool {
        if case .completed = self { return true }
        return false
    }
}

/// The sending side of a handoff in progress (loop thread only).
final class HandoffRun {
    let settings: HandoffSettings
    let started: UInt64
    let plan: [Int]
    let done: (HandoffOutcome) -> Void
    var transfer: HandoffTransfer?
    var watermarks: [UInt8] = []
    var tried: Set<String> = []
    var lastProgress: UInt64
    var transferStarted: UInt64
    var disconnectedAt: UInt64?
    var bytes = 0
    var quartersLogged = 0
    /// Times the current transfer resumed after a dropped connection.
    var resumes = 0
    var timer: UVTimer?

    init(settings: HandoffSettings, started: UInt64, plan: [Int], done: @escaping (HandoffOutcome) -> Void) {
        self.settings = settings
        self.started = started
        self.plan = plan
        self.done = done
        lastProgress = started
        transferStarted = started
    }
}

/// The receiving side: one transfer from one stopping peer (loop thread only).
struct IncomingHandoff {
    let from: String
    let count: Int
    let started: UInt64
    var merged = 0
    var lastChunk: UInt64
}

extension MeshNode {
    /// Starts handing this node's store off as it stops: tells every peer it is leaving, picks
    /// the successor (``HandoffTransfer/successor(of:among:)`` among connected peers that are not
    /// leaving), streams the chunks with at most `window` unacknowledged, resumes from the last
    /// acknowledged chunk after a dropped connection, moves to the next successor when one dies,
    /// stalls or starts leaving itself, and calls `done` once.
    public func handOff(_ settings: HandoffSettings, done: @escaping (HandoffOutcome) -> Void) {
        guard outgoing == nil else { return done(.incomplete(acknowledged: 0, total: 0, successor: nil, milliseconds: 0, reason: "a handoff is already running")) }
        isLeaving = true
        let leavingFrame = Frame(type: .leaving, payload: [])
        for c in connections.values { c.send(leavingFrame) }
        let run = HandoffRun(settings: settings, started: UVTimer.now(loop), plan: handoffPlan(settings.chunkBytes), done: done)
        outgoing = run
        run.timer = try? UVTimer(loop: loop, every: 100) { [weak self] in self?.handoffTick() }
        startTransfer()
    }

    func startTransfer() {
        guard let run = outgoing else { return }
        let candidates = connections.compactMap { name, c in
            c.isEstablished && leaving[name] == nil && !run.tried.contains(name) ? name : nil
        }
        guard let next = HandoffTransfer.successor(of: config.node, among: candidates), let identity = connections[next]?.peer else {
            if run.tried.isEmpty { return finishHandoff(.noSuccessor) }
            return finishHandoff(.incomplete(acknowledged: run.transfer?.acknowledged ?? 0, total: run.transfer?.total ?? run.plan.count + 1,
                                             successor: run.transfer?.successor, milliseconds: UVTimer.now(loop) - run.started,
                                             reason: "no successor left to try"))
        }
        let now = UVTimer.now(loop)
        run.watermarks = currentWatermarks()  // before any chunk is taken: the chunks then hold at least this much
        run.transfer = HandoffTransfer(id: UInt64.random(in: 1...UInt64.max), successor: next, incarnation: identity.incarnation,
                                       count: run.plan.count, window: run.settings.window)
        run.lastProgress = now
        run.transferStarted = now
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
              let c = connections[t.successor], c.isEstablished, c.peer?.incarnation == t.incarnation else { return }
        while let index = t.takeNext() {
            let header = HandoffCodec.Header(transfer: t.id, index: index, count: t.count)
            let frame = index < t.count
                ? Frame(type: .handoffChunk, payload: HandoffCodec.encode(header, body: handoffChunk(index, run.plan)))
                : Frame(type: .handoffEnd, payload: HandoffCodec.encode(header, body: run.watermarks))
            run.bytes += frame.payload.count
            c.send(frame)
        }
        run.transfer = t
    }

    func handoffAcked(_ payload: [UInt8], from identity: PeerIdentity) {
        guard let run = outgoing, var t = run.transfer, identity.node == t.successor,
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
            return finishHandoff(.incomplete(acknowledged: run.transfer?.acknowledged ?? 0, total: run.transfer?.total ?? run.plan.count + 1,
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
        run.tried.insert(t.successor)
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
    func handoffConnectionLost(_ identity: PeerIdentity) {
        guard let run = outgoing, let t = run.transfer, t.successor == identity.node, run.disconnectedAt == nil else { return }
        run.disconnectedAt = UVTimer.now(loop)
        onLog("handoff connection to \(t.successor) dropped (\(t.acknowledged) of \(t.total) chunks acknowledged); redialling")
        if let m = table.members[t.successor], let (host, port) = Self.split(m.address) { dial(host: host, port: port) }
    }

    /// A connection was established (from ``established(_:_:)``): a leaving node says so again,
    /// and the handoff resumes from its last acknowledged chunk if this is its successor back.
    func handoffConnectionEstablished(_ c: PeerConnection, _ identity: PeerIdentity) {
        leaving[identity.node] = nil  // a new connection, perhaps a new process: it says again if it is leaving
        guard isLeaving else { return }
        c.send(Frame(type: .leaving, payload: []))
        guard let run = outgoing, var t = run.transfer, t.successor == identity.node, run.disconnectedAt != nil else { return }
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
        run.disconnectedAt = nil
        run.lastProgress = UVTimer.now(loop)
        onLog("handoff to \(t.successor) resumed from chunk \(t.acknowledged) of \(t.total)")
        pumpHandoff()
    }

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
        handoffsReceived += isEnd ? 1 : 0
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
        for (id, entry) in incoming where now - entry.lastChunk >= handoffReceiverTimeoutMilliseconds {
            incoming[id] = nil
            onLog("abandoned the handoff from \(entry.from) after \(entry.merged) of \(entry.count + 1) chunks (nothing for \(now - entry.lastChunk) ms); the merged chunks stay")
        }
    }

    func outgoingDeadline(_ run: HandoffRun) -> UInt64 { run.settings.deadlineMilliseconds }

    /// Resumes of one transfer before its successor is given up.
    static var maxResumes: Int { 3 }
}
