import Foundation
import MetPostgres
import Testing

/// Queue checks that something produces (issue 11): `met worker` reports each of its queues
/// every second (limit, paused, running job ids, its producer's uuid and start), a worker in
/// another language posts `queue_check` lines, and every node's `/api/checks` shows them all.
@Suite(
    .reapsProcesses,
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set: run scripts/test")
)
struct QueueCheckClusterTests {
    let url: String
    let conn: PostgresConnection
    let prefix = "checks_\(UInt32.random(in: 0...UInt32.max))"

    init() throws {
        url = try #require(databaseURL)
        conn = try PostgresConnection(connectionString: url)
        _ = try conn.query("SET client_min_messages TO warning")
    }

    static func checks(_ node: MetProcess) async -> [[String: Any]] {
        guard let (status, data) = try? await node.get("/api/checks"), status == 200 else { return [] }
        return (try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
    }

    static func check(_ node: MetProcess, of owner: String, queue: String) async -> [String: Any]? {
        await checks(node).first { $0["node"] as? String == owner && $0["queue"] as? String == queue }
    }

    @Test(.timeLimit(.minutes(4)))
    func workerAndPostedChecksReachEveryNode() async throws {
        let p = JobSchema.identifier(prefix)
        defer { _ = try? conn.query("DROP SCHEMA IF EXISTS \(p) CASCADE") }
        let made = try await ObanDatabaseTests.met(["schema", "--database", url, "--prefix", prefix])
        #expect(made.status == 0, "\(made.output)")
        _ = try conn.query("""
            INSERT INTO \(p).oban_jobs (state, queue, worker, args, max_attempts, scheduled_at)
            SELECT 'available', 'q0', 'MyApp.Slow', jsonb_build_object('id', g), 3, timezone('UTC', now()) FROM generate_series(1, 60) g
            """)
        let a = try await MetProcess(name: "a", arguments: ["--cluster", prefix])
        let w = try await MetProcess(name: "w", seeds: [a.meshAddress], arguments: [
            "--cluster", prefix, "--database", url, "--prefix", prefix,
            "--queues", "q0:3,q1:2", "--min-ms", "300", "--max-ms", "400", "--retryable-rate", "0", "--discard-rate", "0",
        ], command: "worker")
        var seenRunning: [Int64] = []
        try await waitUntil("a shows w's queues with their limits, producer and running jobs", within: 30) {
            guard let q0 = await Self.check(a, of: "w", queue: "q0"), let q1 = await Self.check(a, of: "w", queue: "q1") else { return false }
            guard q0["limit"] as? Int == 3, q1["limit"] as? Int == 2, q0["paused"] as? Bool == false else { return false }
            let uuid = q0["uuid"] as? String ?? ""
            guard uuid.range(of: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", options: .regularExpression) != nil,
                  q1["uuid"] as? String != uuid, q0["startedAt"] is Int else { return false }
            seenRunning = (q0["running"] as? [Int] ?? []).map(Int64.init)
            return !seenRunning.isEmpty
        }
        #expect(seenRunning.count <= 3, "never more than the queue's limit")
        let ids = Set(try conn.query("SELECT id FROM \(p).oban_jobs WHERE queue = 'q0'").rows.compactMap { $0[0].flatMap { Int64($0) } })
        #expect(Set(seenRunning).isSubset(of: ids), "the running ids are jobs of the queue")

        // A worker in another language posts its queue's check to a; w serves it too.
        let posted = #"{"event":"queue_check","queue":"py","limit":5,"paused":true,"running":[7,8],"uuid":"u-1","started_at":"2026-12-05T10:00:00Z"}"#
        let (status, body) = try await a.post(events: [posted])
        #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
        try await waitUntil("w serves a's posted check", within: 30) {
            guard let py = await Self.check(w, of: "a", queue: "py") else { return false }
            return py["limit"] as? Int == 5 && py["paused"] as? Bool == true && py["running"] as? [Int] == [7, 8]
                && py["uuid"] as? String == "u-1" && py["startedAt"] as? Int == 1_796_464_800
        }
        let bad = try await a.post(events: [#"{"event":"queue_check","queue":"py","limit":-1}"#])
        #expect(bad.0 == 400)
        try await w.stop()
        try await a.stop()
    }
}
