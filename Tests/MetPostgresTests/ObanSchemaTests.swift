import Foundation
import MetPostgres
import Testing

/// `met schema` on a database Oban migrated (issue 11): each test makes a schema of its own (the
/// `prefix`) the way Oban's migrations leave it at version 14 (``ObanMigrationSQL``), then runs
/// ObanMet on it.
@Suite(
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set (see postgresIsConfigured)")
)
struct ObanSchemaTests {
    let conn: PostgresConnection
    let prefix = "oban_\(UInt32.random(in: 0...UInt32.max))"
    var p: String { JobSchema.identifier(prefix) }

    init() throws {
        conn = try PostgresConnection(connectionString: try #require(databaseURL))
    }

    /// What Oban's `mix ecto.migrate` would have made: the schema, then V01…V14 in one transaction.
    func migrateLikeOban(_ prefix: String? = nil) throws {
        let prefix = prefix ?? self.prefix
        _ = try conn.query("CREATE SCHEMA \(JobSchema.identifier(prefix))")
        _ = try conn.query("BEGIN")
        for statement in ObanMigrationSQL.statements(prefix: prefix) { _ = try conn.query(statement) }
        _ = try conn.query("COMMIT")
    }

    func drop(_ prefixes: String...) {
        _ = try? conn.query("SET client_min_messages TO warning")
        for prefix in [prefix] + prefixes {
            _ = try? conn.query("DROP SCHEMA IF EXISTS \(JobSchema.identifier(prefix)) CASCADE")
            _ = try? conn.query("DROP PUBLICATION IF EXISTS \(JobSchema.identifier(JobSchema.publicationName(prefix: prefix)))")
        }
    }

    @Test func theObanSchemaIsVersion14() throws {
        defer { drop() }
        try migrateLikeOban()
        let c = try ObanCatalog(conn, prefix: prefix)
        #expect(c.columns.map { $0.split(separator: " ")[1] } == ["id", "state", "queue", "worker", "args", "errors", "attempt", "max_attempts",
                                                                  "inserted_at", "scheduled_at", "attempted_at", "completed_at", "attempted_by",
                                                                  "discarded_at", "priority", "tags", "meta", "cancelled_at",
                                                                  "name", "node", "started_at", "expires_at"])
        #expect(c.columns.contains("oban_jobs errors ARRAY _jsonb NO ARRAY[]::jsonb[]"))
        #expect(c.columns.contains("oban_jobs inserted_at timestamp without time zone timestamp NO timezone('UTC'::text, now())"))
        #expect(c.columns.contains("oban_jobs attempted_by ARRAY _text YES NULL"))
        #expect(c.columns.contains("oban_jobs meta jsonb jsonb YES '{}'::jsonb"))
        #expect(Set(c.indexes.map { $0.split(separator: " ")[0] }) == [
            "oban_jobs_pkey", "oban_jobs_args_index", "oban_jobs_meta_index", "oban_jobs_state_queue_priority_scheduled_at_id_index",
            "oban_jobs_state_cancelled_at_index", "oban_jobs_state_discarded_at_index", "oban_peers_pkey",
        ])
        #expect(c.indexes.contains { $0.hasPrefix("oban_jobs_args_index ") && $0.hasSuffix("USING gin (args)") })
        #expect(c.constraints.contains("oban_jobs attempt_range CHECK (((attempt >= 0) AND (attempt <= max_attempts))) t"))
        #expect(c.constraints.contains("oban_jobs non_negative_priority CHECK ((priority >= 0)) NOT VALID f"))
        #expect(c.constraints.count == 7, "\(c.constraints)")  // five checks, two primary keys
        #expect(c.enumLabels == ["available", "suspended", "scheduled", "executing", "retryable", "completed", "discarded", "cancelled"])
        #expect(c.comment == "14" && c.peersPersistence == "u" && c.triggers.isEmpty)
    }

    @Test func metSchemaTwiceAddsOnlyItsOwnObjectsAndChangesNothingOfOban() throws {
        defer { drop() }
        try migrateLikeOban()
        let before = try ObanCatalog(conn, prefix: prefix)
        let plan = try conn.schemaPlan(prefix: prefix)
        #expect(plan.items.filter { $0.action != .none }.map(\.kind) == [.statistics, .leases, .snapshots, .jobCounts, .publication, .index])
        try conn.applySchema(prefix: prefix)
        let second = try conn.applySchema(prefix: prefix)
        #expect(!second.hasChanges, "\(second.items.filter { $0.action != .none })")
        let after = try ObanCatalog(conn, prefix: prefix)
        #expect(after == before, "Oban's objects changed")
        #expect(after.identity == before.identity, "an Oban object was dropped and made again, or its table rewritten")
        // ObanMet's own, and nothing else.
        let own = try conn.query("""
            SELECT c.relname, c.relkind::text FROM pg_class c WHERE c.relnamespace = \(JobSchema.sqlLiteral(prefix))::regnamespace
              AND c.relname NOT LIKE 'oban%' ORDER BY c.relname
            """).rows.map { "\($0[0]!) \($0[1]!)" }
        #expect(own == ["met_leases r", "met_leases_pkey i", "met_oban_jobs_state_queue_index i", "met_snapshots r", "met_snapshots_pkey i"])
        let valid = try conn.query("SELECT indisvalid FROM pg_index WHERE indexrelid = '\(p).met_oban_jobs_state_queue_index'::regclass")
        #expect(valid.rows == [["t"]])
    }

    @Test func anEmptySchemaGetsObansVersion14() throws {
        let reference = prefix + "_ref"
        defer { drop(reference) }
        try conn.applySchema(prefix: prefix)
        try migrateLikeOban(reference)
        try conn.applySchema(prefix: reference)
        #expect(try ObanCatalog(conn, prefix: prefix).renamed(from: prefix) == ObanCatalog(conn, prefix: reference).renamed(from: reference))
        #expect(try !conn.schemaPlan(prefix: prefix).hasChanges)
    }

    @Test func keyframeCountsEqualGroupByBelowTheLimit() throws {
        defer { drop() }
        try migrateLikeOban()
        try conn.applySchema(prefix: prefix)
        var expected: [String: Int64] = [:]
        for (i, state) in ObanMigrationSQL.stateLabels.enumerated() {
            for (k, queue) in ["default", "mailers", "a-queue-name-that-sorts-first"].enumerated() where (i + k) % 3 != 2 {
                let n = 1 + (i * 7 + k * 5) % 13
                _ = try conn.query("""
                    INSERT INTO \(p).oban_jobs (state, queue, worker, args, meta, tags, max_attempts, priority, scheduled_at)
                    SELECT $1::\(p).oban_job_state, $2, 'MyApp.Worker', jsonb_build_object('n', g), '{}', '{}', 20, g % 4,
                           timezone('UTC', now()) FROM generate_series(1, $3::int) g
                    """, [state, queue, String(n)])
                expected["\(state) \(queue)"] = Int64(n)
            }
        }
        let counts = try conn.jobCounts(prefix: prefix, estimateLimit: 1_000)
        #expect(Set(counts) == Set(try conn.exactJobCounts(prefix: prefix)))
        #expect(Dictionary(uniqueKeysWithValues: counts.map { ("\($0.state) \($0.queue)", $0.count) }) == expected)
        #expect(counts.allSatisfy { !$0.estimated })
        _ = try conn.query("ANALYZE \(p).oban_jobs")
        #expect(Set(try conn.jobCounts(prefix: prefix, estimateLimit: 1_000)) == Set(try conn.exactJobCounts(prefix: prefix)))
    }

    @Test func anIndexLeftInvalidByAnInterruptedBuildIsBuiltAgain() throws {
        defer { drop() }
        try migrateLikeOban()
        _ = try conn.query("INSERT INTO \(p).oban_jobs (queue, worker, args) VALUES ('q', 'W', '{}'), ('q', 'W', '{}')")
        // A concurrent build that fails (here: duplicates under UNIQUE) leaves an INVALID index behind.
        #expect(throws: PostgresError.self) {
            _ = try conn.query("CREATE UNIQUE INDEX CONCURRENTLY \(JobSchema.indexName) ON \(p).oban_jobs (state, queue)")
        }
        let invalid = try #require(try conn.schemaPlan(prefix: prefix).items.first { $0.kind == .index })
        #expect(invalid.action == .rebuild && invalid.line(applied: false).contains("INVALID"))
        try conn.applySchema(prefix: prefix)
        let index = try conn.query("SELECT indisvalid, indisunique FROM pg_index WHERE indexrelid = '\(p).\(JobSchema.indexName)'::regclass")
        #expect(index.rows == [["t", "f"]])
        #expect(try !conn.schemaPlan(prefix: prefix).hasChanges)
    }

    @Test func anOlderFunctionOrStatisticsTargetIsBroughtUpToDate() throws {
        defer { drop() }
        try migrateLikeOban()
        try conn.applySchema(prefix: prefix)
        _ = try conn.query("""
            CREATE OR REPLACE FUNCTION \(p).met_job_counts(estimate_limit bigint)
            RETURNS TABLE(job_state text, job_queue text, job_count bigint, is_estimate boolean) LANGUAGE plpgsql AS $fn$ BEGIN END $fn$
            """)
        _ = try conn.query("ALTER STATISTICS \(p).\(JobSchema.statisticsName) SET STATISTICS 100")
        let plan = try conn.schemaPlan(prefix: prefix)
        #expect(plan.items.filter { $0.action != .none }.map(\.action) == [.retarget, .replace])
        try conn.applySchema(prefix: prefix)
        #expect(try !conn.schemaPlan(prefix: prefix).hasChanges)
    }

    /// The index is built CONCURRENTLY: while its build waits for an open transaction, other
    /// sessions still insert (a plain CREATE INDEX would hold them until it finished). In a
    /// database of its own: a concurrent build waits for every older transaction of its database,
    /// so the transaction this test holds open would hold up the other tests' `met schema` runs.
    @Test(.timeLimit(.minutes(1)))
    func buildingTheIndexNeverBlocksWrites() async throws {
        let shared = try #require(databaseURL)
        let database = "met_ix_\(UInt32.random(in: 0...UInt32.max))"
        _ = try conn.query("CREATE DATABASE \(database)")
        defer { _ = try? conn.query("DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
        var components = try #require(URLComponents(string: shared))
        components.path = "/\(database)"
        let url = try #require(components.string)
        let conn = try PostgresConnection(connectionString: url)
        let (prefix, p) = (self.prefix, self.p)
        _ = try conn.query("CREATE SCHEMA \(p)")
        _ = try conn.query("BEGIN")
        for statement in ObanMigrationSQL.statements(prefix: prefix) { _ = try conn.query(statement) }
        _ = try conn.query("COMMIT")
        _ = try conn.query("BEGIN")
        _ = try conn.query("INSERT INTO \(p).oban_jobs (queue, worker, args) VALUES ('q', 'W', '{}')")
        let schema = Task.detached { () throws -> SchemaPlan in
            let other = try PostgresConnection(connectionString: url)
            _ = try other.query("SET application_name = 'met-schema-\(prefix)'")
            return try other.applySchema(prefix: prefix)
        }
        let writer = try PostgresConnection(connectionString: url)
        try await waitUntil("met schema is building the index, waiting for the open transaction") {
            try writer.query("""
                SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'CREATE INDEX%' AND wait_event_type = 'Lock'
                """, ["met-schema-\(prefix)"]).count == 1
        }
        _ = try writer.query("SET lock_timeout = '2s'")
        _ = try writer.query("INSERT INTO \(p).oban_jobs (queue, worker, args) VALUES ('q', 'W', '{}')")
        _ = try writer.query("UPDATE \(p).oban_jobs SET state = 'completed' WHERE queue = 'q'")
        _ = try conn.query("COMMIT")
        let plan = try await schema.value
        #expect(plan.items.first { $0.kind == .index }?.action == .create)
        #expect(try conn.query("SELECT indisvalid FROM pg_index WHERE indexrelid = '\(p).\(JobSchema.indexName)'::regclass").rows == [["t"]])
        writer.close()
        conn.close()
    }
}

/// Polls `condition` every 20 ms until it holds, failing after `seconds`.
func waitUntil(_ what: String, within seconds: Double = 20, _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out after \(seconds) s waiting for: \(what)")
    throw CancellationError()
}

/// Oban's objects in one schema as the catalogs describe them, ObanMet's (`met_*`) left out.
struct ObanCatalog: Equatable {
    var columns: [String] = []
    var indexes: [String] = []
    var constraints: [String] = []
    var enumLabels: [String] = []
    var comment: String?
    var peersPersistence: String?
    var triggers: [String] = []
    /// The objects' oids and the table's file: the same only if nothing was made again or rewritten.
    var identity: [String] = []

    init(_ conn: PostgresConnection, prefix: String) throws {
        let s = JobSchema.sqlLiteral(prefix)
        func lines(_ sql: String) throws -> [String] {
            try conn.query(sql).rows.map { $0.map { $0 ?? "NULL" }.joined(separator: " ") }
        }
        columns = try lines("""
            SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default FROM information_schema.columns
            WHERE table_schema = \(s) AND table_name IN ('oban_jobs', 'oban_peers') ORDER BY table_name, ordinal_position
            """)
        indexes = try lines("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = \(s) AND indexname NOT LIKE 'met\\_%' ORDER BY indexname")
        constraints = try lines("""
            SELECT r.relname, k.conname, pg_get_constraintdef(k.oid), k.convalidated FROM pg_constraint k JOIN pg_class r ON r.oid = k.conrelid
            WHERE r.oid IN (to_regclass(format('%I.oban_jobs', \(s))), to_regclass(format('%I.oban_peers', \(s)))) ORDER BY k.conname
            """)
        enumLabels = try lines("SELECT enumlabel FROM pg_enum WHERE enumtypid = to_regtype(format('%I.oban_job_state', \(s))) ORDER BY enumsortorder")
        comment = try conn.query("SELECT obj_description(to_regclass(format('%I.oban_jobs', \(s))), 'pg_class')").rows.first?.first ?? nil
        peersPersistence = try conn.query("SELECT relpersistence::text FROM pg_class WHERE oid = to_regclass(format('%I.oban_peers', \(s)))").rows.first?.first ?? nil
        triggers = try lines("SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(format('%I.oban_jobs', \(s))) AND NOT tgisinternal")
        identity = try lines("""
            SELECT c.relname, c.oid::text, c.relfilenode::text FROM pg_class c
            WHERE c.relnamespace = \(s)::regnamespace AND c.relname LIKE 'oban%' ORDER BY c.relname
            """) + lines("SELECT conname, oid::text FROM pg_constraint WHERE connamespace = \(s)::regnamespace AND conname NOT LIKE 'met%' ORDER BY conname")
    }

    static func == (a: Self, b: Self) -> Bool {  // identity is compared on its own
        (a.columns, a.indexes, a.constraints, a.enumLabels) == (b.columns, b.indexes, b.constraints, b.enumLabels)
            && (a.comment, a.peersPersistence, a.triggers) == (b.comment, b.peersPersistence, b.triggers)
    }

    /// The same description with the schema's name taken out (it appears in index definitions).
    func renamed(from prefix: String) -> Self {
        var c = self
        c.indexes = indexes.map { $0.replacingOccurrences(of: prefix, with: "PREFIX") }
        c.columns = columns.map { $0.replacingOccurrences(of: prefix, with: "PREFIX") }
        c.identity = []
        return c
    }
}
