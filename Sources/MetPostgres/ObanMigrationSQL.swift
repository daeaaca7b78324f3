/// The schema Oban's own Postgres migrations leave behind at version 14 (`Oban.Migrations.Postgres`,
/// V01 through V14), written here as the end state of running them in order on an empty schema.
/// It mirrors Oban; it is not Oban's code.
///
/// What it is for: ObanMet's tests and simulation, and `met schema` on a database that has no
/// `oban_jobs` yet, so the table ObanMet works on is the one a real Oban app has. On a database
/// Oban already migrated, `met schema` never runs any of this (see ``JobSchema``).
///
/// Where each piece comes from:
/// - V01: the enum and the table's first columns; defaults `timezone('UTC', now())` on the two
///   timestamps (Ecto's `utc_datetime_usec` is `timestamp without time zone`). Its indexes and
///   its `oban_jobs_notify` trigger were dropped by later versions (V05, V08, V12).
/// - V02: `worker_length` and `queue_length`. V03: `attempted_by`. V08: `discarded_at`,
///   `priority` (default 0), `tags` (default `[]`), the index on
///   `(state, queue, priority, scheduled_at, id)`. V09: `meta` (default `{}`), `cancelled_at`,
///   the `cancelled` state. V10: `args` defaults to `{}`, `priority` NOT NULL,
///   `positive_max_attempts`, `attempt_range`, the gin indexes on `args` and `meta`
///   (`priority_range` too, which V12 replaced). V11: the unlogged `oban_peers`. V12:
///   `non_negative_priority`, added NOT VALID. V13: the indexes on `(state, cancelled_at)` and
///   `(state, discarded_at)`. V14: the `suspended` state, before `scheduled`.
/// - Oban records the version as the table's comment (`COMMENT ON TABLE ... IS '14'`) and reads
///   it back to know which migrations ran.
package enum ObanMigrationSQL {
    /// The Oban migration version this SQL reproduces.
    package static let version = 14

    /// The enum's labels in Oban's order: V01's six, `cancelled` appended by V09, `suspended`
    /// inserted before `scheduled` by V14. Postgres sorts an enum in this order, so the standard
    /// index lists `suspended` jobs right after `available` ones.
    package static let stateLabels = ["available", "suspended", "scheduled", "executing", "retryable", "completed", "discarded", "cancelled"]

    /// The statements, in order, for schema `prefix` (which must exist and hold no `oban_jobs`).
    /// Run them in one transaction, as Ecto runs a migration.
    package static func statements(prefix: String = "public") -> [String] {
        let p = JobSchema.identifier(prefix)
        let labels = stateLabels.map { "'\($0)'" }.joined(separator: ", ")
        return [
            // Oban creates the type only when the schema has none (V01's DO block).
            """
            DO $$
            BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_type
                             WHERE typname = 'oban_job_state' AND typnamespace = \(JobSchema.sqlLiteral(prefix))::regnamespace::oid) THEN
                CREATE TYPE \(p).oban_job_state AS ENUM (\(labels));
              END IF;
            END$$
            """,
            """
            CREATE TABLE \(p).oban_jobs (
              id bigserial,
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
              PRIMARY KEY (id)
            )
            """,
            "ALTER TABLE \(p).oban_jobs ADD CONSTRAINT worker_length CHECK (char_length(worker) > 0 AND char_length(worker) < 128)",
            "ALTER TABLE \(p).oban_jobs ADD CONSTRAINT queue_length CHECK (char_length(queue) > 0 AND char_length(queue) < 128)",
            "ALTER TABLE \(p).oban_jobs ADD CONSTRAINT positive_max_attempts CHECK (max_attempts > 0)",
            "ALTER TABLE \(p).oban_jobs ADD CONSTRAINT attempt_range CHECK (attempt between 0 and max_attempts)",
            "ALTER TABLE \(p).oban_jobs ADD CONSTRAINT non_negative_priority CHECK (priority >= 0) NOT VALID",
            "CREATE INDEX IF NOT EXISTS oban_jobs_state_queue_priority_scheduled_at_id_index ON \(p).oban_jobs (state, queue, priority, scheduled_at, id)",
            "CREATE INDEX IF NOT EXISTS oban_jobs_args_index ON \(p).oban_jobs USING gin (args)",
            "CREATE INDEX IF NOT EXISTS oban_jobs_meta_index ON \(p).oban_jobs USING gin (meta)",
            "CREATE INDEX IF NOT EXISTS oban_jobs_state_cancelled_at_index ON \(p).oban_jobs (state, cancelled_at)",
            "CREATE INDEX IF NOT EXISTS oban_jobs_state_discarded_at_index ON \(p).oban_jobs (state, discarded_at)",
            """
            CREATE UNLOGGED TABLE IF NOT EXISTS \(p).oban_peers (
              name text NOT NULL,
              node text NOT NULL,
              started_at timestamp without time zone NOT NULL,
              expires_at timestamp without time zone NOT NULL,
              PRIMARY KEY (name)
            )
            """,
            "COMMENT ON TABLE \(p).oban_jobs IS '\(version)'",
        ]
    }
}
