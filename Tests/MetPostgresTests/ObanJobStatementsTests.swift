import Foundation
import MetPostgres
import Testing

/// The worker's job moves on Oban's schema, on jobs inserted the way Oban inserts them, each
/// column checked after each move (issue 11: "a real Oban or Oban Web reading the same table
/// sees consistent rows").
@Suite(
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set (see postgresIsConfigured)")
)
struct ObanJobStatementsTests {
    let conn: PostgresConnection
    let prefix = "jobs_\(UInt32.random(in: 0...UInt32.max))"
    var p: String { JobSchema.identifier(prefix) }
    let producer = UUID().uuidString.lowercased()

    init() throws {
        conn = try PostgresConnection(connectionString: try #require(databaseURL))
        _ = try conn.query("CREATE SCHEMA \(JobSchema.identifier(prefix))")
        _ = try conn.query("BEGIN")
        for statement in ObanMigrationSQL.statements(prefix: prefix) { _ = try conn.query(statement) }
        _ = try conn.query("COMMIT")
        try conn.applySchema(prefix: prefix)
    }

    func drop() {
        _ = try? conn.query("DROP SCHEMA \(p) CASCADE")
        _ = try? conn.query("DROP PUBLICATION IF EXISTS \(JobSchema.identifier(JobSchema.publicationName(prefix: prefix)))")
    }

    /// An insert as Oban's `Oban.insert/2` makes it (the columns `Oban.Job.new/2` sets; the rest
    /// from the table's defaults), scheduled `ago` seconds in the past. Returns the id.
    func insert(queue: String = "mailers", worker: String = "MyApp.Mailer", maxAttempts: Int = 20, priority: Int = 0,
                ago: Int = 0) throws -> Int64 {
        let rows = try conn.query("""
            INSERT INTO \(p).oban_jobs (state, queue, worker, args, meta, tags, max_attempts, priority, scheduled_at)
            VALUES ('available', $1, $2, '{"to": "a@example.com"}', '{}', '{}', $3::int, $4::int,
                    timezone('UTC', now()) - $5::int * interval '1 second')
            RETURNING id
            """, [queue, worker, String(maxAttempts), String(priority), String(ago)])
        return try #require(rows.rows.first?[0].flatMap { Int64($0) })
    }

    /// The job's row, column → text (arrays and json in Postgres's text form).
    func row(_ id: Int64) throws -> [String: String] {
        let rows = try conn.query("""
            SELECT state::text, attempt, max_attempts, attempted_at IS NOT NULL AS attempted, attempted_by::text,
              completed_at IS NOT NULL AS completed, discarded_at IS NOT NULL AS discarded, cancelled_at IS NOT NULL AS cancelled,
              cardinality(errors) AS errors, errors[cardinality(errors)]::text AS last_error,
              round(extract(epoch FROM scheduled_at - timezone('UTC', now())))::int AS due_in,
              xmin::text AS xmin
            FROM \(p).oban_jobs WHERE id = $1::bigint
            """, [String(id)])
        var out: [String: String] = [:]
        for (i, column) in rows.columns.enumerated() { out[column] = rows.rows.first?[i] ?? "NULL" }
        return out
    }

    func claim(_ queue: String = "mailers") throws -> ClaimedJob {
        try #require(try conn.claimJobs(queue: queue, node: "worker-1", producer: producer, prefix: prefix).first)
    }

    func lastError(_ id: Int64) throws -> [String: Any] {
        let text = try #require(try row(id)["last_error"])
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func claimThenComplete() throws {
        defer { drop() }
        let id = try insert(ago: 3)
        let job = try claim()
        #expect(job.id == id && job.queue == "mailers" && job.worker == "MyApp.Mailer" && job.attempt == 1 && job.maxAttempts == 20)
        #expect(job.waitNanoseconds >= 3_000_000_000 && job.waitNanoseconds < 60_000_000_000, "\(job.waitNanoseconds)")
        var r = try row(id)
        #expect(r["state"] == "executing" && r["attempt"] == "1" && r["attempted"] == "t")
        #expect(r["attempted_by"] == "{worker-1,\(producer)}")
        #expect(r["completed"] == "f" && r["errors"] == "0")
        #expect(try conn.claimJobs(queue: "mailers", node: "worker-1", producer: producer, prefix: prefix).isEmpty, "claimed once only")
        let move = try #require(try conn.completeJob(id: id, prefix: prefix))
        #expect(move.from == "executing" && move.to == "completed")
        r = try row(id)
        #expect(r["state"] == "completed" && r["completed"] == "t" && r["discarded"] == "f" && r["attempt"] == "1")
        // The transaction ids are the statements' own: the row's xmin is the complete's.
        #expect(r["xmin"] == String(move.transaction & 0xFFFF_FFFF))
        #expect(move.transaction > job.transaction)
        #expect(try conn.completeJob(id: id, prefix: prefix) == nil, "a job no longer executing is left alone")
    }

    @Test func aFailureIsRetriedWithObansBackoffThenDiscardedOnItsLastAttempt() throws {
        defer { drop() }
        let id = try insert(maxAttempts: 2)
        let first = try claim()
        let retry = try #require(try conn.failJob(first, error: "** (RuntimeError) boom", prefix: prefix))
        #expect(retry.to == "retryable")
        var r = try row(id)
        #expect(r["state"] == "retryable" && r["errors"] == "1" && r["discarded"] == "f")
        // Oban's default after attempt 1: 15 + 2^1 = 17 s, plus up to 10 % (truncated): 17 or 18.
        #expect(["17", "18"].contains(r["due_in"]), "\(r)")
        var error = try lastError(id)
        #expect(error["attempt"] as? Int == 1 && error["error"] as? String == "** (RuntimeError) boom")
        let at = try #require(error["at"] as? String)
        #expect(at.hasSuffix("Z") && ISO8601DateFormatter().date(from: at.replacingOccurrences(of: #"\.\d+Z$"#, with: "Z", options: .regularExpression)) != nil, "\(at)")
        // Oban's stager makes it available again; the second attempt is the last one.
        _ = try conn.query("UPDATE \(p).oban_jobs SET state = 'available' WHERE id = $1::bigint", [String(id)])
        let second = try claim()
        #expect(second.attempt == 2)
        let discard = try #require(try conn.failJob(second, error: "boom again", prefix: prefix))
        #expect(discard.to == "discarded")
        r = try row(id)
        #expect(r["state"] == "discarded" && r["discarded"] == "t" && r["errors"] == "2" && r["attempt"] == "2")
        #expect(["17", "18"].contains(r["due_in"]), "scheduled_at is left as the retry set it: \(r)")
        error = try lastError(id)
        #expect(error["attempt"] as? Int == 2 && error["error"] as? String == "boom again")
        // A job with no attempts left is never claimed again.
        _ = try conn.query("UPDATE \(p).oban_jobs SET state = 'available' WHERE id = $1::bigint", [String(id)])
        #expect(try conn.claimJobs(queue: "mailers", node: "worker-1", producer: producer, prefix: prefix).isEmpty)
    }

    @Test func discardSkipsTheRetries() throws {
        defer { drop() }
        let id = try insert(maxAttempts: 5)
        let move = try #require(try conn.failJob(try claim(), error: "bad args", backoffSeconds: 1, discard: true, prefix: prefix))
        #expect(move.to == "discarded")
        let r = try row(id)
        #expect(r["state"] == "discarded" && r["discarded"] == "t" && r["errors"] == "1" && r["due_in"] == "0")
    }

    @Test func snoozeSchedulesItAgainWithoutCostingAnAttempt() throws {
        defer { drop() }
        let id = try insert(maxAttempts: 3)
        let move = try #require(try conn.snoozeJob(id: try claim().id, seconds: 60, prefix: prefix))
        #expect(move.from == "executing" && move.to == "scheduled")
        let r = try row(id)
        #expect(r["state"] == "scheduled" && r["due_in"] == "60" && r["max_attempts"] == "4" && r["attempt"] == "1" && r["errors"] == "0")
    }

    @Test func cancelByTheJobAndByAnOperator() throws {
        defer { drop() }
        let running = try insert()
        let waiting = try insert(queue: "other")
        let move = try #require(try conn.cancelJob(id: try claim().id, error: "{:cancel, :no_longer_needed}", prefix: prefix))
        #expect(move.from == "executing" && move.to == "cancelled")
        var r = try row(running)
        #expect(r["state"] == "cancelled" && r["cancelled"] == "t" && r["errors"] == "1")
        #expect(try lastError(running)["error"] as? String == "{:cancel, :no_longer_needed}")
        // An operator's cancel (no error) takes any unfinished job, and says which state it left.
        let other = try #require(try conn.cancelJob(id: waiting, prefix: prefix))
        #expect(other.from == "available" && other.to == "cancelled")
        r = try row(waiting)
        #expect(r["state"] == "cancelled" && r["errors"] == "0" && r["attempt"] == "0")
        #expect(try conn.cancelJob(id: waiting, prefix: prefix) == nil, "a finished job stays as it is")
        #expect(try conn.failJob(ClaimedJob(id: running, queue: "mailers", worker: "W", attempt: 1, maxAttempts: 20, waitNanoseconds: 0, transaction: 0),
                                 error: "late", prefix: prefix) == nil)
        #expect(try row(running)["errors"] == "1")
    }

    @Test func claimsFollowPriorityThenScheduledAtAndSkipLockedRows() throws {
        defer { drop() }
        let low = try insert(priority: 1, ago: 30)
        let older = try insert(ago: 20)
        let newer = try insert(ago: 10)
        _ = try insert(queue: "elsewhere", ago: 40)
        // Another worker holds `older` in its open transaction: skipped, not waited for.
        let other = try PostgresConnection(connectionString: try #require(databaseURL))
        _ = try other.query("BEGIN")
        _ = try other.query("SELECT id FROM \(p).oban_jobs WHERE id = $1::bigint FOR UPDATE", [String(older)])
        #expect(try claim().id == newer)
        _ = try other.query("ROLLBACK")
        let rest = try conn.claimJobs(queue: "mailers", node: "worker-1", producer: producer, limit: 5, prefix: prefix)
        #expect(Set(rest.map(\.id)) == [older, low])
    }

    @Test func obansDefaultBackoff() {
        // 15 + 2^attempt, plus the base × random × 0.1, truncated.
        #expect(ObanBackoff.seconds(attempt: 1, maxAttempts: 20, random: 0) == 17)
        #expect(ObanBackoff.seconds(attempt: 1, maxAttempts: 20, random: 0.999) == 18)
        #expect(ObanBackoff.seconds(attempt: 5, maxAttempts: 20, random: 0.5) == 47 + 2)
        #expect(ObanBackoff.seconds(attempt: 20, maxAttempts: 20, random: 0) == 1_048_591)
        // More than 20 attempts: rescaled onto 20 (attempt 10 of 40 waits like attempt 5).
        #expect(ObanBackoff.seconds(attempt: 10, maxAttempts: 40, random: 0) == 47)
        #expect(ObanBackoff.seconds(attempt: 40, maxAttempts: 40, random: 0) == 1_048_591)
    }
}
