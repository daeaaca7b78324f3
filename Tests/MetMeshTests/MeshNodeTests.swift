import MetMesh
import MetStore
import MetUV
import MetValues
import MetWire
import Synchronization
import MetTestSupport
import Testing

/// A mesh node on its own loop, for tests: the node is touched only on that loop's thread.
final class TestNode: @unchecked Sendable {  // `node` is created and used only inside `loop.run`/`execute`.
    let loop: UVLoop
    let host = TestHost()
    var node: MeshNode!

    init(name: String, incarnation: UInt64 = 1, cluster: String = "met", secret: ClusterSecret,
         heartbeatMs: UInt64 = 1000, suspectMs: UInt64? = nil, silenceMs: UInt64 = 6000, port: Int = 0, clockSkewMs: Int64 = 0,
         configure: @escaping @Sendable (inout MeshNode.Config) -> Void = { _ in }) async throws {
        loop = try UVLoop()
        try await loop.run { [self] in
            var config = MeshNode.Config(cluster: cluster, node: name, incarnation: incarnation, port: port, secret: secret)
            config.timings.heartbeat = heartbeatMs
            config.timings.suspectAfter = suspectMs ?? min(2500, silenceMs / 2)
            config.timings.downAfter = silenceMs
            config.timings.closedConfirm = min(heartbeatMs, 1000)
            config.timings.indirectWindow = min(2000, silenceMs / 3)
            config.joinPatienceMilliseconds = 3_600_000  // no catch-up unless a test wants one
            if clockSkewMs != 0 {
                let real = config.wallClockMilliseconds
                config.wallClockMilliseconds = { real() + clockSkewMs }
            }
            configure(&config)
            node = try MeshNode(loop: loop, config: config, host: host)
        }
    }

    var batches: [[UInt8]] { host.batches.withLock { $0 } }
    var logs: [String] { host.logs.withLock { $0 } }

    func port() async throws -> Int { try await loop.run { [self] in Int(node.address.split(separator: ":").last!)! } }
    func peers() async throws -> [String] { try await loop.run { [self] in node.connectedPeers } }
    func status(of name: String) async throws -> Member.Status? { try await loop.run { [self] in node.members.member(name)?.status } }
    func heartbeats() async throws -> Int { try await loop.run { [self] in node.counters.heartbeatsReceived } }
    func rejections() async throws -> [String: Int] { try await loop.run { [self] in node.counters.rejections } }
    func dialFailures() async throws -> Int { try await loop.run { [self] in node.counters.dialFailures } }
    func clockOffsets() async throws -> [String: Int64] { try await loop.run { [self] in node.peerClockOffsets } }
    func dial(_ port: Int) { loop.execute { [self] in node.dial(host: "127.0.0.1", port: port) } }
    func join(_ port: Int) { loop.execute { [self] in node.join(seeds: ["127.0.0.1:\(port)"]) } }
    func broadcast(_ payload: [UInt8], seq: UInt64) { loop.execute { [self] in node.broadcast(batch: payload, seq: seq) } }

    func stop() async throws {
        try await loop.run { [self] in node.close() }
        loop.shutdown()
    }
}


@Suite struct MeshNodeTests {
    static let secret = try! ClusterSecret(Array("a-cluster-secret-of-32-bytes!!!!".utf8))

    @Test(.timeLimit(.minutes(1)))
    func threeNodesFromOneSeedFormAFullMeshAndBroadcast() async throws {
        let a = try await TestNode(name: "a", secret: Self.secret)
        let b = try await TestNode(name: "b", secret: Self.secret)
        let c = try await TestNode(name: "c", secret: Self.secret)
        let seed = try await a.port()
        b.dial(seed)
        c.dial(seed)
        // b and c learn each other from a's member list; b (sorting first) dials c.
        try await eventually("a full mesh") {
            let (pa, pb, pc) = (try await a.peers(), try await b.peers(), try await c.peers())
            return pa == ["b", "c"] && pb == ["a", "c"] && pc == ["a", "b"]
        }
        var s = Sketch()
        s.add(12_345)
        let batch = DeltaBatch(origin: Origin(node: "a", incarnation: 1), seq: 1, timestamp: 1_800_000_000, entries: [
            .init(series: "exec_time", labels: LabelSet(["queue": "q"]), value: .sketch(s)),
            .init(series: "inserted", labels: LabelSet(["queue": "q"]), value: .count(3)),
        ])
        let payload = BatchCodec.encode(batch)
        a.broadcast(payload, seq: batch.seq)
        try await eventually("the batch on b and c") { b.batches == [payload] && c.batches == [payload] }
        try await c.stop()
        try await eventually("c down on a and b") {
            let (pa, pb) = (try await a.peers(), try await b.peers())
            return pa == ["b"] && pb == ["a"]
        }
        try await a.stop()
        try await b.stop()
        #expect(a.loop.closeStatus == 0 && b.loop.closeStatus == 0 && c.loop.closeStatus == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func aWrongSecretOrClusterIsCutOffWhileTheRestCarryOn() async throws {
        let a = try await TestNode(name: "a", secret: Self.secret)
        let b = try await TestNode(name: "b", secret: Self.secret)
        let intruder = try await TestNode(name: "x", secret: try ClusterSecret(Array("wrong-secret-but-long-enough-32b".utf8)))
        let stranger = try await TestNode(name: "y", cluster: "other", secret: Self.secret)
        let seed = try await a.port()
        intruder.dial(seed)
        stranger.dial(seed)
        b.dial(seed)
        try await eventually("a and b connected") {
            let (pa, pb) = (try await a.peers(), try await b.peers())
            return pa == ["b"] && pb == ["a"]
        }
        try await eventually("both refusals counted on a") { try await a.rejections().values.reduce(0, +) >= 2 }
        // Both came from 127.0.0.1: one log line per remote host per minute (RELIABILITY S6).
        #expect(a.host.lines(containing: "connection from 127.0.0.1").count == 1)
        let aPeers = try await a.peers()
        #expect(aPeers == ["b"])
        let intruderPeers = try await intruder.peers()
        let strangerPeers = try await stranger.peers()
        #expect(intruderPeers.isEmpty && strangerPeers.isEmpty)
        #expect(a.logs.allSatisfy { !$0.contains("a-cluster-secret") }, "the secret never reaches a log line")
        for n in [a, b, intruder, stranger] { try await n.stop() }
    }

    /// The mesh's state is loop-thread only, and checked: a call from any other thread traps.
    @Test func usingAMeshOffItsLoopTraps() async {
        await #expect(processExitsWith: .failure) {
            let n = try await TestNode(name: "a", secret: MeshNodeTests.secret)
            _ = n.node.connectedPeers  // the test's thread, not the loop's
        }
    }

    /// Heartbeats keep quiet but live connections up; a peer that stops sending anything is
    /// closed after the silence limit and shown down (the others carry on).
    @Test(.timeLimit(.minutes(1)))
    func aSilentPeerIsCutOffWhileHeartbeatingOnesStay() async throws {
        // A silence limit of 50 heartbeats: a loaded machine may hold a loop up for a few hundred
        // ms, which must not cut the heartbeating pair apart.
        let a = try await TestNode(name: "a", secret: Self.secret, heartbeatMs: 20, silenceMs: 1000)
        let b = try await TestNode(name: "b", secret: Self.secret, heartbeatMs: 20, silenceMs: 1000)
        let silent = try await TestNode(name: "s", secret: Self.secret, heartbeatMs: 3_600_000, silenceMs: 3_600_000)
        let seed = try await a.port()
        b.dial(seed)
        silent.dial(seed)
        try await eventually("the silent node down on a, its connection closed") {
            a.host.transitions.withLock { $0 }.contains { $0.member.name == "s" && $0.member.status == .down }
                && !a.host.lines(containing: "connection with s closed: no frame for").isEmpty
        }
        // Many heartbeats later, a and b are still connected (a keeps re-dialling s, which is
        // reachable, and keeps cutting it off while it stays silent).
        try await eventually("a hears 100 heartbeats from b (two silence limits)") { try await a.heartbeats() >= 100 }
        let stillA = try await a.peers()
        let stillB = try await b.peers()
        #expect(stillA.contains("b") && stillB.contains("a"))
        for n in [a, b, silent] { try await n.stop() }
    }

    /// A seed that is not up yet is retried with backoff until it is (RELIABILITY M9), and a
    /// restarted seed (new incarnation, same address) is joined again.
    @Test(.timeLimit(.minutes(1)))
    func seedsAreRetriedUntilTheyAnswer() async throws {
        let first = try await TestNode(name: "b", secret: Self.secret)
        let port = try await first.port()
        try await first.stop()  // nothing listens on `port` now
        let a = try await TestNode(name: "a", secret: Self.secret, heartbeatMs: 20, silenceMs: 2000)
        a.join(port)
        try await eventually("a few refused dials") { try await a.dialFailures() >= 3 }
        #expect(a.host.lines(containing: "failed").count == 1, "one line per address per minute")
        let b = try await TestNode(name: "b", incarnation: 2, secret: Self.secret, port: port)
        try await eventually("a joined through the restarted seed") { try await a.peers() == ["b"] }
        for n in [a, b] { try await n.stop() }
    }

    /// DESIGN §3 / RELIABILITY O4: each peer's clock offset is estimated from its heartbeats, and
    /// an offset over one second is logged once (then at most hourly), not on every heartbeat.
    @Test(.timeLimit(.minutes(1)))
    func aPeerWhoseClockIsOffByMoreThanASecondIsReportedOnce() async throws {
        let a = try await TestNode(name: "a", secret: Self.secret, heartbeatMs: 20)
        let ahead = try await TestNode(name: "b", secret: Self.secret, heartbeatMs: 20, clockSkewMs: 30_000)
        let close = try await TestNode(name: "c", secret: Self.secret, heartbeatMs: 20, clockSkewMs: 200)
        let seed = try await a.port()
        ahead.dial(seed)
        close.dial(seed)
        try await eventually("20 heartbeats on a") { try await a.heartbeats() >= 40 }
        // Each estimate is the last heartbeat's stamp minus its arrival, so a heartbeat that a
        // loaded machine delivered late reads low: wait for one that came in time.
        var offsets: [String: Int64] = [:]
        try await eventually("a's estimates within 500 ms of the true skews") {
            offsets = try await a.clockOffsets()
            return abs((offsets["b"] ?? 0) - 30_000) < 500 && abs((offsets["c"] ?? 0) - 200) < 500
        }
        #expect(abs((offsets["b"] ?? 0) - 30_000) < 500 && abs((offsets["c"] ?? 0) - 200) < 500, "\(offsets)")
        let warnings = a.host.lines(containing: "clock of")
        #expect(warnings.count == 1 && warnings[0].contains("clock of b is ahead"), "\(warnings)")
        for n in [a, ahead, close] { try await n.stop() }
    }
}
