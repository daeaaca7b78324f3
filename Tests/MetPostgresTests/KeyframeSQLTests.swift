import MetPostgres
import Testing

/// `met schema`, `met_job_counts` and the lease statement against the real Postgres, each test
/// in a schema of its own (the `prefix`), so they run side by side.
@Suite(
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set (see postgresIsConfigured)")
)
struct KeyframeSQLTests {
    let conn: PostgresConnection
    let prefix = "met_test_\(UInt32.random(in: 0...UInt32.max))"

    init() throws {
        conn = try PostgresConnection(connectionString: try #require(databaseURL))
        try conn.applySchema(prefix: prefix)
    }

    func drop() {
        _ = try? conn.query("DROP SCHEMA \(JobSchema.identifier(prefix)) CASCADE")
        _ = try? conn.query("DROP PUBLICATION IF EXISTS \(JobSchema.identifier(JobSchema.publicationName(prefix: prefix)))")
    }

    func insert(_ n: Int, state: String, queue: String) throws {
        _ = try conn.query("INSERT INTO \(JobSchema.identifier(prefix)).oban_jobs (state, queue, worker) SELECT $1::\(JobSchema.identifier(prefix)).oban_job_state, $2, 'W' FROM generate_series(1, $3::int)",
                           [state, queue, String(n)])
    }

    @Test func theSchemaIsIdempotentAndCountsAreExactBelowTheLimit() throws {
        defer { drop() }
        try conn.applySchema(prefix: prefix)  // again: nothing breaks
        #expect(try conn.jobCounts(prefix: prefix, estimateLimit: 10).isEmpty, "an empty table has no groups")
        try insert(30, state: "available", queue: "default")
        try insert(5, state: "completed", queue: "default")
        try insert(7, state: "available", queue: "mailers")
        try insert(1, state: "suspended", queue: "zzz")
        let counts = try conn.jobCounts(prefix: prefix, estimateLimit: 1_000)
        let exact = try conn.exactJobCounts(prefix: prefix)
        #expect(Set(counts) == Set(exact))
        #expect(exact.count == 4 && counts.allSatisfy { !$0.estimated })
    }

    @Test func bigGroupsAreEstimatedAfterAnalyzeWithinFivePercent() throws {
        defer { drop() }
        try insert(20_000, state: "completed", queue: "default")
        try insert(8_000, state: "available", queue: "default")
        try insert(40, state: "available", queue: "mailers")
        _ = try conn.query("ANALYZE \(JobSchema.identifier(prefix)).oban_jobs")
        let counts = try conn.jobCounts(prefix: prefix, estimateLimit: 1_000)
        let big = counts.filter(\.estimated)
        #expect(Set(big.map(\.queue)) == ["default"] && big.count == 2)
        for c in big {
            let truth: Int64 = c.state == "completed" ? 20_000 : 8_000
            #expect(abs(Double(c.count - truth)) / Double(truth) <= 0.05, "\(c)")
        }
        #expect(counts.contains(JobCount(state: "available", queue: "mailers", count: 40, estimated: false)))
    }

    /// The pruner deleted most of a group after the last ANALYZE: the table keeps its pages
    /// until a vacuum, so an estimate scaled by the table's size stays at the old total (here 5×
    /// the truth, over the limit) and a small group would be served as a big, wrong estimate.
    /// The live-row count of the statistics system follows the deletes, so the group is counted.
    @Test func aGroupThatShrankSinceAnalyzeIsCountedNotEstimatedFromDeadRows() throws {
        defer { drop() }
        let table = "\(JobSchema.identifier(prefix)).oban_jobs"
        _ = try conn.query("ALTER TABLE \(table) SET (autovacuum_enabled = false)")
        try insert(5_000, state: "completed", queue: "default")
        try waitForLiveRows(5_000)  // flushed before ANALYZE, so ANALYZE's own count is not added to later
        _ = try conn.query("ANALYZE \(table)")
        _ = try conn.query("DELETE FROM \(table) WHERE id IN (SELECT id FROM \(table) ORDER BY id LIMIT 4000)")
        try waitForLiveRows(1_000)
        let paged = (try conn.query("""
            SELECT c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::bigint)
            FROM pg_class c WHERE c.oid = '\(table)'::regclass
            """).rows.first?.first ?? nil).flatMap(Double.init)
        #expect((paged ?? 0) >= 3_000, "the scenario: a size-scaled estimate is over the limit (\(paged ?? -1))")
        let counts = try conn.jobCounts(prefix: prefix, estimateLimit: 3_000)
        #expect(counts == [JobCount(state: "completed", queue: "default", count: 1_000, estimated: false)])
    }

    /// Waits (up to 15 s) until the statistics system counts `n` live rows in the jobs table:
    /// a backend reports its row counts at most once a second.
    func waitForLiveRows(_ n: Int) throws {
        let deadline = ContinuousClock.now + .seconds(15)
        var seen = ""
        while ContinuousClock.now < deadline {
            let rows = try conn.query("SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = '\(JobSchema.identifier(prefix)).oban_jobs'::regclass").rows
            seen = (rows.first?.first ?? nil) ?? ""
            if seen == String(n) { return }
            _ = try conn.query("SELECT pg_sleep(0.05)")  // a poll interval
        }
        Issue.record("the statistics never counted \(n) live rows (last: \(seen))")
    }

    @Test func newJobsAreRecountedAboveTheKeyframesLargestId() throws {
        defer { drop() }
        try insert(5, state: "available", queue: "default")
        let start = try conn.beginCount(prefix: prefix)
        let counted = try conn.jobCounts(prefix: prefix, estimateLimit: 1_000)
        try conn.endCount()
        #expect(counted == [JobCount(state: "available", queue: "default", count: 5, estimated: false)])
        #expect(start.snapshot.split(separator: ":", omittingEmptySubsequences: false).count == 3, "\(start.snapshot)")
        try insert(3, state: "completed", queue: "default")
        try insert(1, state: "available", queue: "mailers")
        let (snapshot, above) = try conn.jobCounts(above: start.maxID, prefix: prefix)
        #expect(Set(above) == [JobCount(state: "completed", queue: "default", count: 3, estimated: false),
                               JobCount(state: "available", queue: "mailers", count: 1, estimated: false)])
        #expect(snapshot != start.snapshot)
        #expect(try conn.jobCounts(above: start.maxID + 4, prefix: prefix).counts.isEmpty)
    }

    @Test func theSchemaPublishesIdStateAndQueueOfItsJobsTable() throws {
        defer { drop() }
        let rows = try conn.query("SELECT pubname FROM pg_publication_tables WHERE schemaname = $1 AND tablename = 'oban_jobs'", [prefix])
        #expect(rows.rows.map { $0.first ?? nil } == [JobSchema.publicationName(prefix: prefix)])
        #expect(JobSchema.publicationName(prefix: "public") == "met_oban_jobs")
        #expect(JobSchema.publicationName(prefix: "Big \"Schema\"") != JobSchema.publicationName(prefix: "big__schema_"), "names never collide")
        #expect(JobSchema.publicationName(prefix: String(repeating: "x", count: 80)).utf8.count <= 63)
    }

    @Test func theLeaseHasOneHolderAndEveryNewHolderANewTerm() throws {
        defer { drop() }
        let other = try PostgresConnection(connectionString: try #require(databaseURL))
        let first = try #require(try conn.tryLease(name: "c", holder: "a", incarnation: 1, milliseconds: 60_000, prefix: prefix))
        #expect(first == LeaseHolder(term: 1, holder: "a", incarnation: 1, isCaller: true))
        // Another node sees a's lease and does not get it; a renews under the same term.
        #expect(try other.tryLease(name: "c", holder: "b", incarnation: 1, milliseconds: 60_000, prefix: prefix)
                == LeaseHolder(term: 1, holder: "a", incarnation: 1, isCaller: false))
        #expect(try conn.tryLease(name: "c", holder: "a", incarnation: 1, milliseconds: 60_000, prefix: prefix)?.term == 1)
        // A restarted a (new incarnation) is another holder: it waits like anyone else.
        #expect(try conn.tryLease(name: "c", holder: "a", incarnation: 2, milliseconds: 60_000, prefix: prefix)?.isCaller == false)
        // Released: the next node takes it with the next term.
        try conn.releaseLease(name: "c", holder: "a", incarnation: 1, prefix: prefix)
        #expect(try other.tryLease(name: "c", holder: "b", incarnation: 1, milliseconds: 1, prefix: prefix)
                == LeaseHolder(term: 2, holder: "b", incarnation: 1, isCaller: true))
        // Expired (1 ms, by Postgres's clock): taken over with term 3.
        _ = try conn.query("SELECT pg_sleep(0.01)")
        #expect(try conn.tryLease(name: "c", holder: "a", incarnation: 2, milliseconds: 60_000, prefix: prefix)
                == LeaseHolder(term: 3, holder: "a", incarnation: 2, isCaller: true))
        // The same holder taking its own lease back after it ran out (a Postgres outage longer
        // than the lease) starts a new term too: its keyframes numbered from 1 again win.
        #expect(try conn.tryLease(name: "c", holder: "a", incarnation: 2, milliseconds: 1, prefix: prefix)?.term == 3)
        _ = try conn.query("SELECT pg_sleep(0.01)")
        #expect(try conn.tryLease(name: "c", holder: "a", incarnation: 2, milliseconds: 60_000, prefix: prefix)
                == LeaseHolder(term: 4, holder: "a", incarnation: 2, isCaller: true))
        #expect(try conn.tryLease(name: "c", holder: "a", incarnation: 2, milliseconds: 60_000, prefix: prefix)?.term == 4, "a renewal keeps it")
        // Leases of other clusters are separate rows.
        #expect(try other.tryLease(name: "other", holder: "b", incarnation: 1, milliseconds: 60_000, prefix: prefix)?.term == 1)
    }

    @Test func aSnapshotTableKeyedTheOldWayIsMigratedBySchema() throws {
        defer { drop() }
        let table = "\(JobSchema.identifier(prefix)).met_snapshots"
        _ = try conn.query("ALTER TABLE \(table) DROP CONSTRAINT met_snapshots_pkey, ADD PRIMARY KEY (cluster, chunk)")
        // No `met schema` run in between: the write itself re-keys the table.
        try conn.writeSnapshot(cluster: "c", node: "a", chunks: [[1]], prefix: prefix)
        try conn.writeSnapshot(cluster: "c", node: "b", chunks: [[2]], prefix: prefix)  // chunk 0 again: fine per node
        #expect(try conn.readSnapshots(cluster: "c", maxAgeSeconds: 60, prefix: prefix).map(\.node) == ["a", "b"])
    }

    @Test func snapshotsRoundTripPerNodeAndStaleOnesAreIgnored() throws {
        defer { drop() }
        let chunks: [[UInt8]] = [[0, 1, 2, 255], [], Array(0...255), [0x5c, 0x78]]
        // The age (whole seconds, by Postgres's clock) is bracketed by the time the write and the
        // read took together: a loaded machine may take seconds over them.
        let start = ContinuousClock.now
        try conn.writeSnapshot(cluster: "c", node: "a", chunks: chunks, prefix: prefix)
        let read = try conn.readSnapshots(cluster: "c", maxAgeSeconds: 60, prefix: prefix)
        let took = ContinuousClock.now - start
        let maxAge = max(1, Int((Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18).rounded(.up)))
        #expect(read.map(\.node) == ["a"] && read.first?.chunks == chunks && (read.first?.age).map { $0 >= 0 && $0 <= maxAge } == true,
                "age \(String(describing: read.first?.age)), write and read took \(took)")
        #expect(try conn.readSnapshots(cluster: "other", maxAgeSeconds: 60, prefix: prefix).isEmpty)
        // Another node's snapshot sits beside it (a mass stop: each writes its own).
        try conn.writeSnapshot(cluster: "c", node: "b", chunks: [[7]], prefix: prefix)
        #expect(try conn.readSnapshots(cluster: "c", maxAgeSeconds: 60, prefix: prefix).map(\.chunks) == [chunks, [[7]]])
        // A node's new snapshot replaces its old one whole.
        try conn.writeSnapshot(cluster: "c", node: "a", count: 2, prefix: prefix) { [UInt8(9), UInt8($0)] }
        #expect(try conn.readSnapshots(cluster: "c", maxAgeSeconds: 60, prefix: prefix).map(\.chunks) == [[[9, 0], [9, 1]], [[7]]])
        // Older than the retention: ignored, and deleted by the next write.
        _ = try conn.query("UPDATE \(JobSchema.identifier(prefix)).met_snapshots SET taken_at = now() - interval '3 hours' WHERE node = 'a'")
        #expect(try conn.readSnapshots(cluster: "c", maxAgeSeconds: 9300, prefix: prefix).map(\.node) == ["b"])
        try conn.writeSnapshot(cluster: "c", node: "b", count: 1, prefix: prefix, forgetAfterSeconds: 9300) { _ in [8] }
        #expect(try conn.snapshotNodes(cluster: "c", maxAgeSeconds: 1_000_000, prefix: prefix).map(\.node) == ["b"])
        #expect(try conn.snapshotChunk(cluster: "c", node: "b", index: 0, prefix: prefix) == [8])
        #expect(try conn.snapshotChunk(cluster: "c", node: "a", index: 0, prefix: prefix) == nil)
    }
}
