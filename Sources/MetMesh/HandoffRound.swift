import MetWire

/// The sending side of a whole handoff as a pure state machine (DESIGN §6, RELIABILITY H3–H7):
/// which successor to try, when to give one up (it stalled, it did not come back after a
/// dropped connection, it is leaving too, it restarted), resuming on a new connection, the
/// deadline, the progress lines, and the outcome. The transfer to one successor is a
/// ``HandoffTransfer``. The mesh feeds events in and performs the actions; the clock, the
/// candidates and the transfer ids come from outside.
package struct HandoffRound: Sendable {
    package enum Action: Sendable, Equatable {
        /// Plan a snapshot of the store for this successor, then call ``planned(id:count:now:)``.
        case plan(PeerIdentity)
        /// Send index `index` of the current transfer (a chunk, or the end when it is `count`).
        case send(index: Int, of: HandoffTransfer)
        /// The transfer now runs on the successor's newest connection.
        case attach
        /// Close the connection of this stalled successor.
        case close(String)
        /// Dial this successor again (its connection dropped).
        case redial(String)
        case log(String)
        /// The handoff is over; call nothing else.
        case finish(HandoffOutcome)
    }

    package let settings: HandoffSettings
    /// This node's name: the successor is the next name after it.
    package let me: String
    package let started: UInt64
    package private(set) var transfer: HandoffTransfer?
    /// Successors given up in this round, by `name#incarnation` (a restarted node is a new one).
    var tried: Set<PeerIdentity> = []
    /// Rounds through every candidate: after a round, those still connected are tried again.
    var rounds = 1
    var lastProgress: UInt64
    /// When the transfer's connection dropped, while waiting for it to come back.
    package private(set) var disconnectedAt: UInt64?
    var bytes = 0
    var quartersLogged = 0
    /// Times the current transfer resumed after a dropped connection.
    var resumes = 0
    package private(set) var isFinished = false

    /// Resumes of one transfer before its successor is given up.
    static let maxResumes = 3

    package init(settings: HandoffSettings, me: String, now: UInt64) {
        self.settings = settings
        self.me = me
        started = now
        lastProgress = now
    }

    /// Starts: the first successor among `candidates` (connected, not leaving).
    package mutating func start(candidates: [PeerIdentity], now: UInt64) -> [Action] {
        nextSuccessor(candidates: candidates, now: now)
    }

    /// Picks the next successor not yet tried (another round when all were), or ends.
    mutating func nextSuccessor(candidates all: [PeerIdentity], now: UInt64) -> [Action] {
        var candidates = all.filter { !tried.contains($0) }
        if candidates.isEmpty, !tried.isEmpty, rounds < 3 {
            // Every candidate failed once; those still connected get another round (a slow
            // reconnect, a stall that passed) while the deadline allows.
            rounds += 1
            tried.removeAll()
            candidates = all
        }
        guard let name = HandoffTransfer.successor(of: me, among: candidates.map(\.node)), let next = candidates.first(where: { $0.node == name }) else {
            guard let t = transfer else { return finish(.noSuccessor) }
            return finish(.incomplete(acknowledged: t.acknowledged, total: t.total, successor: t.successor, milliseconds: now - started, reason: "no successor left to try"))
        }
        return [.plan(next)]
    }

    /// The store's plan for the successor asked for by `.plan`: `count` chunks; `id` is random.
    package mutating func planned(_ successor: PeerIdentity, id: UInt64, count: Int, now: UInt64) -> [Action] {
        transfer = HandoffTransfer(id: id, successor: successor.node, incarnation: successor.incarnation, count: count, window: settings.window)
        lastProgress = now
        disconnectedAt = nil
        quartersLogged = 0
        resumes = 0
        return [.attach, .log("handoff to \(successor.node) started: \(count) chunks of up to \(settings.chunkBytes) bytes")] + pump()
    }

    /// The indices the window allows now.
    mutating func pump() -> [Action] {
        guard var t = transfer, disconnectedAt == nil else { return [] }
        var actions: [Action] = []
        while let index = t.takeNext() { actions.append(.send(index: index, of: t)) }
        transfer = t
        return actions
    }

    /// Bytes of chunks sent, for the outcome.
    package mutating func sent(bytes n: Int) { bytes += n }

    /// An acknowledgement arrived on the transfer's connection.
    package mutating func acknowledged(transfer id: UInt64, index: Int, now: UInt64) -> [Action] {
        guard var t = transfer, t.id == id else { return [] }
        if t.acknowledge(index) { lastProgress = now }
        transfer = t
        if t.isDone {
            return finish(.completed(successor: t.successor, chunks: t.count, bytes: bytes, resent: t.resent, milliseconds: now - started))
        }
        var actions: [Action] = []
        if t.quarters > quartersLogged, t.quarters < 4 {  // one line per 25 % crossed (H7)
            quartersLogged = t.quarters
            actions.append(.log("handoff to \(t.successor): \(t.quarters * 25)% (\(t.acknowledged) of \(t.total) chunks acknowledged)"))
        }
        return actions + pump()
    }

    /// Every 100 ms: the deadline, a successor that is leaving too, one whose connection did not
    /// come back within the grace, or one that stopped acknowledging.
    package mutating func tick(now: UInt64, successorLeaving: Bool, candidates: [PeerIdentity]) -> [Action] {
        guard now - started < settings.deadlineMilliseconds else {
            return finish(.incomplete(acknowledged: transfer?.acknowledged ?? 0, total: transfer?.total ?? 0, successor: transfer?.successor,
                                      milliseconds: now - started, reason: "deadline of \(settings.deadlineMilliseconds) ms"))
        }
        guard let t = transfer else { return [] }
        let progress = "\(t.acknowledged) of \(t.total) chunks acknowledged"
        if successorLeaving {
            return [.log("handoff successor \(t.successor) is stopping too (\(progress)); choosing another")] + giveUp(candidates: candidates, now: now)
        }
        if let lost = disconnectedAt {
            guard now - lost >= settings.reconnectGraceMilliseconds else { return [] }
            return [.log("handoff successor \(t.successor) did not come back within \(settings.reconnectGraceMilliseconds) ms (\(progress)); choosing another")]
                + giveUp(candidates: candidates, now: now)
        }
        if t.inFlight > 0, now - lastProgress >= settings.ackTimeoutMilliseconds {
            return [.log("handoff successor \(t.successor) acknowledged nothing for \(now - lastProgress) ms (\(progress)); giving it up as stalled")]
                + giveUp(candidates: candidates, now: now) + [.close(t.successor)]
        }
        return []
    }

    /// Gives up the current successor and starts over with the next one; merged chunks are
    /// idempotent, so the next starts from chunk 0.
    mutating func giveUp(candidates: [PeerIdentity], now: UInt64) -> [Action] {
        guard let t = transfer else { return [] }
        let successor = PeerIdentity(node: t.successor, incarnation: t.incarnation)
        tried.insert(successor)
        disconnectedAt = nil
        return nextSuccessor(candidates: candidates.filter { $0 != successor }, now: now)
    }

    /// The transfer's connection closed: wait for it to come back (dialling it at once).
    package mutating func connectionLost(now: UInt64) -> [Action] {
        guard let t = transfer, disconnectedAt == nil else { return [] }
        disconnectedAt = now
        return [.log("handoff connection to \(t.successor) dropped (\(t.acknowledged) of \(t.total) chunks acknowledged); redialling"), .redial(t.successor)]
    }

    /// A new connection to the successor's name was established — after a drop, or replacing the
    /// one the transfer ran on: resume from the last acknowledged chunk, or move on.
    package mutating func reconnected(_ peer: PeerIdentity, candidates: [PeerIdentity], now: UInt64) -> [Action] {
        guard var t = transfer, t.successor == peer.node else { return [] }
        guard peer.incarnation == t.incarnation else {
            return [.log("handoff successor \(t.successor) restarted; starting over")] + giveUp(candidates: candidates, now: now)
        }
        guard resumes < Self.maxResumes else {
            // A peer that keeps closing the connection (one refusing a frame, say) is not worth
            // the whole deadline.
            return [.log("handoff connection to \(t.successor) dropped \(resumes + 1) times; choosing another successor")]
                + giveUp(candidates: candidates, now: now)
        }
        resumes += 1
        t.resume()
        transfer = t
        disconnectedAt = nil
        lastProgress = now
        return [.attach, .log("handoff to \(t.successor) resumed from chunk \(t.acknowledged) of \(t.total)")] + pump()
    }

    mutating func finish(_ outcome: HandoffOutcome) -> [Action] {
        guard !isFinished else { return [] }
        isFinished = true
        return [.finish(outcome)]
    }
}

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
