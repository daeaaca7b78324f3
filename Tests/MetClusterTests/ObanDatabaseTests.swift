import Foundation
import MetPostgres
import Testing

/// The `met` binary on a database Oban migrated (issue 11): `met schema --check` and
/// `met schema` as an operator runs them, and `met worker` on jobs inserted the way Oban inserts
/// them, each row checked as Oban or Oban Web would read it. Each test has its own schema.
@Suite(
    .reapsProcesses,
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set: run scripts/test")
)
struct ObanDatabaseTests {
    let url: String
    let conn: PostgresConnection
    let prefix = "obandb_\(UInt32.random(in: 0...UInt32.max))"
    var p: String { JobSchema.identifier(prefix) }

    init() throws {
        url = try #require(databaseURL)
        conn = try PostgresConnection(connectionString: url)
        _ = try conn.query("SET client_min_messages TO warning")
    }

    func drop() {
        _ = try? conn.query("DROP SCHEMA IF EXISTS \(p) CASCADE")
        _ = try? conn.query("DROP PUBLICATION IF EXISTS \(JobSchema.identifier(JobSchema.publicationName(prefix: prefix)))")
    }

    /// What Oban's migrations would have made in the schema.
    func migrateLikeOban() throws {
        _ = try conn.query("CREATE SCHEMA \(p)")
        _ = try conn.query("BEGIN")
        for statement in ObanMigrationSQL.statements(prefix: prefix) { _ = try conn.query(statement) }
        _ = try conn.query("COMMIT")
    }

    /// Runs `met ARGUMENTS` to its end; its exit status and its output (stdout and stderr).
    static func met(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = MetProcess.binary
        process.arguments = arguments
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("met-schema-\(UInt64.random(in: 0...UInt64.max)).out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out) }
        let handle = try FileHandle(forWritingTo: out)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        do {
            try await waitUntil("met \(arguments.first ?? "") exits", within: 60) { !process.isRunning }
        } catch {
            process.terminate()
            process.waitUntilExit()
            throw error
        }
        try handle.close()
        return (process.terminationStatus, try String(contentsOf: out, encoding: .utf8))
    }

    func schema(_ extra: String...) async throws -> (status: Int32, output: String) {
        try await Self.met(["schema", "--database", url, "--prefix", prefix] + extra)
    }

    @Test(.timeLimit(.minutes(4)))
    func checkOnAFreshThenOnAFinishedDatabase() async throws {
        defer { drop() }
        let fresh = try await schema("--check")
        #expect(fresh.status == 2, "\(fresh.output)")
        #expect(fresh.output.contains("table oban_jobs: would create (Oban's schema at migration version 14)"))
        #expect(fresh.output.contains("index met_oban_jobs_state_queue_index: would create (CONCURRENTLY)"))
        #expect(fresh.output.contains("10 change(s) pending"), "\(fresh.output)")
        #expect(try conn.query("SELECT to_regnamespace($1)", [prefix]).rows == [[nil]], "--check created something")
        let made = try await schema()
        #expect(made.status == 0 && made.output.contains("table oban_jobs: created"), "\(made.output)")
        let finished = try await schema("--check")
        #expect(finished.status == 0, "\(finished.output)")
        let lines = finished.output.split(separator: "\n")
        #expect(lines.count == 11 && lines.dropLast().allSatisfy { $0.contains(": exists") }, "\(finished.output)")
        #expect(lines.last == "met schema --check: nothing to do in schema \(prefix)")
    }

    @Test(.timeLimit(.minutes(4)))
    func onAnObanMadeDatabaseOnlyObanMetsObjectsArePending() async throws {
        defer { drop() }
        try migrateLikeOban()
        let check = try await schema("--check")
        #expect(check.status == 2, "\(check.output)")
        #expect(check.output.contains("table oban_jobs: exists (Oban migrations at version 14; Oban's; left as it is)"), "\(check.output)")
        let pending = check.output.split(separator: "\n").filter { $0.contains("would") }.map { $0.prefix { $0 != ":" } }
        #expect(pending == ["statistics met_oban_jobs_state_queue", "table met_leases", "table met_snapshots",
                            "function met_job_counts(bigint)", "publication \(JobSchema.publicationName(prefix: prefix))",
                            "index met_oban_jobs_state_queue_index"])
        for _ in 0..<2 {
            let run = try await schema()
            #expect(run.status == 0, "\(run.output)")
        }
        #expect(try await schema("--check").status == 0)
    }

    @Test func anUnreachableDatabaseExitsOne() async throws {
        let run = try await Self.met(["schema", "--check", "--database", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"])
        #expect(run.status == 1 && run.output.contains("met schema: postgres connect"), "\(run.output)")
    }

    /// `met worker` on an Oban-made schema, jobs inserted as Oban inserts them: every row it
    /// leaves is one Oban would have left, and the node's full_count is the table's.
    @Test(.timeLimit(.minutes(4)))
    func metWorkerLeavesRowsAsObanWould() async throws {
        defer { drop() }
        try migrateLikeOban()
        #expect(try await schema().status == 0)
        _ = try conn.query("""
            INSERT INTO \(p).oban_jobs (state, queue, worker, args, meta, tags, max_attempts, priority, scheduled_at)
            SELECT 'available', 'q' || (g % 2), 'MyApp.Worker' || (g % 3), jsonb_build_object('id', g), '{}', '{}', 1 + g % 3, g % 2,
                   timezone('UTC', now())
            FROM generate_series(1, 120) g
            """)
        let worker = try await MetProcess(name: "w", arguments: [
            "--database", url, "--prefix", prefix, "--cluster", prefix, "--keyframe-interval", "1", "--lease-duration", "3",
            "--queues", "q0,q1", "--concurrency", "3", "--min-ms", "1", "--max-ms", "3", "--retryable-rate", "0.3", "--discard-rate", "0.1",
        ], command: "worker")
        try await waitUntil("the worker has taken every job", within: 60) {
            try conn.query("SELECT count(*) FROM \(p).oban_jobs WHERE state IN ('available', 'executing')").rows == [["0"]]
        }
        // Rows that break one of Oban's rules, by rule.
        let broken = try conn.query("""
            SELECT id, state::text, rule FROM \(p).oban_jobs, LATERAL (VALUES
              ('claimed', attempt = 1 AND attempted_at IS NOT NULL AND attempted_at >= scheduled_at - interval '1 day'),
              ('attempted_by', cardinality(attempted_by) = 2 AND attempted_by[1] = 'w'
                               AND attempted_by[2] ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
              ('completed', (state = 'completed') = (completed_at IS NOT NULL) AND (state <> 'completed' OR cardinality(errors) = 0)),
              ('retryable', state <> 'retryable' OR (cardinality(errors) = 1 AND attempt < max_attempts AND discarded_at IS NULL
                                                     AND scheduled_at >= attempted_at + interval '17 seconds')),
              ('discarded', (state = 'discarded') = (discarded_at IS NOT NULL) AND (state <> 'discarded' OR cardinality(errors) = 1)),
              ('error', cardinality(errors) = 0 OR ((errors[1] ->> 'attempt')::int = 1 AND errors[1] ->> 'error' LIKE 'met worker: %'
                                                    AND (errors[1] ->> 'at') ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z$'))
            ) AS rules(rule, ok) WHERE NOT ok ORDER BY id LIMIT 10
            """)
        #expect(broken.rows.isEmpty, "\(broken.rows)")
        let states = try conn.query("SELECT state::text, count(*) FROM \(p).oban_jobs GROUP BY state ORDER BY state").rows
        #expect(Set(states.compactMap { $0[0] }) == ["completed", "retryable", "discarded"], "\(states)")
        // One producer uuid per queue, as Oban's producers have.
        let producers = try conn.query("SELECT queue, count(DISTINCT attempted_by[2]) FROM \(p).oban_jobs GROUP BY queue ORDER BY queue").rows
        #expect(producers == [["q0", "1"], ["q1", "1"]])
        // The worker node's own keyframes count the Oban-made table.
        var exact: [String: [String: Double]] = [:]
        for q in KeyframeClusterTests.queues { exact[q] = Dictionary(uniqueKeysWithValues: JobSchema.states.map { ($0, 0.0) }) }
        for c in try conn.exactJobCounts(prefix: prefix) { exact[c.queue, default: [:]][c.state] = Double(c.count) }
        try await waitUntil("full_count equals the table", within: 20) { await KeyframeClusterTests.served(worker) == exact }
        try await worker.stop()
    }
}
