import MetPostgres
import Testing

/// A keyframe's exact counts split across connections (``KeyframeCounter``) against the real
/// Postgres: every part sees the keyframe's snapshot, the result is `met_job_counts`'s, and a
/// helper that fails costs time, not exactness.
@Suite(
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set (see postgresIsConfigured)")
)
struct KeyframeCounterTests {
    let conn: PostgresConnection
    let url: String
    let prefix = "met_test_\(UInt32.random(in: 0...UInt32.max))"
    var table: String { "\(JobSchema.identifier(prefix)).oban_jobs" }

    init() throws {
        url = try #require(databaseURL)
        conn = try PostgresConnection(connectionString: url)
        try conn.applySchema(prefix: prefix)
    }

    func drop() {
        _ = try? conn.query("DROP SCHEMA \(JobSchema.identifier(prefix)) CASCADE")
        _ = try? conn.query("DROP PUBLICATION IF EXISTS \(JobSchema.identifier(JobSchema.publicationName(prefix: prefix)))")
    }

    func insert(_ n: Int, state: String, queue: String, on c: PostgresConnection? = nil) throws {
        _ = try (c ?? conn).query("INSERT INTO \(table) (state, queue, worker) SELECT $1::\(JobSchema.identifier(prefix)).oban_job_state, $2, 'W' FROM generate_series(1, $3::int)",
                                  [state, queue, String(n)])
    }

    /// Twelve groups of different sizes, one queue name with a quote, a backslash and a space.
    func fill() throws {
        let queues = ["default", "mailers", "we\"ird\\ q"]
        for (i, state) in ["available", "completed", "scheduled", "discarded"].enumerated() {
            for (k, queue) in queues.enumerated() { try insert(10 + 37 * i + 101 * k, state: state, queue: queue) }
        }
    }

    /// Another session changes every group while the keyframe's transaction is open: the
    /// counts of every connection are those of the keyframe's snapshot, not the newer ones.
    @Test func everyConnectionCountsUnderTheKeyframesSnapshot() throws {
        defer { drop() }
        try fill()
        let before = try conn.exactJobCounts(prefix: prefix)
        let counter = KeyframeCounter(database: url, applicationName: "met test counts", connections: 3)
        defer { counter.close() }
        _ = try conn.beginCount(prefix: prefix)
        let other = try PostgresConnection(connectionString: url)
        for c in before { try insert(7, state: c.state, queue: c.queue, on: other) }
        _ = try other.query("DELETE FROM \(table) WHERE id IN (SELECT id FROM \(table) WHERE state = 'completed' ORDER BY id LIMIT 20)")
        try insert(3, state: "suspended", queue: "new", on: other)
        let counted = try counter.count(on: conn, prefix: prefix, estimateLimit: 1_000_000)
        try conn.endCount()
        #expect(Set(counted) == Set(before), "the keyframe's snapshot")
        #expect(counter.lastSplit.count == 3 && counter.lastSplit.allSatisfy { $0 > 0 } && counter.lastSplit.reduce(0, +) == 12,
                "all three connections counted: \(counter.lastSplit)")
        #expect(counter.helperFailures == 0)
        // The next keyframe sees the changes.
        _ = try conn.beginCount(prefix: prefix)
        let after = try counter.count(on: conn, prefix: prefix, estimateLimit: 1_000_000)
        try conn.endCount()
        #expect(Set(after) == Set(try conn.exactJobCounts(prefix: prefix)) && after != before)
    }

    /// Big groups estimated, small ones counted: the same answer as `met_job_counts` under the
    /// same snapshot (one estimate, however many connections count).
    @Test func theSplitCountsAreMetJobCounts() throws {
        defer { drop() }
        try insert(20_000, state: "completed", queue: "default")
        try insert(8_000, state: "available", queue: "default")
        try fill()
        _ = try conn.query("ANALYZE \(table)")
        let counter = KeyframeCounter(database: url, applicationName: "met test counts", connections: 2)
        defer { counter.close() }
        _ = try conn.beginCount(prefix: prefix)
        let split = try counter.count(on: conn, prefix: prefix, estimateLimit: 5_000)
        let single = try conn.jobCounts(prefix: prefix, estimateLimit: 5_000)
        try conn.endCount()
        #expect(split == single)
        #expect(split.filter(\.estimated).map(\.queue) == ["default", "default"] && split.count == 12, "\(split)")
        // An empty table: nothing to count, no error.
        _ = try conn.query("TRUNCATE \(table)")
        _ = try conn.beginCount(prefix: prefix)
        #expect(try counter.count(on: conn, prefix: prefix, estimateLimit: 5_000).isEmpty)
        try conn.endCount()
        // One connection: met_job_counts itself (no limit here: the statistics still describe the
        // table before the TRUNCATE).
        let one = KeyframeCounter(database: url, applicationName: "met test counts", connections: 1)
        try fill()
        #expect(Set(try one.count(on: conn, prefix: prefix, estimateLimit: 1_000_000)) == Set(try conn.exactJobCounts(prefix: prefix)))
        #expect(one.lastSplit.isEmpty)
    }

    /// A helper's backend ends between keyframes (a restart, an admin's pg_terminate_backend):
    /// the next keyframe counts its part on the caller's connection, exactly, and the one after
    /// has a helper again.
    @Test func aHelperThatFailsIsReplacedAndItsGroupsCountedOnTheCallersConnection() throws {
        defer { drop() }
        try fill()
        let name = "met test \(prefix)"
        let counter = KeyframeCounter(database: url, applicationName: name, connections: 2)
        defer { counter.close() }
        _ = try conn.beginCount(prefix: prefix)
        _ = try counter.count(on: conn, prefix: prefix, estimateLimit: 1_000_000)
        try conn.endCount()
        let killed = try conn.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [name + " 2"])
        #expect(killed.rows.map { $0.first ?? nil } == ["t"], "the helper was connected")
        let before = try conn.exactJobCounts(prefix: prefix)
        _ = try conn.beginCount(prefix: prefix)
        try insert(5, state: "available", queue: "default", on: try PostgresConnection(connectionString: url))
        let counted = try counter.count(on: conn, prefix: prefix, estimateLimit: 1_000_000)
        try conn.endCount()
        #expect(Set(counted) == Set(before))
        #expect(counter.helperFailures == 1 && counter.lastHelperError != nil)
        _ = try conn.beginCount(prefix: prefix)
        #expect(Set(try counter.count(on: conn, prefix: prefix, estimateLimit: 1_000_000)) == Set(try conn.exactJobCounts(prefix: prefix)))
        try conn.endCount()
        #expect(counter.helperFailures == 1 && counter.lastSplit.count == 2 && counter.lastSplit[1] > 0, "reconnected: \(counter.lastSplit)")
    }

    /// In logical mode the keyframe's transaction runs under the snapshot a replication slot
    /// exported; the helpers adopt that same snapshot through the caller's transaction.
    @Test func helpersAdoptASnapshotImportedFromAReplicationSlot() throws {
        defer { drop() }
        guard try conn.logicalDecodingUnavailable(prefix: prefix) == nil else { return }  // wal_level is not logical here
        try fill()
        let before = try conn.exactJobCounts(prefix: prefix)
        let stream = try ReplicationStream(connectionString: url)
        defer { stream.close() }
        let exported = try stream.createTemporarySlot("met_test_counter_\(prefix.suffix(8))", waitingAtMost: 10_000)
        try insert(4, state: "completed", queue: "mailers")  // after the slot's snapshot
        _ = try conn.beginCount(prefix: prefix, importing: exported)
        let counter = KeyframeCounter(database: url, applicationName: "met test counts", connections: 2)
        defer { counter.close() }
        let counted = try counter.count(on: conn, prefix: prefix, estimateLimit: 1_000_000)
        try conn.endCount()
        #expect(Set(counted) == Set(before) && counter.lastSplit.allSatisfy { $0 > 0 })
    }

    @Test func groupsAreDealtByEstimatedSize() {
        #expect(KeyframeCounter.deal([100, 1, 60, 50, 0], into: 2) == [[0, 1, 4], [2, 3]])
        #expect(KeyframeCounter.deal([], into: 3) == [[], [], []])
        #expect(KeyframeCounter.deal([5, 5, 5], into: 3).map(\.count) == [1, 1, 1])
        #expect(PostgresConnection.textArray(["a", "b\"c", "d\\e", ""]) == #"{"a","b\"c","d\\e",""}"#)
    }
}
