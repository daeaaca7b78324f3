import Foundation
import MetPostgres
import Testing

/// `met worker`'s simulated jobs as the simulation uses them: a job's args choose its run time
/// and ending, and a job that ends while Postgres is down is ended once it is back (as Oban
/// retries its acknowledgements), never left `executing`.
@Suite(
    .reapsProcesses,
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set: run scripts/test")
)
struct WorkerJobTests {
    static func schema(_ url: String, _ prefix: String) async throws {
        let run = try await ObanDatabaseTests.met(["schema", "--database", url, "--prefix", prefix])
        #expect(run.status == 0, "\(run.output)")
    }

    static func worker(_ url: String, _ prefix: String, queues: String) async throws -> MetProcess {
        try await MetProcess(name: "w", arguments: [
            "--database", url, "--prefix", prefix, "--cluster", prefix, "--queues", queues,
            "--min-ms", "1", "--max-ms", "3", "--retryable-rate", "0", "--discard-rate", "0",
        ], command: "worker")
    }

    /// Four jobs whose args say "300 ms, then discard", four that take the flags (1–3 ms,
    /// completed): each runs and ends as it was told, and exec_time shows the run times.
    @Test(.timeLimit(.minutes(4)))
    func aJobRunsByTheProfileInItsArgs() async throws {
        let url = try #require(databaseURL)
        let prefix = "profile_\(UInt32.random(in: 0...UInt32.max))"
        let p = JobSchema.identifier(prefix)
        let conn = try PostgresConnection(connectionString: url)
        _ = try conn.query("SET client_min_messages TO warning")
        defer { _ = try? conn.query("DROP SCHEMA IF EXISTS \(p) CASCADE") }
        try await Self.schema(url, prefix)
        _ = try conn.query("""
            INSERT INTO \(p).oban_jobs (queue, worker, args, max_attempts)
            SELECT 'q', CASE WHEN g <= 4 THEN 'Slow' ELSE 'Fast' END,
                   CASE WHEN g <= 4 THEN '{"n": 1, "simulate": {"ms": 300, "sigma": 0, "discard": 1}}'::jsonb
                        ELSE jsonb_build_object('n', g) END, 3
            FROM generate_series(1, 8) g
            """)
        let worker = try await Self.worker(url, prefix, queues: "q:4")
        try await waitUntil("every job ended", within: 30) {
            try conn.query("SELECT count(*) FROM \(p).oban_jobs WHERE state IN ('available', 'executing')").rows == [["0"]]
        }
        let ended = try conn.query("SELECT worker, state::text, count(*) FROM \(p).oban_jobs GROUP BY 1, 2 ORDER BY 1, 2").rows
        #expect(ended == [["Fast", "completed", "4"], ["Slow", "discarded", "4"]])
        try await waitUntil("the node holds the 8 executions") { await worker.latest("exec_count")?["all"] == 8 }
        let p50 = try #require(await worker.latest("exec_time", query: "lookback=3600&group=worker&op=p50"))
        let p99 = try #require(await worker.latest("exec_time", query: "lookback=3600&group=worker&op=p99"))
        // sigma 0: every Slow run lasts the median (the sleep may overshoot, never undershoot);
        // Fast runs last 1–3 ms. A loaded machine may stretch any run, so the upper bound is what
        // Postgres saw of each job, from its claim to its end (a run lies within that span);
        // quantiles within the sketch's 1 %, timestamps to the microsecond.
        var spans: [String: Double] = [:]
        for row in try conn.query("""
            SELECT worker, max(extract(epoch FROM coalesce(completed_at, discarded_at) - attempted_at)) * 1e9
            FROM \(p).oban_jobs GROUP BY 1
            """).rows {
            if let worker = row[0], let ns = row[1].flatMap({ Double($0) }) { spans[worker] = ns }
        }
        let slowSpan = try #require(spans["Slow"]), fastSpan = try #require(spans["Fast"])
        #expect((297e6...(slowSpan * 1.01 + 1e3)).contains(p50["Slow"] ?? 0), "Slow p50 \(p50), its jobs' spans at most \(slowSpan) ns")
        #expect(((1e6 * 0.99)...(fastSpan * 1.01 + 1e3)).contains(p99["Fast"] ?? .infinity), "Fast p99 \(p99), its jobs' spans at most \(fastSpan) ns")
        try await worker.stop()
    }

    /// Four jobs of 5 s (long enough for four slots to claim them on a loaded machine) fill a
    /// queue of four slots; Postgres dies under them, so the first statement to fail is a job's
    /// end. Once Postgres is back every job is completed, the node counted each once, and nothing
    /// is left executing.
    @Test(.timeLimit(.minutes(4)))
    func aJobThatEndsWhilePostgresIsDownEndsWhenItIsBack() async throws {
        let pg = try ThrowawayPostgres()
        ProcessGroup.afterProcesses { pg.destroy() }
        let prefix = "public"
        try await Self.schema(pg.url, prefix)
        var conn = try PostgresConnection(connectionString: pg.url)
        _ = try conn.query("""
            INSERT INTO oban_jobs (queue, worker, args)
            SELECT 'q', 'Slow', '{"simulate": {"ms": 5000, "sigma": 0}}'::jsonb FROM generate_series(1, 4)
            """)
        let worker = try await Self.worker(pg.url, prefix, queues: "q:4")
        try await waitUntil("all four jobs run", within: 30) {
            try conn.query("SELECT count(*) FROM oban_jobs WHERE state = 'executing'").rows == [["4"]]
        }
        conn.close()
        try pg.stopImmediately()
        try await waitUntil("a job's end failed", within: 20) { worker.log.contains("queue q: postgres unreachable") }
        try pg.start()
        conn = try PostgresConnection(connectionString: pg.url)
        defer { conn.close() }
        try await waitUntil("every job completed", within: 30) {
            try conn.query("SELECT state::text, count(*) FROM oban_jobs GROUP BY 1").rows == [["completed", "4"]]
        }
        try await waitUntil("the node counted each execution once, and none runs") {
            let completed = await worker.latest("exec_count", query: "lookback=3600&group=state")?["completed"]
            let running = await worker.latest("executing", query: "lookback=2")?["all"]
            return completed == 4 && running == 0
        }
        #expect(await worker.latest("exec_count", query: "lookback=3600")?["all"] == 4)
        #expect(worker.log.contains("queue q: postgres reachable again"))
        #expect(!worker.log.contains("left executing"))
        try await worker.stop()
    }
}
