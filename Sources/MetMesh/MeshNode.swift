import Foundation
import MetStore
import MetValues
import MetUV
import MetWire

/// A node's end of the mesh: listens, dials, authenticates every connection, keeps the member
/// table, and sends and receives batches. Everything runs on the node's ``UVLoop``; create it,
/// and call its methods, on the loop thread (inside `loop.execute`).
///
/// Connections, the handshake, membership from direct connections and gossip, heartbeats,
/// re-dialling with backoff, broadcast, resends and per-origin snapshots.
package final class MeshNode {
    package struct Config: Sendable {
        package var cluster: String
        package var node: String
        package var incarnation: UInt64
        package var host: String
        package var port: Int
        package var secret: ClusterSecret
        /// How often each connection gets a heartbeat frame (ms).
        package var heartbeatMilliseconds: UInt64 = 1000
        /// A connection that has been silent this long is closed, and its peer marked down (ms).
        package var silenceLimitMilliseconds: UInt64 = 5000
        /// `host:port` peers should dial, when it differs from the listening address.
        package var advertise: String?
        /// Bytes of store per chunk of a snapshot sent to a peer (catch-up, per-origin snapshots).
        package var snapshotChunkBytes = 1 << 20

        package init(cluster: String = "met", node: String, incarnation: UInt64, host: String = "127.0.0.1", port: Int = 0, secret: ClusterSecret) {
            self.cluster = cluster
            self.node = node
            self.incarnation = incarnation
            self.host = host
            self.port = port
            self.secret = secret
        }
    }

    let loop: UVLoop
    let config: Config
    var server: UVTCPServer?
    var heartbeat: UVTimer?
    package private(set) var table: MemberTable
    /// Established connections by peer name.
    var connections: [String: PeerConnection] = [:]
    var pending: [ObjectIdentifier: PeerConnection] = [:]
    /// Heartbeat frames received so far (for tests and metrics).
    package private(set) var heartbeatsReceived = 0
    /// Addresses being dialled, so gossip heard twice does not open a second connection.
    var dialing: Set<String> = []

    /// A batch arrived from a peer.
    package var onBatch: (DeltaBatch, PeerIdentity) -> Void = { _, _ in }
    /// Membership changed.
    package var onChange: (MemberTable.Change) -> Void = { _ in }
    /// A keyframe or a count delta arrived from the leader (or from a node that believes it
    /// leads, or from a peer passing on the keyframe it holds as this node connects).
    package var onCounts: (CountMessage, PeerIdentity) -> Void = { _, _ in }
    /// A snapshot chunk arrived (merge it; it is idempotent).
    package var onSnapshotChunk: ([UInt8], PeerIdentity) -> Void = { _, _ in }
    /// A snapshot's watermarks arrived after all its chunks.
    package var onSnapshotEnd: (SnapshotKind, [UInt8], PeerIdentity) -> Void = { _, _, _ in }
    /// A connection to a peer was established (after the handshake).
    package var onEstablished: (PeerIdentity) -> Void = { _ in }
    /// A connection was refused or closed: one line for the log (never contains the secret).
    package var onLog: (String) -> Void = { _ in }

    // The store's side of every snapshot sent: handoffs, a catching-up peer's whole store, and
    // one origin's data (resends beyond the retransmit window, anti-entropy repairs).
    /// The store's plan for chunks of about this many bytes of one origin's data (nil: all of
    /// it), with the watermarks, at one instant.
    package var snapshotPlan: (Int, Origin?) -> SnapshotPlan = { _, origin in
        SnapshotPlan(starts: [0], end: 0, watermarks: StoreSnapshot.encode(watermarks: [:]), origin: origin)
    }
    /// Chunk `index` of a plan, taken from the store as it is now.
    package var snapshotChunk: (Int, SnapshotPlan) -> [UInt8] = { _, _ in StoreSnapshot.emptyChunk }

    // Handoff (MeshNode+Handoff.swift): the receiving side, then the state.
    /// A handoff chunk arrived: merge it (idempotent); false refuses it.
    package var onHandoffChunk: ([UInt8], PeerIdentity) -> Bool = { _, _ in true }
    /// A handoff's watermarks arrived after all its chunks: raise them; false refuses them.
    package var onHandoffEnd: ([UInt8], PeerIdentity) -> Bool = { _, _ in true }
    /// A receiver drops a transfer whose sender sent nothing for this long (RELIABILITY H6).
    package var handoffReceiverTimeoutMilliseconds: UInt64 = 10_000
    /// Test-only fault injection (never set in production).
    package var faults = FaultPlane()
    /// Peers the test fault plane partitions this node from.
    var partitioned: Set<String> = []
    /// This node is stopping: every peer, and every new connection, is told so.
    package internal(set) var isLeaving = false
    /// Peers that said they are stopping, with their incarnation: never chosen as successors.
    var leaving: [String: UInt64] = [:]
    var outgoing: HandoffRun?
    var incoming: [UInt64: IncomingHandoff] = [:]
    /// Names of the peers that said they are stopping.
    package var leavingPeers: Set<String> { Set(leaving.keys) }

    // Anti-entropy (MeshNode+AntiEntropy.swift).
    /// The store's watermark per origin.
    package var localWatermarks: () -> [Origin: UInt64] = { [:] }
    /// The watermarks of the origins the store still holds data of (what a digest offers).
    package var digestWatermarks: () -> [Origin: UInt64] = { [:] }
    /// A digest goes to every peer every this many heartbeats.
    package var digestEveryBeats = 5
    let antiEntropy = AntiEntropy()

    /// Binds the listener (the bound port is in ``address``).
    package init(loop: UVLoop, config: Config) throws(UVError) {
        self.loop = loop
        self.config = config
        table = MemberTable(me: Member(name: config.node, incarnation: config.incarnation, address: "", status: .alive))
        let server = try UVTCPServer(loop: loop, host: config.host, port: config.port) { [weak self] connection in
            self?.adopt(connection, address: "", dialled: false)  // its listening address comes with its member list
        }
        self.server = server
        table = MemberTable(me: Member(name: config.node, incarnation: config.incarnation, address: config.advertise ?? "\(config.host):\(server.port)", status: .alive))
        heartbeat = try UVTimer(loop: loop, every: config.heartbeatMilliseconds) { [weak self] in self?.beat() }
    }

    /// Seeds (`host:port`) this node keeps trying until it is connected to them.
    var seeds: [String] = []
    /// Per address: when the next dial may start (loop ms) and the current backoff (ms).
    var retry: [String: (next: UInt64, backoff: UInt64)] = [:]
    /// Cap of the exponential backoff between dials of one address (RELIABILITY M9: 5 s).
    package var maxBackoffMilliseconds: UInt64 = 5000

    /// Joins the cluster through these seeds, retried forever with capped exponential backoff
    /// (plus up to 20 % jitter) until connected, and again whenever their connection is lost.
    package func join(seeds: [String]) {
        self.seeds = seeds
        redial()
    }

    /// Most connections in the handshake at once that others opened to us (RELIABILITY S7).
    package static let maxUnauthenticated = 32
    /// A connection must prove the secret within this many ms of opening (S2, S7).
    package var handshakeDeadlineMilliseconds: UInt64 = 2000
    /// Rejected connections by reason (S6), for metrics and tests.
    package private(set) var rejections: [String: Int] = [:]
    /// One rejection line per remote host per minute.
    var rejectionLines = LogLimiter(period: 60_000)
    /// One line per peer per minute for an established connection closed for a reason.
    var closeLines = LogLimiter(period: 60_000)
    /// One dial-failure line per address per minute.
    var dialFailureLines = LogLimiter(period: 60_000)
    /// Dials that failed (for tests and metrics; the log shows one per address per minute).
    package internal(set) var dialFailures = 0

    /// A connection that never completed the handshake, or was refused after it, was closed:
    /// counted by reason, logged at most once per remote host per minute (S6).
    func rejected(_ c: PeerConnection, _ reason: String) {
        rejections[reason, default: 0] += 1
        let host = c.remoteHost
        guard rejectionLines.allows(host, now: UVTimer.now(loop)) else { return }
        onLog("connection \(c.dialled ? "to" : "from") \(c.remote.isEmpty ? "a peer" : c.remote) closed: \(reason) (further lines for \(host) suppressed for 60 s)")
    }

    /// Heartbeats out; connections silent past the limit closed (their peers go down); seeds and
    /// members not connected are dialled again as their backoff allows; handshakes past their
    /// deadline cut.
    func beat() {
        applyPartition()
        redial()
        abandonStaleHandoffs()
        antiEntropyBeat()
        let now = UVTimer.now(loop)
        for c in Array(pending.values) where now > c.openedAt + handshakeDeadlineMilliseconds {
            c.close("no handshake within \(handshakeDeadlineMilliseconds) ms")
        }
        var stamp = ByteWriter()
        stamp.writeVarint(UInt64(max(0, wallClockMilliseconds())))
        let frame = Frame(type: .heartbeat, payload: stamp.bytes)
        for c in Array(connections.values) {
            if now > c.lastHeard + config.silenceLimitMilliseconds {
                onLog("\(c.peer?.node ?? "peer") silent for \(now - c.lastHeard) ms; closing its connection")
                c.close(nil)  // logged just above
            } else {
                c.send(frame)
            }
        }
    }

    /// `host:port` peers dial to reach this node (the advertised address, or where it listens).
    package var address: String { table.me.address }
    /// The port the mesh listener is bound to (the OS's choice when configured as 0).
    package var boundPort: Int? { server?.port }

    /// This node's own recent batches, for peers that missed some (the retransmit window).
    var sent: [DeltaBatch] = []
    /// How many of its own batches a node keeps for resends (at 1 s intervals, 2 minutes).
    package var retransmitWindow = 120

    /// Sends a batch to every established peer and keeps it for resends.
    package func broadcast(_ batch: DeltaBatch) {
        sent.append(batch)
        if sent.count > retransmitWindow { sent.removeFirst(sent.count - retransmitWindow) }
        let frame = Frame(type: .batch, payload: BatchCodec.encode(batch))
        for c in connections.values { c.send(frame) }
    }

    /// Sends a keyframe or a count delta this node made, as leader, to every established peer.
    package func broadcast(_ message: CountMessage) {
        let frame = Frame(type: .counts, payload: CountCodec.encode(message))
        for c in connections.values { c.send(frame) }
    }

    /// Sends `message` to one peer (the keyframe this node holds, to a peer that just connected).
    package func send(_ message: CountMessage, to peer: String) {
        connections[peer]?.send(Frame(type: .counts, payload: CountCodec.encode(message)))
    }

    /// Asks `origin` to send its own batches `range` again (a receiver saw a sequence gap). An
    /// origin that no longer holds the start of the range sends a snapshot of its own data.
    package func requestResend(from origin: Origin, _ range: ClosedRange<UInt64>) {
        var w = ByteWriter()
        w.writeVarint(range.lowerBound)
        w.writeVarint(range.upperBound)
        w.writeVarint(origin.incarnation)
        connections[origin.node]?.send(Frame(type: .resend, payload: w.bytes))
    }

    /// This node's wall clock in unix milliseconds (replaceable in tests).
    package var wallClockMilliseconds: () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    /// Per peer: its wall clock minus ours, in ms, from its last heartbeat (transit time, well
    /// under a millisecond on a LAN, is not subtracted).
    package internal(set) var clockOffsets: [String: Int64] = [:]
    /// One clock warning per peer per hour (DESIGN §3, O4).
    var clockWarnings = LogLimiter(period: 3_600_000)

    /// Names of the peers with an established connection.
    package var connectedPeers: [String] { connections.keys.sorted() }

    /// Closes every connection and the listener.
    package func close() {
        server?.close()
        server = nil
        heartbeat?.close()
        heartbeat = nil
        for c in Array(connections.values) + Array(pending.values) { c.close(nil) }
    }

    /// A graceful stop: stops listening, lets every frame already queued to an established peer
    /// go out (the node's last batch among them), then closes everything and calls `done`;
    /// after `timeoutMilliseconds` whatever is still open is closed anyway.
    package func close(flushingWithin timeoutMilliseconds: UInt64, then done: @escaping () -> Void) {
        server?.close()
        server = nil
        heartbeat?.close()
        heartbeat = nil
        for c in Array(pending.values) { c.close(nil) }
        let open = Array(connections.values)
        var remaining = open.count
        var finished = false
        var deadline: UVTimer?
        let finish = {
            guard !finished else { return }
            finished = true
            deadline?.close()
            for c in open { c.close(nil) }
            done()
        }
        guard remaining > 0 else { return finish() }
        deadline = try? UVTimer(loop: loop, after: timeoutMilliseconds) { finish() }
        for c in open {
            c.finish {
                remaining -= 1
                if remaining == 0 { finish() }
            }
        }
    }

    func adopt(_ connection: UVConnection, address: String, dialled: Bool) {
        let handshake = Handshake(role: dialled ? .initiator : .responder, cluster: config.cluster, node: config.node,
                                  incarnation: config.incarnation, secret: config.secret)
        let peer = PeerConnection(connection: connection, address: address, handshake: handshake, dialled: dialled)
        let loop = self.loop
        peer.heard = { UVTimer.now(loop) }
        peer.lastHeard = UVTimer.now(loop)
        peer.openedAt = peer.lastHeard
        peer.remote = connection.remoteAddress ?? address
        if !dialled, pending.values.filter({ !$0.dialled }).count >= Self.maxUnauthenticated {
            // S7: a flood of unauthenticated sockets is refused at once, before any handshake.
            peer.onClosed = { [weak self] c, reason in self?.rejected(c, reason ?? "closed") }
            return peer.close("more than \(Self.maxUnauthenticated) unauthenticated connections at once")
        }
        pending[ObjectIdentifier(peer)] = peer
        peer.onEstablished = { [weak self] c, identity in self?.established(c, identity) }
        peer.onFrame = { [weak self] c, frame in self?.frame(frame, from: c) }
        peer.onClosed = { [weak self] c, reason in self?.closed(c, reason) }
        peer.onUnknownType = { [weak self] c, type in
            guard let self, let name = c.peer?.node, closeLines.allows("\(name) type \(type)", now: UVTimer.now(loop)) else { return }
            onLog("\(name) sent a frame of type \(type), unknown to this version; skipped (a newer version? logged once a minute)")
        }
        peer.start()
    }

    func established(_ c: PeerConnection, _ identity: PeerIdentity) {
        pending[ObjectIdentifier(c)] = nil
        if c.dialled {
            dialing.remove(c.address)
            retry[c.address] = nil  // connected: the next loss starts the backoff afresh
        }
        if partitioned.contains(identity.node) { return c.close(nil) }  // test fault plane: cut off
        guard table.accepts(name: identity.node, incarnation: identity.incarnation) else {
            // Counted and logged (once a minute per host) by `rejected`, as the connection closes.
            let reason = identity.node == config.node ? "it claims this node's name"
                : "incarnation \(identity.incarnation) of \(identity.node) is older than the live one"
            return c.close("refused \(identity.node): \(reason)")
        }
        if let existing = connections[identity.node], !existing.isClosed,
           let old = existing.peer, old.incarnation < identity.incarnation {
            // Two live processes claim one name (RELIABILITY M10): the newer incarnation wins.
            onLog("two processes claim the name \(identity.node): incarnation \(old.incarnation) at \(existing.remote) is refused in favour of \(identity.incarnation) at \(c.remote)")
            connections[identity.node] = nil
            existing.close(nil)
        }
        if let existing = connections[identity.node], !existing.isClosed {
            // Both dialled at once: keep the connection dialled by the name that sorts first.
            let dialler = c.dialled ? config.node : identity.node
            guard MemberTable.keeps(dialler: dialler, listener: dialler == config.node ? identity.node : config.node) else {
                return c.close(nil)
            }
            connections[identity.node] = nil
            existing.close(nil)
        }
        connections[identity.node] = c
        // A peer that dialled us tells where it listens in its member list; until then keep the
        // address known for this same incarnation (a restarted peer listens somewhere new).
        let known = table.members[identity.node].flatMap { $0.incarnation == identity.incarnation ? $0.address : nil }
        for change in table.connected(name: identity.node, incarnation: identity.incarnation, address: c.dialled ? c.address : (known ?? "")) {
            onChange(change)
        }
        // Tell everyone who we know now (ourselves first), so they can dial the rest (M8).
        gossip()
        antiEntropy.sent[identity.node] = nil  // a new connection gets the next digest in full
        handoffConnectionEstablished(c, identity)
        onEstablished(identity)
    }

    /// Sends this node's member list to every established peer. Called whenever the list
    /// changes; a node only re-sends when its own list changed, so gossip settles.
    func gossip() {
        let frame = Frame(type: .members, payload: MemberListCodec.encode([table.me] + table.peers.filter { !$0.address.isEmpty }))
        for c in connections.values { c.send(frame) }
    }

    func frame(_ frame: Frame, from c: PeerConnection) {
        guard !c.isClosed, let identity = c.peer else { return }
        let verdict = faults.received(frame.type)
        guard verdict != .drop else { return }
        defer {
            if verdict == .deliverThenCut {
                onLog("fault plane: cutting the connection to \(identity.node) after a \(frame.type) frame")
                c.close(nil)  // logged just above
            }
        }
        switch frame.type {
        case .batch:
            guard let batch = try? BatchCodec.decode(frame.payload) else {
                onLog("malformed batch from \(identity.node); closing its connection")
                return c.close(nil)
            }
            onBatch(batch, identity)
        case .members:
            guard let list = try? MemberListCodec.decode(frame.payload) else { return c.close("malformed member list") }
            // The sender's own entry carries the address it listens on.
            let before = table.members
            let changes = table.learn(list.filter { $0.name != identity.node })
            for change in changes { onChange(change) }
            if let own = list.first(where: { $0.name == identity.node }) {
                _ = table.connected(name: own.name, incarnation: own.incarnation, address: own.address)
            }
            if table.members != before { gossip() }
            for m in table.toDial where connections[m.name] == nil {
                if let (host, port) = Self.split(m.address) { dial(host: host, port: port) }
            }
        case .resend:
            resend(frame.payload, to: c)
        case .heartbeat:
            heartbeatsReceived += 1
            clockOffset(frame.payload, from: identity.node)
        case .snapshotChunk:
            onSnapshotChunk(frame.payload, identity)
        case .snapshotEnd:
            snapshotEnded(frame.payload, from: c, identity)
        case .snapshotRequest:
            serveSnapshot(frame.payload, to: c)
        case .digest:
            digestArrived(frame.payload, from: c, identity)
        case .keyframe:  // from a leader of an older version
            guard let keyframe = try? KeyframeCodec.decode(frame.payload) else {
                onLog("malformed keyframe from \(identity.node); closing its connection")
                return c.close(nil)
            }
            onCounts(.keyframe(keyframe, nil), identity)
        case .counts:
            guard let message = try? CountCodec.decode(frame.payload) else {
                onLog("malformed count message from \(identity.node); closing its connection")
                return c.close(nil)
            }
            onCounts(message, identity)
        case .handoffChunk, .handoffEnd:
            handoffReceived(frame, from: c, identity)
        case .handoffAck:
            handoffAcked(frame.payload, from: c, identity)
        case .leaving:
            leaving[identity.node] = identity.incarnation
            onLog("\(identity.node) is stopping; it will not be chosen as a handoff successor")
        case .hello, .proof:
            onLog("unexpected \(frame.type) frame from \(identity.node); closing its connection")
            c.close(nil)
        }
    }

    func closed(_ c: PeerConnection, _ reason: String?) {
        pending[ObjectIdentifier(c)] = nil
        if c.dialled { dialing.remove(c.address) }
        guard let identity = c.peer, connections[identity.node] === c else {
            if let reason { rejected(c, reason) }
            return
        }
        connections[identity.node] = nil
        if let reason, reason != PeerConnection.closedByPeer, closeLines.allows(identity.node, now: UVTimer.now(loop)) {
            // A frame this node could not take (another protocol version, say): say which (H12).
            onLog("connection with \(identity.node) closed: \(reason)")
        }
        for change in table.disconnected(name: identity.node, incarnation: identity.incarnation) { onChange(change) }
        handoffConnectionLost(c)
    }
}
