import Foundation
import MetTestSupport
import Testing

/// F10's rotation (RELIABILITY S5, S9): three nodes on secret A are restarted one by one with
/// secret B and A as a previous secret, then one by one with B alone, while events are posted
/// throughout. The cluster never partitions: at every sample the nodes not being restarted see
/// each other alive, and each restarted node is connected to both others before the next one
/// goes; the totals end exact; neither secret appears in any log.
@Suite(.serialized, .reapsProcesses) struct SecretRotationTests {
    static let secretA = "rotation-secret-A-0123456789abcdef"
    static let secretB = "rotation-secret-B-0123456789abcdef"

    /// Posts one event to `node`; counts it in the model when taken.
    static func post(_ node: MetProcess, _ model: inout Double) async {
        guard let (status, _) = try? await node.post(events: [#"{"event":"inserted","queue":"rot","count":1}"#]) else { return }
        if status == 200 { model += 1 }
    }

    /// True when every node of `nodes` sees every other one alive and connected, in the
    /// incarnation that process runs (not a restarted node's previous life).
    static func fullMesh(_ nodes: [MetProcess]) async -> Bool {
        var views: [(name: String, incarnation: UInt64, alive: Set<String>)] = []
        for n in nodes {
            guard let c = await n.cluster(), let me = (c["incarnation"] as? NSNumber)?.uint64Value,
                  let members = c["members"] as? [[String: Any]] else { return false }
            let alive = members.filter { $0["status"] as? String == "alive" && $0["connected"] as? Bool == true }
                .compactMap { m in (m["name"] as? String).flatMap { name in (m["incarnation"] as? NSNumber).map { "\(name)#\($0.uint64Value)" } } }
            views.append((n.name, me, Set(alive)))
        }
        return views.allSatisfy { v in views.allSatisfy { $0.name == v.name || v.alive.contains("\($0.name)#\($0.incarnation)") } }
    }

    @Test(.timeLimit(.minutes(3)))
    func aRollingRestartFromAToBThenWithoutANeverPartitionsTheCluster() async throws {
        var seed = SystemRandomNumberGenerator()
        let seedValue = UInt64.random(in: 0...UInt64.max, using: &seed)
        print("SecretRotationTests seed \(seedValue)")
        var random = SplitMix64(seed: seedValue)
        let first = try await MetProcess(name: "n0", secret: Self.secretA)
        let n0Listen = first.meshAddress
        var nodes = [first]
        for i in 1..<3 { nodes.append(try await MetProcess(name: "n\(i)", seeds: [n0Listen], secret: Self.secretA)) }
        var stopped: [MetProcess] = []
        var model = 0.0
        try await waitUntil("the three nodes on A form a full mesh") { await Self.fullMesh(nodes) }

        var partitions: [String] = []
        var samples = 0
        for (phase, previous) in [(1, Self.secretA), (2, nil)] as [(Int, String?)] {
            for i in 0..<3 {
                let others = nodes.indices.filter { $0 != i }.map { nodes[$0] }
                let old = nodes[i]
                try await old.stop(SIGTERM)
                stopped.append(old)
                let environment = previous.map { ["MET_CLUSTER_PREVIOUS_SECRETS": $0] } ?? [:]
                let again = i == 0
                    ? try await MetProcess(name: "n0", secret: Self.secretB, listen: n0Listen, environment: environment)
                    : try await MetProcess(name: old.name, seeds: [n0Listen], secret: Self.secretB, environment: environment)
                nodes[i] = again
                // Events keep flowing to the others; the others never lose each other, and the
                // restarted node joins both (A and B nodes agree on A in phase 1, on B in phase 2).
                try await waitUntil("phase \(phase): \(again.name) on B connected to both others", within: 20) {
                    await Self.post(others[Int.random(in: 0..<others.count, using: &random)], &model)
                    samples += 1
                    if !(await Self.fullMesh(others)) { partitions.append("phase \(phase), restarting n\(i): \(others.map(\.name)) apart") }
                    guard await again.cluster()?["ready"] as? Bool == true else { return false }
                    return await Self.fullMesh(nodes)
                }
            }
        }
        #expect(partitions.isEmpty, "S5: the cluster partitioned during the rotation: \(partitions.prefix(5))")
        #expect(samples >= 6)
        try await waitUntil("every replica exact (model \(model))", within: 20) {
            var views: [Double?] = []
            for n in nodes { views.append(await ClusterTests.total(n)) }
            return views.allSatisfy { $0 == model }
        }
        #expect(model > 0)
        // Phase 1's new nodes met old ones on A, and said so.
        #expect(stopped[3...].contains { $0.log.contains("authenticated with previous secret 1") }, "a rotating node logged that a peer still needed A")
        for n in stopped + nodes {
            #expect(!n.log.contains(Self.secretA) && !n.log.contains(Self.secretB), "RELIABILITY S9: a secret reached \(n.name)'s log")
        }
    }
}
