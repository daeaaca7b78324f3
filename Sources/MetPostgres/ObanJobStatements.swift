/// Job moves in `oban_jobs` made the way Oban's Postgres engine (`Oban.Engines.Basic`) makes
/// them, so a real Oban, or Oban Web, reading the same table sees consistent rows:
///
/// | move | state | also |
/// | --- | --- | --- |
/// | claim | `executing` | `attempt + 1`, `attempted_at`, `attempted_by = {node, producer uuid}` |
/// | complete | `completed` | `completed_at` |
/// | fail, attempts left | `retryable` | error appended to `errors`, `scheduled_at` = now + backoff |
/// | fail, none left (or discard) | `discarded` | error appended, `discarded_at` |
/// | snooze | `scheduled` | `scheduled_at` = now + N s, `max_attempts + 1` |
/// | cancel | `cancelled` | `cancelled_at`; the error appended when the job itself cancelled |
///
/// Times are UTC `timestamp`s from Postgres's clock (`timezone('UTC', now())`); an error is
/// `{"attempt": n, "at": "ISO 8601 UTC", "error": "..."}`, as `Oban.Job.format_attempt` makes it.
/// Every move after the claim applies only to a job still `executing` (cancel without an error:
/// to a job not yet finished), so a job another process moved meanwhile (Oban's Lifeline, a
/// cancel from Oban Web) is left as it is and the move returns nil. Each statement is its own
/// transaction; its id (`pg_current_xact_id()`) comes back, so a count can tell whether the move
/// is visible in a snapshot.
extension PostgresConnection {
    /// Claims up to `limit` available jobs of `queue`, next first (priority, scheduled_at, id),
    /// skipping rows other workers hold (`FOR UPDATE SKIP LOCKED`). `node` and `producer` (the
    /// uuid of this node's producer of the queue) go into `attempted_by`, as Oban writes it.
    package func claimJobs(queue: String, node: String, producer: String, limit: Int = 1,
                           prefix: String = "public") throws(PostgresError) -> [ClaimedJob] {
        let p = JobSchema.identifier(prefix)
        let rows = try query("""
            WITH subset AS MATERIALIZED (
              SELECT id FROM \(p).oban_jobs
              WHERE state = 'available' AND queue = $1 AND attempt < max_attempts
              ORDER BY priority, scheduled_at, id
              LIMIT $4::int FOR UPDATE SKIP LOCKED)
            UPDATE \(p).oban_jobs j
            SET state = 'executing', attempt = j.attempt + 1, attempted_at = timezone('UTC', now()),
              attempted_by = ARRAY[$2::text, $3::text]
            FROM subset WHERE j.id = subset.id
            RETURNING j.id, j.queue, j.worker, j.attempt, j.max_attempts,
              greatest(0, extract(epoch FROM j.attempted_at - j.scheduled_at) * 1e9)::bigint,
              pg_current_xact_id()::text, j.args::text
            """, [queue, node, producer, String(limit)])
        return try rows.rows.map { row throws(PostgresError) in
            guard row.count == 8, let id = row[0].flatMap({ Int64($0) }), let queue = row[1], let worker = row[2],
                  let attempt = row[3].flatMap({ Int($0) }), let max = row[4].flatMap({ Int($0) }),
                  let wait = row[5].flatMap({ Int64($0) }), let xact = row[6].flatMap({ UInt64($0) }) else {
                throw PostgresError(.query, message: "unexpected claimed job row \(row)")
            }
            return ClaimedJob(id: id, queue: queue, worker: worker, attempt: attempt, maxAttempts: max,
                              waitNanoseconds: wait, transaction: xact, args: row[7] ?? "{}")
        }
    }

    /// Makes the due jobs of `queue` available: `scheduled` and `retryable` jobs whose
    /// `scheduled_at` has come (up to `limit`, oldest first), as Oban's stager does. Returns how
    /// many left each state, the statement's transaction id, and each job moved with the state
    /// it left.
    package func stageJobs(queue: String, limit: Int = 1000, prefix: String = "public") throws(PostgresError)
        -> (moved: [String: Int], transaction: UInt64?, jobs: [(id: Int64, from: String)]) {
        let p = JobSchema.identifier(prefix)
        let rows = try query("""
            WITH due AS MATERIALIZED (
              SELECT id, state FROM \(p).oban_jobs
              WHERE state IN ('scheduled', 'retryable') AND queue = $1 AND scheduled_at <= timezone('UTC', now())
              ORDER BY scheduled_at, id LIMIT $2::int FOR UPDATE SKIP LOCKED)
            UPDATE \(p).oban_jobs j SET state = 'available' FROM due WHERE j.id = due.id
            RETURNING due.state::text, pg_current_xact_id()::text, j.id
            """, [queue, String(limit)])
        var moved: [String: Int] = [:]
        var jobs: [(id: Int64, from: String)] = []
        for row in rows.rows {
            guard row.count == 3, let from = row[0] else { continue }
            moved[from, default: 0] += 1
            if let id = row[2].flatMap({ Int64($0) }) { jobs.append((id, from)) }
        }
        return (moved, rows.rows.first.flatMap { $0.count == 3 ? $0[1].flatMap { UInt64($0) } : nil }, jobs)
    }

    /// The job succeeded: `completed`, with `completed_at`.
    package func completeJob(id: Int64, prefix: String = "public") throws(PostgresError) -> JobMove? {
        try move(id: id, from: "executing", prefix: prefix, """
            UPDATE \(JobSchema.identifier(prefix)).oban_jobs j SET state = 'completed', completed_at = timezone('UTC', now())
            WHERE j.id = $1::bigint AND j.state = 'executing'
            RETURNING j.state::text, pg_current_xact_id()::text
            """, [String(id)])
    }

    /// The job failed with `error`: `retryable`, due again after `backoffSeconds` (default:
    /// Oban's, ``ObanBackoff``), while it has attempts left; else `discarded`, with
    /// `discarded_at`. Either way the error is appended to `errors`. `discard` discards it
    /// whatever its attempts (Oban's `{:discard, reason}`).
    package func failJob(_ job: ClaimedJob, error: String, backoffSeconds: Int? = nil, discard: Bool = false,
                         prefix: String = "public") throws(PostgresError) -> JobMove? {
        let p = JobSchema.identifier(prefix)
        let seconds = backoffSeconds ?? ObanBackoff.seconds(attempt: job.attempt, maxAttempts: job.maxAttempts,
                                                           random: Double.random(in: 0..<1))
        let retry = "(NOT $4::bool AND j.attempt < j.max_attempts)"
        return try move(id: job.id, from: "executing", prefix: prefix, """
            UPDATE \(p).oban_jobs j SET
              state = (CASE WHEN \(retry) THEN 'retryable' ELSE 'discarded' END)::\(p).oban_job_state,
              scheduled_at = CASE WHEN \(retry) THEN timezone('UTC', now()) + $3::bigint * interval '1 second' ELSE j.scheduled_at END,
              discarded_at = CASE WHEN \(retry) THEN j.discarded_at ELSE timezone('UTC', now()) END,
              errors = array_append(j.errors, \(Self.errorEntry("$2")))
            WHERE j.id = $1::bigint AND j.state = 'executing'
            RETURNING j.state::text, pg_current_xact_id()::text
            """, [String(job.id), error, String(seconds), discard ? "true" : "false"])
    }

    /// The job asked to run again in `seconds`: `scheduled`, with `max_attempts + 1` so the
    /// snooze costs no attempt (as `Oban.Engines.Basic.snooze_job` does).
    package func snoozeJob(id: Int64, seconds: Int, prefix: String = "public") throws(PostgresError) -> JobMove? {
        try move(id: id, from: "executing", prefix: prefix, """
            UPDATE \(JobSchema.identifier(prefix)).oban_jobs j SET state = 'scheduled',
              scheduled_at = timezone('UTC', now()) + $2::bigint * interval '1 second', max_attempts = j.max_attempts + 1
            WHERE j.id = $1::bigint AND j.state = 'executing'
            RETURNING j.state::text, pg_current_xact_id()::text
            """, [String(id), String(seconds)])
    }

    /// Cancels the job: `cancelled`, with `cancelled_at`. With `error` the job cancelled itself
    /// while executing (Oban's `{:cancel, reason}`) and the error is appended; without, any job
    /// not yet completed, discarded or cancelled is cancelled (as `Oban.cancel_job`), and the
    /// move says which state it left.
    package func cancelJob(id: Int64, error: String? = nil, prefix: String = "public") throws(PostgresError) -> JobMove? {
        let p = JobSchema.identifier(prefix)
        let rows = try query("""
            UPDATE \(p).oban_jobs j SET state = 'cancelled', cancelled_at = timezone('UTC', now()),
              errors = CASE WHEN $2::text IS NULL THEN j.errors ELSE array_append(j.errors, \(Self.errorEntry("$2"))) END
            FROM (SELECT id, state FROM \(p).oban_jobs WHERE id = $1::bigint FOR UPDATE) old
            WHERE j.id = old.id AND CASE WHEN $2::text IS NULL THEN j.state NOT IN ('completed', 'discarded', 'cancelled')
                                         ELSE j.state = 'executing' END
            RETURNING old.state::text, j.state::text, pg_current_xact_id()::text
            """, [String(id), error])
        guard let row = rows.rows.first else { return nil }
        guard row.count == 3, let from = row[0], let to = row[1], let xact = row[2].flatMap({ UInt64($0) }) else {
            throw PostgresError(.query, message: "unexpected job move row \(row)")
        }
        return JobMove(id: id, from: from, to: to, transaction: xact)
    }

    /// Runs a move whose row is `(new state, transaction id)`; nil when no row moved.
    private func move(id: Int64, from: String, prefix: String, _ sql: String, _ params: [String?]) throws(PostgresError) -> JobMove? {
        let rows = try query(sql, params)
        guard let row = rows.rows.first else { return nil }
        guard row.count == 2, let to = row[0], let xact = row[1].flatMap({ UInt64($0) }) else {
            throw PostgresError(.query, message: "unexpected job move row \(row)")
        }
        return JobMove(id: id, from: from, to: to, transaction: xact)
    }

    /// One entry of `errors`, the error text being parameter `param`.
    private static func errorEntry(_ param: String) -> String {
        """
        jsonb_build_object('attempt', j.attempt, 'at', to_char(timezone('UTC', now()), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'error', \(param)::text)
        """
    }
}

/// A job this worker claimed, as the claim left it.
package struct ClaimedJob: Sendable, Equatable {
    package var id: Int64
    package var queue: String
    package var worker: String
    /// This attempt's number (1 for the first run).
    package var attempt: Int
    package var maxAttempts: Int
    /// How long the job waited: `attempted_at − scheduled_at`, in nanoseconds (0 if negative).
    package var waitNanoseconds: Int64
    /// The claim's transaction id (`pg_current_xact_id()`).
    package var transaction: UInt64
    /// The job's `args`, as JSON text.
    package var args: String

    package init(id: Int64, queue: String, worker: String, attempt: Int, maxAttempts: Int, waitNanoseconds: Int64, transaction: UInt64,
                 args: String = "{}") {
        self.id = id
        self.queue = queue
        self.worker = worker
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.waitNanoseconds = waitNanoseconds
        self.transaction = transaction
        self.args = args
    }
}

/// One job moved from state `from` to state `to` by the transaction `transaction`.
package struct JobMove: Sendable, Equatable {
    package var id: Int64
    package var from: String
    package var to: String
    package var transaction: UInt64

    package init(id: Int64, from: String, to: String, transaction: UInt64) {
        self.id = id
        self.from = from
        self.to = to
        self.transaction = transaction
    }
}

/// `Oban.Worker`'s default backoff, in seconds, after failed attempt `attempt`:
/// `15 + 2^attempt`, plus up to 10 % more (`Oban.Backoff.jitter(mode: :inc)`: the base times
/// `random · 0.1`, truncated). Jobs with more than 20 attempts have their attempt rescaled onto 20
/// (`round(attempt / max_attempts · 20)`), so the last retries of a long job wait like the
/// twentieth of a short one.
package enum ObanBackoff {
    static let clampedMax = 20

    /// `random` in [0, 1).
    package static func seconds(attempt: Int, maxAttempts: Int, random: Double) -> Int {
        let clamped = maxAttempts <= clampedMax ? attempt : Int((Double(attempt) / Double(maxAttempts) * Double(clampedMax)).rounded())
        // The attempt_range constraint keeps `clamped` ≤ 20; 40 only guards the shift.
        let base = 15 + (1 << Swift.min(Swift.max(clamped, 0), 40))
        return base + Int(random * 0.1 * Double(base))
    }
}
