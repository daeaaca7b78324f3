import MetMesh
import MetTestSupport
import Testing

/// RELIABILITY S5 over real loopback connections: a node on secret B that still accepts A meshes
/// with a node on A and with a node on B alone, while those two never connect to each other;
/// every refusal is counted and none names a secret.
@Suite struct RotationMeshTests {
    static let a = try! ClusterSecret(Array("rotation-mesh-secret-A-0123456789".utf8))
    static let b = try! ClusterSecret(Array("rotation-mesh-secret-B-0123456789".utf8))

    @Test(.timeLimit(.minutes(1)))
    func aRotatingNodeBridgesOldAndNewWhileOldAndNewNeverMeet() async throws {
        let old = try await TestNode(name: "a", secret: Self.a)
        let rotating = try await TestNode(name: "b", secret: Self.b) { $0.previousSecrets = [Self.a] }
        let new = try await TestNode(name: "c", secret: Self.b)
        // Each dials the others (the node whose name sorts first keeps its dial).
        let (pa, pb, pc) = (try await old.port(), try await rotating.port(), try await new.port())
        old.dial(pb)
        old.dial(pc)
        rotating.dial(pc)
        try await eventually("b meshes with a (through A) and with c (through B)") {
            try await rotating.peers() == ["a", "c"]
        }
        try await eventually("a's dial of c refused on both ends") {
            let (ra, rc) = (try await old.rejections(), try await new.rejections())
            return ra.values.reduce(0, +) >= 1 && rc.values.reduce(0, +) >= 1
        }
        let (oldPeers, newPeers) = (try await old.peers(), try await new.peers())
        #expect(oldPeers == ["b"] && newPeers == ["b"])
        _ = pa
        #expect(!rotating.host.lines(containing: "connection with a authenticated with previous secret 1").isEmpty,
                "the rotating node says a still needs A")
        #expect(rotating.host.lines(containing: "connection with c authenticated with previous").isEmpty)
        let refused = try await new.rejections()
        #expect(refused.keys.contains { $0.contains("did not prove the cluster secret") }, "\(refused)")
        for n in [old, rotating, new] {
            #expect(n.logs.allSatisfy { !$0.contains("rotation-mesh-secret") }, "S9: a secret reached a log")
            try await n.stop()
        }
    }
}

/// The outbound queue counts each frame's MAC in and out again: after traffic stops it is empty
/// (a leak of 16 bytes a frame would, in days, pass the cap and cut a healthy peer off).
@Suite struct MACQueueAccountingTests {
    @Test(.timeLimit(.minutes(1)))
    func theOutboundQueueEmptiesWithMACsCounted() async throws {
        let a = try await TestNode(name: "a", secret: MeshNodeTests.secret, heartbeatMs: 20)
        let b = try await TestNode(name: "b", secret: MeshNodeTests.secret, heartbeatMs: 20)
        b.dial(try await a.port())
        try await eventually("a hears 20 heartbeats from b") { try await a.heartbeats() >= 20 }
        for seq in 1...20 { a.broadcast([UInt8](repeating: 7, count: 1000), seq: UInt64(seq)) }
        try await eventually("a's queue to b empties between heartbeats") {
            try await a.loop.run { [a] in a.node.outboundQueueBytes["b"] } == 0
        }
        for n in [a, b] { try await n.stop() }
    }
}
