/// The SQL of ObanMet's own objects in Postgres, beside Oban's `oban_jobs`: the narrow
/// `(state, queue)` index and the joint statistics the keyframe counts use, the lease table of
/// the keyframe leader, the snapshot table, and `met_job_counts`, which counts jobs per
/// (state, queue) in one round trip (DESIGN §5). Oban's own objects are in ``ObanMigrationSQL``;
/// ``SchemaPlan`` decides which of all these a database still needs (`met schema`).
///
/// `prefix` is the Postgres schema holding the tables (default `public`), Oban's `prefix`.
package enum JobSchema {
    /// Job states, in the order grouped results list them (DESIGN §4). The enum's own order is
    /// Oban's (``ObanMigrationSQL/stateLabels``).
    package static let states = ["available", "scheduled", "executing", "retryable", "completed", "discarded", "cancelled", "suspended"]

    /// Names of ObanMet's objects (all in schema `prefix`).
    package static let indexName = "met_oban_jobs_state_queue_index"
    package static let statisticsName = "met_oban_jobs_state_queue"
    /// The statistics target of the joint statistics: enough most-common (state, queue) pairs
    /// for every group a real table has.
    package static let statisticsTarget = 1000

    /// A schema name as a quoted SQL identifier.
    package static func identifier(_ name: String) -> String {
        "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    /// Creates ObanMet's narrow index without blocking writes to the table. Outside a
    /// transaction only. The keyframe's exact counts scan it: B-tree deduplication makes it
    /// about 7× smaller than Oban's (state, queue, priority, scheduled_at, id) index (34 vs 237 MB
    /// at 5M rows), so small groups count twice as fast. The price: one more index entry per job
    /// insert or state change. Without it the counts still work, through Oban's index.
    static func createIndex(prefix: String) -> String {
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS \(indexName) ON \(identifier(prefix)).oban_jobs (state, queue)"
    }

    /// Drops an index of that name left INVALID by an interrupted `CREATE INDEX CONCURRENTLY`.
    static func dropIndex(prefix: String) -> String {
        "DROP INDEX CONCURRENTLY IF EXISTS \(identifier(prefix)).\(indexName)"
    }

    /// Joint (state, queue) statistics: estimates of big groups follow their real frequencies
    /// instead of multiplying the two columns' frequencies. Takes a SHARE UPDATE EXCLUSIVE lock,
    /// which does not block reads or writes.
    static func createStatistics(prefix: String) -> [String] {
        let p = identifier(prefix)
        return [
            "CREATE STATISTICS IF NOT EXISTS \(p).\(statisticsName) (mcv) ON state, queue FROM \(p).oban_jobs",
            "ALTER STATISTICS \(p).\(statisticsName) SET STATISTICS \(statisticsTarget)",
        ]
    }

    static func createLeases(prefix: String) -> String {
        """
        CREATE TABLE IF NOT EXISTS \(identifier(prefix)).met_leases (
          name text PRIMARY KEY,
          term bigint NOT NULL,
          holder text NOT NULL,
          incarnation bigint NOT NULL,
          expires_at timestamptz NOT NULL
        )
        """
    }

    static func createSnapshots(prefix: String) -> String {
        """
        CREATE TABLE IF NOT EXISTS \(identifier(prefix)).met_snapshots (
          cluster text NOT NULL,
          chunk integer NOT NULL,
          node text NOT NULL,
          taken_at timestamptz NOT NULL DEFAULT now(),
          data bytea NOT NULL,
          PRIMARY KEY (cluster, node, chunk)
        )
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
    /// frequency in the joint statistics (`met_oban_jobs_state_queue`) times the table's live
    /// rows as the statistics system counts them (`pg_stat_get_live_tuples`: inserts minus
    /// deletes, so dead rows do not inflate it; where that is 0, `reltuples` scaled to the
    /// table's current size the way the planner does). Groups estimated at `estimate_limit` or
    /// more are returned as estimates, all others (and any group the statistics do not list)
    /// are counted exactly with an index-only scan of the group.
    static func jobCountsFunction(prefix: String) -> String {
        """
        CREATE OR REPLACE FUNCTION \(identifier(prefix)).met_job_counts(estimate_limit bigint)
        RETURNS TABLE(job_state text, job_queue text, job_count bigint, is_estimate boolean)
        LANGUAGE plpgsql AS $fn$\(jobCountsBody(prefix: prefix))$fn$
        """
    }

    /// The body of `met_job_counts`, as `pg_proc.prosrc` holds it once created (so a plan can
    /// tell an up-to-date function from one an older version made).
    static func jobCountsBody(prefix: String) -> String {
        let p = identifier(prefix)
        return """

        DECLARE
          total double precision;
          guesses jsonb := '{}';
          item record;
          pair record;
          guess bigint;
        BEGIN
          SELECT \(liveRows(indent: "         "))
            INTO total FROM pg_class c WHERE c.oid = '\(p).oban_jobs'::regclass;
          FOR item IN
            \(frequencies(schema: sqlLiteral(prefix), indent: "    "))
          LOOP
            guesses := guesses || jsonb_build_object(item.s || ' ' || item.q, round(item.f * total));
          END LOOP;
          FOR pair IN
            \(pairsCTE(p, indent: "    "))
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
        """
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

    /// Creates the publication of `oban_jobs` unless it exists, or adds the table to it when it
    /// lacks it (a table made again): only the columns ObanMet reads (id, state, queue) where
    /// Postgres has column lists (15 and later). Needs the table's owner; touches nothing of the
    /// table itself (no trigger, no replica identity change). Works whatever `wal_level` is (it
    /// matters only when the publication is streamed).
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
              ELSIF NOT EXISTS (SELECT 1 FROM pg_publication_tables
                                WHERE pubname = \(name) AND schemaname = \(sqlLiteral(prefix)) AND tablename = 'oban_jobs') THEN
                PERFORM set_config('client_min_messages', 'error', true);
                IF current_setting('server_version_num')::int >= 150000 THEN
                  EXECUTE format('ALTER PUBLICATION %I ADD TABLE %I.oban_jobs (id, state, queue)', \(name), \(sqlLiteral(prefix)));
                ELSE
                  EXECUTE format('ALTER PUBLICATION %I ADD TABLE %I.oban_jobs', \(name), \(sqlLiteral(prefix)));
                END IF;
              END IF;
            END $met_publication$
            """
    }

    /// A string as a quoted SQL literal.
    package static func sqlLiteral(_ text: String) -> String {
        "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
    }
}
