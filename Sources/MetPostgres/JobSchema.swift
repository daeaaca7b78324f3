/// The SQL ObanMet needs in Postgres: the standard `oban_jobs` schema (for its own tests, the
/// simulation and `met worker`), the lease table of the keyframe leader, and `met_job_counts`,
/// which counts jobs per (state, queue) in one round trip (DESIGN §5).
///
/// Every statement is idempotent (`IF NOT EXISTS`, `OR REPLACE`), so `met schema` can run on
/// every deploy. `prefix` is the Postgres schema holding the tables (default `public`).
package enum JobSchema {
    /// Job states, in the order of the enum (DESIGN §4).
    package static let states = ["available", "scheduled", "executing", "retryable", "completed", "discarded", "cancelled", "suspended"]

    /// A schema name as a quoted SQL identifier.
    package static func identifier(_ name: String) -> String {
        "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    /// The statements of `met schema`, in order.
    package static func statements(prefix: String = "public") -> [String] {
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
            // The keyframe's exact counts scan this one: B-tree deduplication makes it about 7×
            // smaller than the standard index (34 vs 237 MB at 5M rows), so small groups count
            // twice as fast. The price: one more index entry per job insert or state change.
            // Without it the counts still work, through the standard index.
            "CREATE INDEX IF NOT EXISTS met_oban_jobs_state_queue_index ON \(p).oban_jobs (state, queue)",
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
            """
            CREATE TABLE IF NOT EXISTS \(p).met_snapshots (
              cluster text NOT NULL,
              chunk integer NOT NULL,
              node text NOT NULL,
              taken_at timestamptz NOT NULL DEFAULT now(),
              data bytea NOT NULL,
              PRIMARY KEY (cluster, node, chunk)
            )
            """,
            snapshotKeyMigration(prefix: prefix),
            jobCountsFunction(prefix: prefix),
            publicationStatement(prefix: prefix),
        ]
    }

    /// The publication the keyframe leader streams `oban_jobs`'s changes through, where
    /// `wal_level = logical` (docs/full-count.md): one per schema, `met_oban_jobs` for `public`.
    package static func publicationName(prefix: String = "public") -> String {
        guard prefix != "public" else { return "met_oban_jobs" }
        let plain = String(prefix.lowercased().unicodeScalars.map { ("a"..."z").contains($0) || ("0"..."9").contains($0) ? Character($0) : "_" })
        var name = "met_oban_jobs_" + plain
        if name.utf8.count > 63 || plain != prefix {
            // Distinct schemas must not share a name: add a hash of the real one (FNV-1a).
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in prefix.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
            name = String(name.prefix(50)) + "_" + String(hash % 1_000_000_000_000, radix: 36)
        }
        return name
    }

    /// Creates the publication of `oban_jobs` unless it exists: only the columns ObanMet reads
    /// (id, state, queue) where Postgres has column lists (15 and later). Needs the table's
    /// owner; touches nothing of the table itself (no trigger, no replica identity change). Works
    /// whatever `wal_level` is (it matters only when the publication is streamed).
    package static func publicationStatement(prefix: String = "public") -> String {
        let name = sqlLiteral(publicationName(prefix: prefix))
        return """
            DO $met_publication$ BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = \(name)) THEN
                PERFORM set_config('client_min_messages', 'error', true);  -- no warning when wal_level is not logical yet
                IF current_setting('server_version_num')::int >= 150000 THEN
                  EXECUTE format('CREATE PUBLICATION %I FOR TABLE %I.oban_jobs (id, state, queue)', \(name), \(sqlLiteral(prefix)));
                ELSE
                  EXECUTE format('CREATE PUBLICATION %I FOR TABLE %I.oban_jobs', \(name), \(sqlLiteral(prefix)));
                END IF;
              END IF;
            END $met_publication$
            """
    }

    /// Re-keys a `met_snapshots` table from before snapshots were kept per node (its key was
    /// `(cluster, chunk)`); does nothing on a current one. Also run before every snapshot write,
    /// so nodes upgraded without `met schema` do not collide.
    package static func snapshotKeyMigration(prefix: String = "public") -> String {
        let p = identifier(prefix)
        let literal = "'" + prefix.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
        return """
            DO $met_migrate$ BEGIN
              IF (SELECT array_length(conkey, 1) FROM pg_constraint
                  WHERE conrelid = to_regclass(format('%I.met_snapshots', \(literal))) AND contype = 'p') = 2 THEN
                ALTER TABLE \(p).met_snapshots DROP CONSTRAINT met_snapshots_pkey, ADD PRIMARY KEY (cluster, node, chunk);
              END IF;
            END $met_migrate$
            """
    }

    /// `met_job_counts(estimate_limit)`: every (state, queue) present, found by a skip scan of
    /// the state/queue index (one probe per group, not per row). A group's estimate is its
    /// frequency in the joint statistics (`met_oban_jobs_state_queue`) times the table's rows,
    /// scaled to its current size the way the planner does; groups estimated at `estimate_limit`
    /// or more are returned as estimates, all others (and any group the statistics do not list)
    /// are counted exactly with an index-only scan of the group.
    static func jobCountsFunction(prefix: String) -> String {
        let p = identifier(prefix)
        return """
        CREATE OR REPLACE FUNCTION \(p).met_job_counts(estimate_limit bigint)
        RETURNS TABLE(job_state text, job_queue text, job_count bigint, is_estimate boolean)
        LANGUAGE plpgsql AS $fn$
        DECLARE
          total double precision;
          guesses jsonb := '{}';
          item record;
          pair record;
          guess bigint;
        BEGIN
          SELECT CASE WHEN c.relpages > 0 AND c.reltuples > 0
                      THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::bigint)
                      ELSE 0 END
            INTO total FROM pg_class c WHERE c.oid = '\(p).oban_jobs'::regclass;
          FOR item IN
            SELECT e.most_common_vals[i][1] AS s, e.most_common_vals[i][2] AS q, e.most_common_freqs[i] AS f
            FROM pg_stats_ext e, generate_subscripts(e.most_common_vals, 1) i
            WHERE e.statistics_schemaname = \(sqlLiteral(prefix)) AND e.statistics_name = 'met_oban_jobs_state_queue'
          LOOP
            guesses := guesses || jsonb_build_object(item.s || ' ' || item.q, round(item.f * total));
          END LOOP;
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
            guess := (guesses ->> (pair.s::text || ' ' || pair.q))::bigint;
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
