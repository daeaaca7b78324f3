import MetWire

/// Catch-up as a node starts (DESIGN §6, RELIABILITY H11, C6) as a pure state machine: the node
/// is `ready` only once it holds, for every origin, at least what every connected peer holds.
///
/// Every connection begins with both sides' `holdings` (their watermark of every origin, and
/// whether they are ready). A starting node — seeds or none: peers dial a seedless one too —
/// asks one peer for its whole store, a ready one when there is one (else any, after
/// `patience`), merges it, then compares its watermarks with every connected peer's holdings and
/// asks each peer for the origins it is still behind that peer on (origins it is connected to
/// arrive by broadcast and resend). It waits for the holdings of every member it knows of, for
/// up to `patience` each. No peer within `patience`: it is ready with its own data. After
/// `4 × patience` it is ready anyway, saying what it still lacks.
package struct CatchUp: Sendable {
    package enum Action: Sendable, Equatable {
        /// Ask this peer for its whole store (an empty `snapshotRequest`).
        case requestWhole(String)
        /// Ask this peer for its data of these origins (this node's watermarks given).
        case requestOrigins(String, [PeerIdentity: UInt64])
        /// The node is ready: tell the connected peers (their holdings of it said otherwise).
        case ready
        case log(String)
    }

    package let me: PeerIdentity
    /// How long to wait for a peer, and for each known member's holdings (ms).
    package let patience: UInt64
    let started: UInt64
    package private(set) var isReady = false
    /// The peer asked for its whole store, and when; and whether it has been merged.
    var whole: (peer: String, at: UInt64)?
    var wholeFrom: String?
    var askedWhole = 0
    /// The holdings of each connected peer, by name.
    var offers: [String: Holdings] = [:]
    /// Origins asked for, and when (asked again after `patience`).
    var asked: [PeerIdentity: UInt64] = [:]
    /// Members known to be around, and since when (their holdings are waited for).
    var known: [String: UInt64] = [:]

    package init(me: PeerIdentity, patience: UInt64 = 5000, now: UInt64) {
        self.me = me
        self.patience = patience
        started = now
    }

    /// A connected peer's holdings arrived (again on every new connection).
    package mutating func holdings(_ h: Holdings, from peer: String) {
        offers[peer] = h
    }

    /// A connection to `peer` opened or closed: its holdings no longer count, and a whole store
    /// it was sending went with the old connection.
    package mutating func connectionChanged(_ peer: String, closed: Bool) -> [Action] {
        if closed { offers[peer] = nil }
        guard !isReady, wholeFrom == nil, whole?.peer == peer else { return [] }
        whole = nil
        return closed ? [.log("catching up: \(peer) went away before its snapshot was complete")] : []
    }

    /// A snapshot from `peer` was merged completely.
    package mutating func merged(_ kind: SnapshotKind, from peer: String) {
        if kind == .whole, whole?.peer == peer { wholeFrom = peer }
    }

    /// Decides, on every mesh tick and after every event. `local`: this node's watermarks;
    /// `connected`: established peers that are not leaving; `expected`: the names of the members
    /// believed around (not down, not leaving).
    package mutating func step(now: UInt64, local: [PeerIdentity: UInt64], connected: [PeerIdentity], expected: [String]) -> [Action] {
        guard !isReady else { return [] }
        for name in expected where known[name] == nil { known[name] = now }
        let names = Set(connected.map(\.node))
        guard wholeFrom != nil else { return askForTheWholeStore(now: now, names: names) }
        var behind: [String: [PeerIdentity: UInt64]] = [:]
        var lacking: [String] = []
        for (peer, offer) in offers.sorted(by: { $0.key < $1.key }) where names.contains(peer) {
            for (origin, seq) in offer.watermarks where origin != me && (local[origin] ?? 0) < seq {
                lacking.append("\(origin) to \(seq) (\(peer))")
                // A live origin's batches arrive by broadcast and resend; a dead one's only from a replica.
                guard !connected.contains(origin), asked[origin].map({ now - $0 >= patience }) ?? true, behind[peer, default: [:]].count < 64 else { continue }
                behind[peer, default: [:]][origin] = local[origin] ?? 0
            }
        }
        let silent = expected.filter { offers[$0] == nil && now - (known[$0] ?? now) < patience }.sorted()
        if lacking.isEmpty, silent.isEmpty {
            let peers = offers.keys.filter { names.contains($0) }.count
            return becomeReady("caught up from \(wholeFrom!) in \(seconds(now - started)); ready (holds at least what each of \(peers) connected peer\(peers == 1 ? "" : "s") holds)")
        }
        if now - started >= 4 * patience {
            let missing = (lacking + silent.map { "holdings of \($0)" }).prefix(8).joined(separator: ", ")
            return becomeReady("ready after \(seconds(now - started)) without everything its peers hold: still lacking \(missing)")
        }
        var actions: [Action] = []
        for (peer, origins) in behind.sorted(by: { $0.key < $1.key }) {
            for origin in origins.keys { asked[origin] = now }
            let list = origins.keys.map(\.description).sorted().joined(separator: ", ")
            actions += [.log("catching up: behind \(peer) on \(origins.count) origin(s) (\(list)); asking it for their data"), .requestOrigins(peer, origins)]
        }
        return actions
    }

    /// Before anything is merged: ask a ready peer (any connected one after `patience`), or be
    /// ready alone when no peer came within `patience`.
    mutating func askForTheWholeStore(now: UInt64, names: Set<String>) -> [Action] {
        guard whole == nil else { return [] }
        let offered = offers.keys.filter { names.contains($0) }.sorted()
        let waited = now - started >= patience
        guard let peer = offered.first(where: { offers[$0]!.ready }) ?? (waited ? offered.first : nil) else {
            guard waited, names.isEmpty else { return [] }
            return becomeReady("no peer reachable to catch up from within \(seconds(patience)); ready with this node's own data")
        }
        whole = (peer, now)
        askedWhole += 1
        return [.log("catching up: asking \(peer) for its whole store\(askedWhole > 1 ? " again" : "")"), .requestWhole(peer)]
    }

    mutating func becomeReady(_ line: String) -> [Action] {
        isReady = true
        return [.log(line), .ready]
    }
}
