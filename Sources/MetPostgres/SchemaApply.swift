extension PostgresConnection {
    /// What the catalogs say about schema `prefix`, in one query. Changes nothing.
    package func schemaFacts(prefix: String = "public") throws(PostgresError) -> SchemaPlan.Facts {
        let rows = try query("""
            WITH n AS (SELECT to_regnamespace(quote_ident($1::text)) AS oid),
                 jobs AS (SELECT to_regclass(format('%I.oban_jobs', $1::text)) AS oid),
                 ix AS (SELECT to_regclass(format('%I.\(JobSchema.indexName)', $1::text)) AS oid)
            SELECT n.oid IS NOT NULL,
              jobs.oid IS NOT NULL,
              obj_description(jobs.oid, 'pg_class'),
              to_regtype(format('%I.oban_job_state', $1::text)) IS NOT NULL,
              to_regclass(format('%I.oban_peers', $1::text)) IS NOT NULL,
              (SELECT i.indisvalid AND NOT i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
                      AND i.indrelid = jobs.oid AND pg_get_indexdef(i.indexrelid) LIKE '% USING btree (state, queue)'
                 FROM pg_index i WHERE i.indexrelid = ix.oid),
              (SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = ix.oid),
              (SELECT coalesce(s.stxstattarget::int, -1) FROM pg_statistic_ext s
                 WHERE s.stxnamespace = n.oid AND s.stxname = '\(JobSchema.statisticsName)'),
              to_regclass(format('%I.met_leases', $1::text)) IS NOT NULL,
              to_regclass(format('%I.met_snapshots', $1::text)) IS NOT NULL,
              (SELECT array_length(c.conkey, 1) FROM pg_constraint c
                 WHERE c.conrelid = to_regclass(format('%I.met_snapshots', $1::text)) AND c.contype = 'p'),
              (SELECT p.prosrc FROM pg_proc p WHERE p.oid = to_regprocedure(format('%I.met_job_counts(bigint)', $1::text))),
              EXISTS (SELECT 1 FROM pg_publication_tables t WHERE t.pubname = $2 AND t.schemaname = $1 AND t.tablename = 'oban_jobs')
            FROM n, jobs, ix
            """, [prefix, JobSchema.publicationName(prefix: prefix)])
        guard let row = rows.rows.first, row.count == 13 else {
            throw PostgresError(.query, message: "unexpected answer to the schema query: \(rows.rows)")
        }
        var f = SchemaPlan.Facts()
        f.schemaExists = row[0] == "t"
        f.obanJobsExists = row[1] == "t"
        f.obanJobsComment = row[2]
        f.enumExists = row[3] == "t"
        f.obanPeersExists = row[4] == "t"
        f.indexIsRight = row[5].map { $0 == "t" }
        f.indexIsValid = row[6] == "t"
        f.statisticsTarget = row[7].flatMap { Int($0) }
        f.leasesExists = row[8] == "t"
        f.snapshotsExists = row[9] == "t"
        f.snapshotKeyColumns = row[10].flatMap { Int($0) }
        f.jobCountsBody = row[11]
        f.publicationExists = row[12] == "t"
        return f
    }

    /// What `met schema` would do in `prefix` (`met schema --check`). Changes nothing.
    package func schemaPlan(prefix: String = "public") throws(PostgresError) -> SchemaPlan {
        SchemaPlan(prefix: prefix, facts: try schemaFacts(prefix: prefix))
    }

    /// `met schema`: makes what the plan says is missing, item by item, and returns the plan it
    /// carried out (`report` hears each item once it is done). Concurrent runs on the same
    /// schema wait for each other (a session advisory lock), so two deploys cannot both build the
    /// index. Running it again changes nothing.
    @discardableResult
    package func applySchema(prefix: String = "public", report: (SchemaPlan.Item) -> Void = { _ in }) throws(PostgresError) -> SchemaPlan {
        _ = try query("SET client_min_messages TO warning")  // no "already exists, skipping" notices
        let lockKey = "met schema " + prefix
        _ = try query("SELECT pg_advisory_lock(hashtext($1))", [lockKey])
        defer { _ = try? query("SELECT pg_advisory_unlock(hashtext($1))", [lockKey]) }
        let plan = try schemaPlan(prefix: prefix)
        for item in plan.items {
            let (statements, transaction) = plan.statements(for: item)
            if transaction { _ = try query("BEGIN") }
            do {
                for statement in statements { _ = try query(statement) }
                if transaction { _ = try query("COMMIT") }
            } catch {
                if transaction { _ = try? query("ROLLBACK") }
                throw error
            }
            report(item)
        }
        return plan
    }
}
