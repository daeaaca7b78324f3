import ExampleWorker
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import MetPostgres
import ObanMet
import ServiceLifecycle
import Testing

/// A node embedded in a Swift worker (issue 11): the example worker's node runs in this test
/// process beside an out-of-process `met node`; both see the same jobs, checks and members, and
/// stopping the embedded node through its `ServiceGroup` hands its history to the peer.
@Suite(
    .reapsProcesses,
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set: run scripts/test")
)
struct EmbeddedNodeTests {
    let url: String
    let conn: PostgresConnection
    let prefix = "embedded_\(UInt32.random(in: 0...UInt32.max))"
    var p: String { JobSchema.identifier(prefix) }

    init() throws {
        url = try #require(databaseURL)
        conn = try PostgresConnection(connectionString: url)
        _ = try conn.query("SET client_min_messages TO warning")
    }

    /// The embedded node's configuration: the same compressed timings as the `met` processes.
    func config(seed: String, faults: String? = nil) -> NodeConfig {
        var c = NodeConfig()
        c.cluster = prefix
        c.node = "embedded"
        c.seeds = [seed]
        c.http = "127.0.0.1:0"
        c.secret = MetProcess.secret
        c.database = url
        c.prefix = prefix
        c.broadcastInterval = 0.2
        c.heartbeatInterval = 0.2
        c.suspectAfter = 1
        c.silenceLimit = 2.5
        c.testFaults = faults
        return c
    }

    /// Runs the services in a group of their own (no signals: the test stops it), as a worker would.
    static func start(_ services: [any Service]) -> (ServiceGroup, Task<Void, any Error>) {
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: Logger(label: "embedded-test")))
        return (group, Task { try await group.run() })
    }

    @Test(.timeLimit(.minutes(4)))
    func theExampleWorkersNodeAndAMetNodeSeeTheSameCluster() async throws {
        defer { _ = try? conn.query("DROP SCHEMA IF EXISTS \(p) CASCADE") }
        #expect(try await ObanDatabaseTests.met(["schema", "--database", url, "--prefix", prefix]).status == 0)
        _ = try conn.query("""
            INSERT INTO \(p).oban_jobs (state, queue, worker, args, max_attempts, scheduled_at)
            SELECT 'available', 'mailers', 'MyApp.Mailer', jsonb_build_object('to', 'user' || g), 5, timezone('UTC', now())
            FROM generate_series(1, 40) g
            """)
        let a = try await MetProcess(name: "a", arguments: ["--cluster", prefix, "--database", url, "--prefix", prefix])
        let (node, services) = try exampleWorker(config(seed: a.meshAddress), logger: Logger(label: "embedded"))
        let (group, running) = Self.start(services)
        let addresses = try await node.addresses()
        #expect(addresses.http?.hasPrefix("127.0.0.1:") == true)

        try await waitUntil("every mailer job completed", within: 60) {
            try conn.query("SELECT count(*) FROM \(p).oban_jobs WHERE state <> 'completed'").rows == [["0"]]
        }
        let snoozes = Double(try conn.query("SELECT coalesce(sum(max_attempts - 5), 0) FROM \(p).oban_jobs").rows[0][0].flatMap(Int.init) ?? -1)
        let expected = ["completed": 40.0, "scheduled": snoozes]
        let byState = Selection(series: "exec_count", lookback: 600, group: "state")
        try await waitUntil("the embedded node and a count the same executions", within: 20) {
            let mine = try node.latest(byState).filter { $0.value != 0 }
            let theirs = await a.latest("exec_count", query: "lookback=600&group=state")?.filter { $0.value != 0 }
            return mine == expected.filter { $0.value != 0 } && theirs == mine
        }
        // Queue checks: the embedded queue on both nodes.
        #expect(node.checks().contains { $0.node == "embedded" && $0.queue == "mailers" && $0.limit == 5 && $0.uuid != nil })
        #expect(await QueueCheckClusterTests.check(a, of: "embedded", queue: "mailers")?["limit"] as? Int == 5)
        // Members and execution times.
        let cluster = try await node.cluster()
        #expect(cluster.members.contains { $0.name == "a" && $0.status == "alive" })
        #expect(await a.members("alive").contains("embedded"))
        let times = try node.summary(Selection(series: "exec_time", lookback: 600, filters: [LabelFilter("queue", ["mailers"])]))
        #expect(times.reduce(0) { $0 + $1.count } == UInt64(40 + snoozes))
        #expect(times.allSatisfy { $0.min >= 5_000_000 }, "each job slept at least 5 ms")
        // The embedded node's HTTP API answers like any node's.
        let (body, response) = try await URLSession.shared.data(from: URL(string: "http://\(addresses.http!)/api/cluster")!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: body, as: UTF8.self).contains(#""node":"embedded""#))

        await group.triggerGracefulShutdown()
        try await running.value
        await #expect(throws: MetNodeError.self) { try await node.cluster() }
        try await a.stop()
    }

    @Test(.timeLimit(.minutes(4)))
    func stoppingTheEmbeddedNodeThroughItsGroupHandsItsHistoryToThePeer() async throws {
        // a never takes the embedded node's batches, and the embedded node answers none of a's
        // requests for them: its history can only reach a by the handoff of its graceful stop.
        let a = try await MetProcess(name: "a", arguments: ["--cluster", prefix, "--test-faults", "drop:batch:1"])
        var c = config(seed: a.meshAddress, faults: "drop:resend:1,drop:snapshotRequest:1")
        c.database = nil
        let node = try MetNode(configuration: c, logger: Logger(label: "embedded"))
        let (group, running) = Self.start([node])
        _ = try await node.addresses()
        try await waitUntil("a and the embedded node are connected", within: 20) { await a.members("alive").contains("embedded") }
        let mailer = node.recorder.handle(queue: "mailers", worker: "MyApp.Mailer")
        for i in 0..<250 { mailer.stop(i % 5 == 0 ? .retryable : .completed, execNs: Int64(1_000_000 + i), waitNs: 10) }
        let total = Selection(series: "exec_count", lookback: 600)
        try await waitUntil("the embedded node's own store holds its jobs", within: 30) { try node.latest(total)["all"] == 250 }
        #expect(await a.latest("exec_count", query: "lookback=600")?["all"] ?? 0 == 0, "a has none of it before the stop")

        await group.triggerGracefulShutdown()
        try await running.value
        var expected = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0.rawValue, 0.0) })
        expected["completed"] = 200
        expected["retryable"] = 50
        #expect(await a.latest("exec_count", query: "lookback=600&group=state") == expected)
        #expect(a.log.contains("embedded"))
        try await a.stop()
    }
}
