import MetWire

/// What this node knows of one member of the cluster.
package struct Member: Sendable, Equatable, Hashable {
    /// This node's judgement of a member (RELIABILITY M1–M7). Only `down` stops anything: it
    /// drives successor choice, display and queueing, and never deletes data.
    package enum Status: String, Sendable, Equatable {
        /// Heard directly within `suspectAfter`.
        case alive
        /// Not heard directly for `suspectAfter` (or its connection closed), and no peer has
        /// vouched for it yet: the other peers are being asked.
        case suspect
        /// Not heard directly, but another peer heard it within `indirectWindow` (a broken link,
        /// not a dead node): its frames reach this node through that peer.
        case indirect = "alive (indirect)"
        /// Nobody has heard it: past `downAfter` of silence (or its connection closed) with no
        /// peer vouching for it.
        case down
    }

    /// Its name and incarnation.
    package var identity: PeerIdentity
    /// `host:port` where its mesh listens; empty until known (a peer that dialled us tells it).
    package var address: String
    package var status: Status

    package init(name: String, incarnation: UInt64, address: String, status: Status) {
        (identity, self.address, self.status) = (PeerIdentity(node: name, incarnation: incarnation), address, status)
    }

    package var name: String { identity.node }
    package var incarnation: UInt64 { identity.incarnation }
    package var record: MemberRecord { MemberRecord(name: name, incarnation: incarnation, address: address) }
}

/// A change of this node's member list, with its reason: the line an operator reads (O1).
package struct MemberTransition: Sendable, Equatable, CustomStringConvertible {
    package enum Change: Sendable, Equatable {
        case joined
        case restarted(from: UInt64)
        case status(from: Member.Status)
        /// Departed long enough ago to be forgotten (its data stays).
        case reaped
    }

    /// The member as it is now.
    package var member: Member
    package var change: Change
    /// For a restart: the status the previous incarnation had.
    package var oldStatus: String?
    /// Why, with how long it took (e.g. "no frame for 6.1 s, 0 of 2 peers heard it in the last 2 s").
    package var reason: String
    /// Milliseconds the member (or, for a restart, its previous incarnation) had been in its
    /// previous status (O1).
    package var previousFor: UInt64?

    package init(member: Member, change: Change, reason: String = "", previousFor: UInt64? = nil) {
        self.member = member
        self.change = change
        self.reason = reason
        self.previousFor = previousFor
    }

    package var description: String {
        let m = member
        let why = reason.isEmpty ? "" : ": \(reason)"
        switch change {
        case .joined: return "member \(m.name) joined (incarnation \(m.incarnation), \(m.address.isEmpty ? "address not yet known" : m.address))"
        case .restarted(let old):
            let was = previousFor.map { " (incarnation \(old) had been \(oldStatus ?? "known") for \(duration($0)))" } ?? ""
            return "member \(m.name) restarted: incarnation \(old) → \(m.incarnation)\(was)"
        case .status(let old) where m.status == .alive && old != .alive: return "member \(m.name) alive again\(why)"  // the reason says how long
        case .status(let old):
            let was = previousFor.map { " (was \(old.rawValue) for \(duration($0)))" } ?? ""
            return "member \(m.name) \(m.status.rawValue)\(why)\(was)"
        case .reaped: return "member \(m.name) reaped from the member table\(why) (its data stays)"
        }
    }
}

/// The timings of failure detection (RELIABILITY M2–M7, M11), in loop milliseconds. Every one
/// is configurable, so tests can compress time and run the same code.
package struct MembershipTimings: Sendable, Equatable {
    /// Heartbeats go out this often; a suspect is asked about this often.
    package var heartbeat: UInt64 = 1000
    /// Silence after which a member is `suspect`.
    package var suspectAfter: UInt64 = 2500
    /// Silence after which a member nobody vouches for is `down` (and its connection closed).
    package var downAfter: UInt64 = 6000
    /// Another peer's word counts when it heard the member this recently (M3).
    package var indirectWindow: UInt64 = 2000
    /// After its connection closed, how long a member's peers have to vouch for it.
    package var closedConfirm: UInt64 = 1000
    /// A tick this much later than due means this node itself stalled (M5).
    package var lagGuard: UInt64 = 1000
    /// After such a stall this node accuses nobody for this many heartbeats.
    package var guardIntervals: UInt64 = 2
    /// More than `flapLimit` down/up cycles within `flapWindow` is flapping (M7).
    package var flapWindow: UInt64 = 60_000
    package var flapLimit = 3
    /// A member down, and unheard of by anyone, this long is forgotten (M11: 24 h).
    package var reapAfter: UInt64 = 86_400_000

    package init() {}
}

/// What the mesh does for the membership machine.
package enum MembershipAction: Sendable, Equatable {
    /// Report (log) a change of the member list.
    case transition(MemberTransition)
    /// Ask every other connected peer whether it hears this member (a `probe`).
    case probe(PeerIdentity)
    /// Close this member's connection (silent past `downAfter`); re-dialling goes on.
    case close(String, reason: String)
    /// A line for the log that is not a transition (the local-health guard, flapping).
    case log(String)
}

/// The member list of one node and its failure detector, as a pure value fed with events and a
/// clock (RELIABILITY M1–M11); the mesh performs the actions it returns.
///
/// Identity (M10): a member is `(name, incarnation)`; a newer incarnation always replaces an
/// older one; a connection from an older incarnation of a known live name is refused. Gossip
/// adds members and newer incarnations but never judges one: only this node's own connections
/// and the other peers' answers do (`Membership+Detector.swift`).
package struct Membership: Sendable {
    /// Per member, what the detector keeps besides the member itself.
    struct Peer: Sendable {
        var member: Member
        var connected = false
        /// Last frame received from it directly (or when it was learnt or connected).
        var lastHeard: UInt64
        /// When its status last changed.
        var since: UInt64
        /// When its connection closed, while its peers are being asked.
        var closedAt: UInt64?
        /// Per peer that answered a probe: when it answered, and when it had last heard the member.
        var evidence: [String: (answered: UInt64, heard: UInt64?)] = [:]
        var lastProbe: UInt64 = 0
        /// When it went down, within the flap window.
        var downs: [UInt64] = []
        var flapping = false
        /// The last sign of life, direct or through a peer (reaping counts from here).
        var lastSign: UInt64
    }

    package let me: Member
    package let timings: MembershipTimings
    var table: [String: Peer] = [:]
    /// Ticks: when the last one ran, and until when this node accuses nobody (M5).
    var lastTick: UInt64?
    var guardUntil: UInt64 = 0

    package init(me: Member, timings: MembershipTimings = MembershipTimings()) {
        self.me = me
        self.timings = timings
    }

    /// Every member but this node, by name.
    package var peers: [Member] { table.values.map(\.member).sorted { $0.name < $1.name } }
    package var members: [String: Member] { table.mapValues(\.member) }
    package func member(_ name: String) -> Member? { table[name]?.member }

    /// Members heard of through gossip (or a seed's list). A newcomer counts as alive until its
    /// silence says otherwise; a newer incarnation replaces the known one.
    package mutating func learn(_ records: [MemberRecord], now: UInt64) -> [MembershipAction] {
        var actions: [MembershipAction] = []
        for m in records where m.name != me.name {
            guard let known = table[m.name] else {
                let fresh = Member(name: m.name, incarnation: m.incarnation, address: m.address, status: .alive)
                table[m.name] = Peer(member: fresh, lastHeard: now, since: now, lastSign: now)
                actions.append(.transition(MemberTransition(member: fresh, change: .joined)))
                continue
            }
            if m.incarnation == known.member.incarnation, known.member.address.isEmpty, !m.address.isEmpty {
                table[m.name]!.member.address = m.address  // learnt where it listens; nothing else changes
            } else if m.incarnation > known.member.incarnation {
                actions += replace(known, with: Member(name: m.name, incarnation: m.incarnation, address: m.address, status: .alive), connected: false, now: now)
            }
        }
        return actions
    }

    /// Whether to accept an authenticated connection from `name`: not from this node's own
    /// name, nor from an older incarnation of a member not known to be down.
    package func accepts(name: String, incarnation: UInt64) -> Bool {
        guard name != me.name else { return false }
        guard let known = table[name]?.member else { return true }
        return incarnation >= known.incarnation || known.status == .down
    }

    /// An authenticated connection to `peer` is up: it is alive (refuting any suspicion).
    package mutating func connected(_ peer: PeerIdentity, address: String, now: UInt64) -> [MembershipAction] {
        guard accepts(name: peer.node, incarnation: peer.incarnation) else { return [] }
        let m = Member(name: peer.node, incarnation: peer.incarnation, address: address, status: .alive)
        guard let known = table[peer.node] else {
            var p = Peer(member: m, lastHeard: now, since: now, lastSign: now)
            p.connected = true
            table[peer.node] = p
            return [.transition(MemberTransition(member: m, change: .joined))]
        }
        if known.member.incarnation < peer.incarnation { return replace(known, with: m, connected: true, now: now) }
        table[peer.node]!.member.address = address
        table[peer.node]!.connected = true
        table[peer.node]!.closedAt = nil
        return refute(peer.node, now: now, how: "connected")
    }

    /// The connection to `peer` closed. It is suspect at once and its peers are asked; it is
    /// down unless one of them vouches for it within `closedConfirm` (M1, M3).
    package mutating func disconnected(_ peer: PeerIdentity, now: UInt64) -> [MembershipAction] {
        guard var p = table[peer.node], p.member.incarnation == peer.incarnation, p.connected else { return [] }
        p.connected = false
        // A close seen just after this node stalled is no evidence: its peers may have given up
        // on it. It is judged by its silence from the end of the stall, like any peer (M5).
        p.closedAt = isGuarded(now: now) ? nil : now
        table[peer.node] = p
        guard p.member.status == .alive, !isGuarded(now: now) else { return [] }
        return suspect(peer.node, now: now, reason: "its connection closed")
    }

    /// A frame arrived from `name` directly: fresh evidence of life (M6 refutation).
    package mutating func heard(_ name: String, now: UInt64) -> [MembershipAction] {
        guard table[name] != nil else { return [] }
        table[name]!.lastHeard = now
        table[name]!.lastSign = now
        guard table[name]!.member.status != .alive, table[name]!.connected else { return [] }
        return refute(name, now: now, how: "a frame")
    }

    /// Exactly one connection per pair, even when both dial at once: the one dialled by the node
    /// whose name sorts first is kept, the other closed, by the same rule on both ends.
    package static func keeps(dialler: String, listener: String) -> Bool { dialler < listener }

    /// Members this node should have a connection to: every peer whose name sorts after this
    /// node's (the other side of each pair dials us), down ones included (M9: never give up).
    package var toDial: [Member] { peers.filter { Self.keeps(dialler: me.name, listener: $0.name) } }

    /// A newer incarnation replaces the known one, whatever its status (M10).
    mutating func replace(_ known: Peer, with m: Member, connected: Bool, now: UInt64) -> [MembershipAction] {
        var p = Peer(member: m, lastHeard: now, since: now, lastSign: now)
        p.connected = connected
        p.downs = known.downs
        p.flapping = known.flapping
        table[m.name] = p
        var t = MemberTransition(member: m, change: .restarted(from: known.member.incarnation), previousFor: now - min(now, known.since))
        t.oldStatus = known.member.status.rawValue
        return [.transition(t)]
    }
}
