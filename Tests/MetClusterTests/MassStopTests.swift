import Foundation
import Testing

/// A mass stop and start with Postgres (RELIABILITY H9, F14 CI tier at N = 3): every node gets
/// SIGTERM at once, so each finds its peers stopping too. None waits for a successor that is
/// leaving; the nodes with no successor write their own snapshots, and a cluster started again
/// from nothing serves the whole history.
@Suite(
    .serialized,
    .reapsProcesses,
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set: run scripts/test")
)
struct MassStopTests {
    @Test(.timeLimit(.minutes(4)))
    func allNodesStoppedAtOnceKeepTheirHistoryThroughPostgres() async throws {
        let setup = try KeyframeClusterTests.Setup(url: try #require(databaseURL))
        ProcessGroup.afterProcesses { setup.drop() }
        let arguments = setup.arguments + ["--handoff-timeout", "20"]
        let names = (0..<RestartTests.setting("MET_RESTART_NODES", 3)).map { "n\($0)" }  // 8 in scripts/soak (F14)
        let count = names.count
        let a = try await MetProcess(name: names[0], arguments: arguments)
        var nodes = [a]
        for name in names.dropFirst() { nodes.append(try await MetProcess(name: name, seeds: [a.meshAddress], arguments: arguments)) }
        for (i, n) in nodes.enumerated() { try await ClusterTests.post(to: n, inserted: 10 + i, jobs: i + 1) }
        // Posted again right before the signal: the last interval of each node is in flight.
        for n in nodes { try await ClusterTests.post(to: n, inserted: 5) }
        let start = ContinuousClock.now
        for n in nodes { kill(n.process.processIdentifier, SIGTERM) }
        for n in nodes {
            try await waitUntil("\(n.name) exits", within: 15) { !n.process.isRunning }
            #expect(n.process.terminationStatus == 0, "\(n.name):\n\(n.log)")
        }
        let took = ContinuousClock.now - start
        // Without `leaving`, each node would wait out an ack timeout (5 s) per stopping successor.
        #expect(took < .seconds(4 + count), "H9: nobody waits on a successor that is stopping too (all stopped in \(took))")
        let wrote = nodes.filter { $0.log.contains("wrote this node's snapshot to Postgres") }
        #expect(!wrote.isEmpty, "at least one node had no successor left and wrote its snapshot")
        for n in nodes where !wrote.contains(where: { $0 === n }) {
            #expect(n.log.contains("handoff to") && n.log.contains(" done: "), "\(n.name) neither wrote a snapshot nor completed a handoff:\n\(n.log)")
        }

        // Started again from nothing: one node first, then the others through it.
        let first = try await MetProcess(name: names[0], arguments: arguments)
        var again = [first]
        nodes.append(first)
        for name in names.dropFirst() {
            let n = try await MetProcess(name: name, seeds: [first.meshAddress], arguments: arguments)
            again.append(n)
            nodes.append(n)
        }
        let expected = Double((0..<count).reduce(0) { $0 + 10 + $1 } + count * 5)
        let jobs = Double(count * (count + 1) / 2)
        try await waitUntil("every restarted node serves the whole history", within: 20) {
            for n in again {
                guard await ClusterTests.total(n) == expected,
                      await n.latest("exec_time", query: "lookback=3600&op=count")?["all"] == jobs else { return false }
            }
            return true
        }
        #expect(first.log.contains("loaded the snapshot"))
    }
}
