import MetWire

/// Failure detection without false alarms (RELIABILITY M2–M7, M11), Lifeguard's two ideas on a
/// full mesh: ask the others before declaring a silent peer down, and distrust your own
/// judgement after your own loop lagged.
///
/// - A member silent for `suspectAfter`, or whose connection closed, is `suspect`, and every
///   other connected peer is asked (`probe`) when it last heard it; asked again every heartbeat.
/// - An answer that heard it within `indirectWindow` makes it `alive (indirect)` (M3): a broken
///   link, not a dead node.
/// - With no such answer it is `down` after `downAfter` of silence, or `closedConfirm` after its
///   connection closed (M1, M2); a silent connection is closed then (re-dialling goes on).
/// - A frame from it, a new connection or a newer incarnation makes it `alive` again (M6).
/// - A tick `lagGuard` late means this node itself stalled: it accuses nobody for
///   `guardIntervals` heartbeats (M5).
/// - More than `flapLimit` downs within `flapWindow` log one `flapping` line (M7).
/// - Down and unheard of for `reapAfter`, a member is forgotten; its data stays (M11).
extension Membership {
    /// This node stalled recently and accuses nobody.
    package func isGuarded(now: UInt64) -> Bool { now < guardUntil }

    /// The answer to a probe: how long ago this node last heard `member` directly, if it has a
    /// connection to that very incarnation.
    package func heardAgo(_ member: PeerIdentity, now: UInt64) -> UInt64? {
        guard let p = table[member.node], p.member.incarnation == member.incarnation, p.connected else { return nil }
        return now - min(now, p.lastHeard)
    }

    /// Connected peers whose word counts (alive here), other than `member`.
    func witnesses(of member: String) -> [String] {
        table.values.filter { $0.connected && $0.member.status == .alive && $0.member.name != member }.map(\.member.name)
    }

    /// A peer's answer to a probe about `member` (nil: it does not hear it directly).
    package mutating func evidence(about member: PeerIdentity, from reporter: String, heardAgo: UInt64?, now: UInt64) -> [MembershipAction] {
        guard var p = table[member.node], p.member.incarnation == member.incarnation, reporter != member.node, reporter != me.name else { return [] }
        let heard = heardAgo.map { now - min(now, $0) }
        p.evidence[reporter] = (now, heard)
        if let heard { p.lastSign = max(p.lastSign, heard) }
        table[member.node] = p
        guard p.member.status == .suspect || p.member.status == .down, let (who, ago) = vouched(p, now: now) else { return [] }
        return transition(member.node, to: .indirect, now: now, reason: "\(silenceText(p, now: now)), but \(who) heard it \(seconds(ago)) ago")
    }

    /// The freshest answer that heard the member within `indirectWindow`: who, and how long ago.
    func vouched(_ p: Peer, now: UInt64) -> (String, UInt64)? {
        let fresh = p.evidence.compactMap { who, e in e.heard.flatMap { now - min(now, $0) < timings.indirectWindow ? (who, now - min(now, $0)) : nil } }
        return fresh.min { $0.1 < $1.1 }
    }

    /// The peer that most recently vouched for `member` within `indirectWindow` (it hears it, so
    /// it holds its latest data): who to ask for what this node cannot get from it directly.
    package func voucher(for member: PeerIdentity, now: UInt64) -> String? {
        guard let p = table[member.node], p.member.incarnation == member.incarnation else { return nil }
        return vouched(p, now: now)?.0
    }

    /// Runs every `tick` ms: the local-health guard, then each member's silence, probes,
    /// verdicts and reaping.
    package mutating func tick(now: UInt64, every period: UInt64) -> [MembershipAction] {
        var actions: [MembershipAction] = []
        if let last = lastTick, now > last + period + timings.lagGuard {
            guardUntil = now + timings.guardIntervals * timings.heartbeat
            // Silence that spans this node's own stall says nothing about its peers: it counts
            // from now.
            for name in table.keys { table[name]!.lastHeard = max(table[name]!.lastHeard, now) }
            actions.append(.log("this node's own loop stalled for \(seconds(now - last - period)) (paused, stopped or starved of CPU): it accuses no peer for the next \(seconds(guardUntil - now)) (RELIABILITY M5)"))
        }
        lastTick = now
        guard !isGuarded(now: now) else { return actions }
        for name in table.keys.sorted() { actions += judge(name, now: now) }
        return actions
    }

    mutating func judge(_ name: String, now: UInt64) -> [MembershipAction] {
        guard let p = table[name] else { return [] }
        let silence = now - min(now, p.lastHeard)
        switch p.member.status {
        case .alive:
            if let closed = p.closedAt, !p.connected { return suspect(name, now: now, reason: "its connection closed \(seconds(now - closed)) ago") }
            guard silence >= timings.suspectAfter else { return [] }
            return suspect(name, now: now, reason: p.connected ? "no frame for \(seconds(silence))" : "not connected for \(seconds(silence))")
        case .suspect, .indirect:
            var actions: [MembershipAction] = []
            // Asked every heartbeat, and half-way through a closed connection's confirmation.
            let again = p.closedAt != nil && p.member.status == .suspect ? min(timings.heartbeat, timings.closedConfirm / 2) : timings.heartbeat
            if now - p.lastProbe >= again {
                table[name]!.lastProbe = now
                actions.append(.probe(p.member.identity))
            }
            let due = p.connected || p.closedAt == nil ? silence >= timings.downAfter : now - p.closedAt! >= timings.closedConfirm
            if p.connected, silence >= timings.downAfter {
                actions.append(.close(name, reason: "no frame for \(seconds(silence))"))
            }
            if let (who, ago) = vouched(p, now: now) {
                if p.member.status == .suspect {
                    actions += transition(name, to: .indirect, now: now, reason: "\(silenceText(p, now: now)), but \(who) heard it \(seconds(ago)) ago")
                }
            } else if due, now > p.since {
                actions += transition(name, to: .down, now: now, reason: "\(silenceText(p, now: now)); \(agreement(p, now: now))")
            } else if p.member.status == .indirect {
                actions += transition(name, to: .suspect, now: now, reason: "\(silenceText(p, now: now)), and no peer heard it in the last \(seconds(timings.indirectWindow))")
            }
            return actions
        case .down:
            if now - p.lastSign >= timings.reapAfter {
                table[name] = nil
                return [.transition(MemberTransition(member: p.member, change: .reaped, reason: "nobody has heard it for \(seconds(now - p.lastSign))"))]
            }
            // A down member is still asked about, less often: a peer that hears it makes it
            // alive (indirect) again (M3), while this node's own dials go on (M9).
            guard now - p.lastProbe >= 5 * timings.heartbeat else { return [] }
            table[name]!.lastProbe = now
            return [.probe(p.member.identity)]
        }
    }

    mutating func suspect(_ name: String, now: UInt64, reason: String) -> [MembershipAction] {
        table[name]!.lastProbe = now
        table[name]!.evidence = [:]  // only answers given after the suspicion count
        return transition(name, to: .suspect, now: now, reason: reason) + [.probe(table[name]!.member.identity)]
    }

    /// Back to `alive`: a frame or a new connection from the member itself.
    mutating func refute(_ name: String, now: UInt64, how: String) -> [MembershipAction] {
        guard let p = table[name], p.member.status != .alive else { return [] }
        table[name]!.closedAt = nil
        return transition(name, to: .alive, now: now, reason: "\(how) after \(seconds(now - p.since)) \(p.member.status.rawValue)")
    }

    mutating func transition(_ name: String, to status: Member.Status, now: UInt64, reason: String) -> [MembershipAction] {
        guard var p = table[name], p.member.status != status else { return [] }
        let old = p.member.status
        let previousFor = now - min(now, p.since)
        p.member.status = status
        p.since = now
        var actions: [MembershipAction] = []
        if status == .down {
            p.downs = p.downs.filter { now - $0 < timings.flapWindow } + [now]
            if p.downs.count > timings.flapLimit, !p.flapping {
                p.flapping = true
                actions.append(.log("member \(name) is flapping: \(p.downs.count) down/up cycles in \(seconds(timings.flapWindow)); snapshots to resync it go at most once per resync interval (RELIABILITY M7)"))
            }
        } else if p.flapping, p.downs.allSatisfy({ now - $0 >= timings.flapWindow }) {
            p.flapping = false
        }
        table[name] = p
        return [.transition(MemberTransition(member: p.member, change: .status(from: old), reason: reason, previousFor: previousFor))] + actions
    }

    /// "no frame for 6.1 s" or "its connection closed 1.0 s ago".
    func silenceText(_ p: Peer, now: UInt64) -> String {
        if !p.connected, let closed = p.closedAt { return "its connection closed \(seconds(now - closed)) ago" }
        return "no frame for \(seconds(now - min(now, p.lastHeard)))"
    }

    /// "2 of 3 peers agree": of the peers asked, how many answered since the suspicion without
    /// having heard it within the window.
    func agreement(_ p: Peer, now: UInt64) -> String {
        let asked = witnesses(of: p.member.name)
        guard !asked.isEmpty else { return "no other peer to ask" }
        let agree = asked.filter { p.evidence[$0].map { $0.answered >= p.since } == true }.count
        return "\(agree) of \(asked.count) peer\(asked.count == 1 ? "" : "s") agree\(asked.count == 1 ? "s" : "")"
    }

    /// Whether a member is flapping (M7).
    package func isFlapping(_ name: String) -> Bool { table[name]?.flapping == true }
}

/// Milliseconds as "6.1 s" below a minute, "3 m 12 s" below an hour, "2 h 5 m" beyond.
func duration(_ ms: UInt64) -> String {
    let s = ms / 1000
    if s < 60 { return seconds(ms) }
    if s < 3600 { return "\(s / 60) m \(s % 60) s" }
    return "\(s / 3600) h \((s % 3600) / 60) m"
}

/// Milliseconds as "6.1 s".
func seconds(_ ms: UInt64) -> String {
    let tenths = (ms + 50) / 100
    return "\(tenths / 10).\(tenths % 10) s"
}
