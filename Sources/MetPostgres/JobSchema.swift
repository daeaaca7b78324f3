/// The SQL ObanMet needs in Postgres: the standard `oban_jobs` schema (for its own tests, the
/// simulation and `met worker`), the lease table of the keyframe leader, and `met_job_counts`,
/// which counts jobs per (state, queue) in one round trip (DESIGN §5).
///
/// Every statement is idempotent (`IF NOT EXISTS`, `OR REPLACE`), so `met schema` can run on
/// every deploy. `prefix` is the Postgres schema holding the tables (default `public`).
public enum JobSchema {
    /// Job states, in the order of the enum (DESIGN §4).
    public static let states = ["available", "scheduled", "executing", "retryable", "completed", "discarded", "cancelled", "suspended"]

    /// A schema name as a quoted SQL identifier.
    public static func identifier(_ name: String) -> String {
        "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    /// The statements of `met schema`, in order.
    public static func statements(prefix: String = "public") -> [String] {
        let p = identifier(prefix)
        let stateList = states.map { "'\($0)'" }.joined(separator: ", ")
        return [
            "SET client_min_messages TO warning",  // no "already exists, skipping" notices on a re-run
            "CREATE SCHEMA IF NOT EXISTS \(p)",
            """
            DO $$ BEGIN
              CREATE TYPE \(p).oban_job_state AS ENUM (\(stateList));
            EXCEPTION WHEN duplicate_object THEN NULL;
            END $$
            """,
            """
            CREATE TABLE IF NOT EXISTS \(p).oban_jobs (
              id bigserial PRIMARY KEY,
              state \(p).oban_job_state NOT NULL DEFAULT 'available',
              queue text NOT NULL DEFAULT 'default',
              worker text NOT NULL,
              args jsonb NOT NULL DEFAULT '{}',
              errors jsonb[] NOT NULL DEFAULT ARRAY[]::jsonb[],
              attempt integer NOT NULL DEFAULT 0,
              max_attempts integer NOT NULL DEFAULT 20,
              inserted_at timestamp without time zone NOT NULL DEFAULT timezone('UTC', now()),
              scheduled_at timestamp without time zone NOT NULL DEFAULT timezone('UTC', now()),
              attempted_at timestamp without time zone,
              completed_at timestamp without time zone,
              attempted_by text[],
              discarded_at timestamp without time zone,
              priority integer NOT NULL DEFAULT 0,
              tags text[] DEFAULT ARRAY[]::text[],
              meta jsonb DEFAULT '{}',
              cancelled_at timestamp without time zone,
              CONSTRAINT attempt_range CHECK (attempt >= 0 AND attempt <= max_attempts),
              CONSTRAINT positive_max_attempts CHECK (max_attempts > 0),
              CONSTRAINT queue_length CHECK (char_length(queue) > 0 AND char_length(queue) < 128),
              CONSTRAINT worker_length CHECK (char_length(worker) > 0 AND char_length(worker) < 128)
            )
            """,
            "CREATE INDEX IF NOT EXISTS oban_jobs_state_queue_priority_scheduled_at_id_index ON \(p).oban_jobs (state, queue, priority, scheduled_at, id)",
            // Joint (state, queue) statistics: estimates of big groups follow their real
            // frequencies instead of multiplying the two columns' frequencies.
            "CREATE STATISTICS IF NOT EXISTS \(p).met_oban_jobs_state_queue (mcv) ON state, queue FROM \(p).oban_jobs",
            "ALTER STATISTICS \(p).met_oban_jobs_state_queue SET STATISTICS 1000",
            """
            CREATE TABLE IF NOT EXISTS \(p).met_leases (
              name text PRIMARY KEY,
              term bigint NOT NULL,
              holder text NOT NULL,
              incarnation bigint NOT NULL,
              expires_at timestamptz NOT NULL
            )
            """,
            jobCountsFunction(prefix: prefix),
        ]
    }

    /// `met_job_counts(estimate_limit)`: every (state, queue) present, found by a skip scan of
    /// the state/queue index (one probe per group, not per row); each group's planner estimate
    /// (EXPLAIN, which uses the joint statistics) is returned as is when it reaches
    /// `estimate_limit`, and smaller groups are counted exactly (an index-only scan of the group).
    static func jobCountsFunction(prefix: String) -> String {
        let p = identifier(prefix)
        return """
        CREATE OR REPLACE FUNCTION \(p).met_job_counts(estimate_limit bigint)
        RETURNS TABLE(job_state text, job_queue text, job_count bigint, is_estimate boolean)
        LANGUAGE plpgsql AS $fn$
        DECLARE
          pair record;
          plan json;
          guess bigint;
        BEGIN
          FOR pair IN
            WITH RECURSIVE pairs(s, q) AS (
              (SELECT j.state, j.queue FROM \(p).oban_jobs j ORDER BY j.state, j.queue LIMIT 1)
              UNION ALL
              SELECT n.state, n.queue FROM pairs, LATERAL (
                SELECT j.state, j.queue FROM \(p).oban_jobs j
                WHERE (j.state, j.queue) > (pairs.s, pairs.q)
                ORDER BY j.state, j.queue LIMIT 1) n
            )
            SELECT pairs.s, pairs.q FROM pairs
          LOOP
            EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM %s.oban_jobs WHERE state = %L AND queue = %L',
                           \(sqlLiteral(p)), pair.s, pair.q) INTO plan;
            guess := (plan->0->'Plan'->>'Plan Rows')::bigint;
            job_state := pair.s::text;
            job_queue := pair.q;
            IF guess >= estimate_limit THEN
              job_count := guess;
              is_estimate := true;
            ELSE
              SELECT count(*) INTO job_count FROM \(p).oban_jobs j WHERE j.state = pair.s AND j.queue = pair.q;
              is_estimate := false;
            END IF;
            RETURN NEXT;
          END LOOP;
        END
        $fn$
        """
    }

    static func sqlLiteral(_ text: String) -> String {
        "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
    }
}
