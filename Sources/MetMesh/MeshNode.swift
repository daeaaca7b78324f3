import Foundation
import MetUV
import MetWire

/// A node's end of the mesh: listens, dials, authenticates every connection, keeps the
/// membership (with its failure detector), relays for peers that cannot hear each other, and
/// moves the node's batches, keyframes and snapshots as frames. The node it serves is its
/// ``MeshHost``. Everything runs on the node's ``UVLoop``: create it, and call it, on the loop
/// thread (inside `loop.execute`); every entry point checks that at run time.
package final class MeshNode {
    package struct Config: Sendable {
        package var cluster: String
        package var node: String
        package var incarnation: UInt64
        package var host: String
        package var port: Int
        package var secret: ClusterSecret
        /// Up to two earlier secrets still accepted from peers (a rotation in progress, S5).
        package var previousSecrets: [ClusterSecret] = []
        /// Every frame after the handshake carries a MAC (S3). Benchmarks alone turn this off,
        /// on every node of a mesh at once, to measure what the MACs cost; no configuration does.
        package var authenticatesFrames = true
        /// `host:port` peers should dial, when it differs from the listening address.
        package var advertise: String?
        /// Heartbeats and failure detection (RELIABILITY M2–M7, M11).
        package var timings = MembershipTimings()
        /// Bytes of store per chunk of a snapshot sent to a peer (catch-up, per-origin snapshots).
        package var snapshotChunkBytes = 1 << 20
        /// How many of its own batches a node keeps for resends (at 1 s intervals, 2 minutes).
        package var retransmitWindow = 120
        /// A digest goes to every peer every this many heartbeats.
        package var digestEveryBeats = 5
        /// A connection must prove the secret within this many ms of opening (S2, S7).
        package var handshakeDeadlineMilliseconds: UInt64 = 2000
        /// A receiver drops a transfer whose sender sent nothing for this long (H6).
        package var handoffReceiverTimeoutMilliseconds: UInt64 = 10_000
        /// Cap of the exponential backoff between dials of one address (M9: 5 s).
        package var maxBackoffMilliseconds: UInt64 = 5000
        /// How long a starting node waits for a peer, and for each known member's holdings (C6).
        package var joinPatienceMilliseconds: UInt64 = 5000
        /// At most one snapshot of this node's own data per peer per this long (M7).
        package var resyncIntervalMilliseconds: UInt64 = 30_000
        /// A peer's outbound queue past this many bytes is dropped (B1: 8 MiB)...
        package var outboundCapBytes = 8 << 20
        /// ...and so is one that has not moved for this long (B1: 60 broadcast intervals).
        package var outboundStallMilliseconds: UInt64 = 60_000
        /// Test-only fault injection (never set in production).
        package var faults = FaultPlane()
        /// This node's wall clock in unix milliseconds (tests skew it).
        package var wallClockMilliseconds: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

        package init(cluster: String = "met", node: String, incarnation: UInt64, host: String = "127.0.0.1", port: Int = 0, secret: ClusterSecret) {
            (self.cluster, self.node, self.incarnation) = (cluster, node, incarnation)
            (self.host, self.port, self.secret) = (host, port, secret)
        }

        /// The period of the mesh's timer: a quarter heartbeat, at most 250 ms.
        var tickMilliseconds: UInt64 { max(5, min(250, timings.heartbeat / 4)) }
    }

    let loop: UVLoop
    package let config: Config
    let host: any MeshHost
    var server: UVTCPServer?
    var timer: UVTimer?
    var nextBeat: UInt64 = 0
    var beats = 0
    var membership: Membership
    /// Established connections by peer name.
    var connections: [String: PeerConnection] = [:]
    var pending: [ObjectIdentifier: PeerConnection] = [:]
    /// Addresses being dialled, so gossip heard twice does not open a second connection.
    var dialing: Set<String> = []
    /// Seeds (`host:port`) this node keeps trying until it is connected to them.
    var seeds: [String] = []
    /// Per address: when the next dial may start (loop ms) and the current backoff (ms).
    var retry: [String: (next: UInt64, backoff: UInt64)] = [:]
    /// Catch-up as this node starts (ready means complete, C6).
    var catchUp: CatchUp
    /// This node's own recent batches, by sequence number, for peers that missed some.
    var sent: [(seq: UInt64, payload: [UInt8])] = []
    /// Per origin, the peers that asked about it and until when their relay lasts (C3).
    var relays: [String: [String: UInt64]] = [:]
    /// Per peer: when it last got a snapshot of this node's own data (M7: one per resync interval).
    var resyncs: [String: UInt64] = [:]
    /// Test-only fault injection, counting the frames it has seen (never set in production).
    var faults: FaultPlane
    /// Fault plane state: peers this node is partitioned, black-holed or not reading from.
    var partitioned: Set<String> = []
    var blackholed: Set<String> = []
    var unread: Set<String> = []
    /// This node is stopping: every peer, and every new connection, is told so.
    var isLeaving = false
    /// Peers that said they are stopping, with their incarnation: never chosen as successors.
    var leaving: [String: UInt64] = [:]
    var outgoing: HandoffRun?
    var receiver = HandoffReceiver()
    let antiEntropy = AntiEntropy()

    /// What the mesh counts, for tests and metrics (read through ``counters``).
    var counted = MeshCounters()
    /// Per peer: its wall clock minus ours, in ms, from its recent heartbeats.
    var clockOffsets: [String: ClockOffsetFilter] = [:]
    var rejectionLines = LogLimiter(period: 60_000)
    var closeLines = LogLimiter(period: 60_000)
    var dialFailureLines = LogLimiter(period: 60_000)
    var clockWarnings = LogLimiter(period: 3_600_000)
    var resyncLines = LogLimiter(period: 60_000)
    var previousSecretLines = LogLimiter(period: 600_000)

    /// Most connections in the handshake at once that others opened to us (RELIABILITY S7).
    package static let maxUnauthenticated = 32

    /// Binds the listener (the bound port is in ``address``) and starts the mesh's timer.
    package init(loop: UVLoop, config: Config, host: any MeshHost) throws(UVError) {
        precondition(loop.isLoopThread, "a MeshNode is made on its loop's thread")
        self.loop = loop
        self.config = config
        self.host = host
        faults = config.faults
        let me = PeerIdentity(node: config.node, incarnation: config.incarnation)
        let now = UVTimer.now(loop)
        catchUp = CatchUp(me: me, patience: config.joinPatienceMilliseconds, now: now)
        membership = Membership(me: Member(name: config.node, incarnation: config.incarnation, address: "", status: .alive), timings: config.timings)
        let server = try UVTCPServer(loop: loop, host: config.host, port: config.port) { [weak self] connection in
            self?.adopt(connection, address: "", dialled: false)  // its listening address comes with its member list
        }
        self.server = server
        let address = config.advertise ?? "\(config.host):\(server.port)"
        membership = Membership(me: Member(name: config.node, incarnation: config.incarnation, address: address, status: .alive), timings: config.timings)
        timer = try UVTimer(loop: loop, every: config.tickMilliseconds) { [weak self] in self?.tick() }
    }

    /// Traps unless called on the loop's thread: the mesh's state is loop-thread only.
    @inline(__always) func assertOnLoop() {
        precondition(loop.isLoopThread, "MeshNode used off its loop thread")
    }

    var me: PeerIdentity { PeerIdentity(node: config.node, incarnation: config.incarnation) }
    func wallClockMilliseconds() -> Int64 { config.wallClockMilliseconds() }
    /// `host:port` peers dial to reach this node (the advertised address, or where it listens).
    package var address: String {
        assertOnLoop()
        return membership.me.address
    }
    /// The member list as this node sees it now.
    package var members: Membership {
        assertOnLoop()
        return membership
    }
    /// What the mesh has counted so far.
    package var counters: MeshCounters {
        assertOnLoop()
        return counted
    }
    /// Per peer: its wall clock minus this node's, in ms, from its recent heartbeats (O4; see
    /// ``ClockOffsetFilter``).
    package var peerClockOffsets: [String: Int64] {
        assertOnLoop()
        return clockOffsets.compactMapValues(\.estimate)
    }
    /// Names of the peers with an established connection.
    package var connectedPeers: [String] {
        assertOnLoop()
        return connections.keys.sorted()
    }
    /// Names of the peers that said they are stopping.
    package var leavingPeers: Set<String> {
        assertOnLoop()
        return Set(leaving.keys)
    }
    /// This node holds at least what every connected peer held when it joined (C6).
    package var isReady: Bool {
        assertOnLoop()
        return catchUp.isReady
    }
    /// Per established peer: bytes handed to the socket and not yet written, MACs included (B1, O2).
    package var outboundQueueBytes: [String: Int] {
        assertOnLoop()
        return connections.mapValues(\.queuedBytes)
    }
    /// Bytes written to the open connections so far, frame headers included.
    package var bytesSent: Int {
        assertOnLoop()
        return connections.values.reduce(0) { $0 + $1.bytesSent }
    }

    /// Joins the cluster through these seeds, retried forever with capped exponential backoff
    /// (plus up to 20 % jitter) until connected, and again whenever their connection is lost.
    package func join(seeds: [String]) {
        assertOnLoop()
        self.seeds = seeds
        redial()
    }

    /// Sends this node's batch (its `seq` and encoded payload) to every established peer and
    /// keeps it for resends.
    package func broadcast(batch payload: [UInt8], seq: UInt64) {
        assertOnLoop()
        sent.append((seq, payload))
        if sent.count > config.retransmitWindow { sent.removeFirst(sent.count - config.retransmitWindow) }
        let bytes = Frame(type: .batch, payload: payload).encoded()
        for c in connections.values where !blackholed.contains(c.peer?.node ?? "") { c.send(encoded: bytes) }
    }

    /// Sends a keyframe or a count delta this node made, as leader (a ``CountCodec`` payload),
    /// to every established peer.
    package func broadcast(counts payload: [UInt8]) {
        assertOnLoop()
        let bytes = Frame(type: .counts, payload: payload).encoded()
        for c in connections.values where !blackholed.contains(c.peer?.node ?? "") { c.send(encoded: bytes) }
    }

    /// Sends job moves this node recorded ahead of its next batch (a ``MovesCodec`` payload) to
    /// every established peer; not kept for resends (the batch carries them too).
    package func broadcast(moves payload: [UInt8]) {
        assertOnLoop()
        let bytes = Frame(type: .moves, payload: payload).encoded()
        for c in connections.values where !blackholed.contains(c.peer?.node ?? "") { c.send(encoded: bytes) }
    }

    /// Closes every connection and the listener.
    package func close() {
        assertOnLoop()
        server?.close()
        server = nil
        timer?.close()
        timer = nil
        for c in Array(connections.values) + Array(pending.values) { c.close(nil) }
    }

    /// A graceful stop: stops listening, lets every frame already queued to an established peer
    /// go out (the node's last batch among them), then closes everything and calls `done`;
    /// after `timeoutMilliseconds` whatever is still open is closed anyway.
    package func close(flushingWithin timeoutMilliseconds: UInt64, then done: @escaping () -> Void) {
        assertOnLoop()
        server?.close()
        server = nil
        timer?.close()
        timer = nil
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

    /// The mesh's one timer: failure detection and catch-up every tick; heartbeats, dials,
    /// handshake deadlines, stalled queues, anti-entropy and the fault plane every heartbeat.
    func tick() {
        let now = UVTimer.now(loop)
        // Test fault plane: a node that does not read a peer still believes it hears it (its
        // reader is stuck, its timers are not), so the peer's queue to it fills (B1).
        for name in unread where connections[name] != nil { perform(membership.heard(name, now: now)) }
        perform(membership.tick(now: now, every: config.tickMilliseconds))
        stepCatchUp()
        guard now >= nextBeat else { return }
        nextBeat = now + config.timings.heartbeat
        beat(now: now)
    }

    func beat(now: UInt64) {
        beats += 1
        applyFaults()
        redial()
        abandonStaleHandoffs()
        antiEntropyBeat()
        expireRelays(now: now)
        for c in Array(pending.values) where now > c.openedAt + config.handshakeDeadlineMilliseconds {
            c.close("no handshake within \(config.handshakeDeadlineMilliseconds) ms")
        }
        let bytes = Frame(type: .heartbeat, payload: HeartbeatCodec.encode(wallClockMilliseconds: wallClockMilliseconds())).encoded()
        for (name, c) in connections {
            c.checkStall(now: now, limit: config.outboundStallMilliseconds)
            if !blackholed.contains(name) { c.send(encoded: bytes) }
        }
    }
}

/// What a mesh node counts (RELIABILITY O2 will expose them in `/metrics`).
package struct MeshCounters: Sendable, Equatable {
    /// Heartbeat frames received.
    package var heartbeatsReceived = 0
    /// Rejected connections by reason (S6).
    package var rejections: [String: Int] = [:]
    /// Dials that failed (the log shows one per address per minute).
    package var dialFailures = 0
    /// Frames relayed for peers that could not hear their origin (C3).
    package var relayedFrames = 0
}
