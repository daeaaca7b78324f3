import Foundation
import MetPostgres
import Testing

/// `full_count` between keyframes through real `met node` / `met worker` processes (DESIGN §5,
/// docs/full-count.md): a worker that records its moves with transaction ids, and another
/// connection that inserts, moves and deletes jobs with plain SQL and records nothing, as another
/// application on the same database would. Keyframes are 5 s apart in logical mode (the leader
/// holds its snapshot open that long; a longer hold would make every other test's `CREATE INDEX
/// CONCURRENTLY` wait for it) and 60 s in snapshots mode, so the deltas between them must keep the
/// counts right: while jobs move every node stays within about a second of movement of `GROUP BY`,
/// and once they stop every node equals it within a broadcast interval.
@Suite(
    .reapsProcesses,
    .serialized,
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set: run scripts/test")
)
struct FullCountClusterTests {
    typealias Counts = [String: Double]  // state → jobs, over every queue

    /// The test's own SQL producer: a connection that records nothing.
    struct Producer {
        let conn: PostgresConnection
        let setup: KeyframeClusterTests.Setup
        var schema: String { JobSchema.identifier(setup.prefix) }

        /// One round: inserts; in logical mode also moves and deletes of any job, in snapshots
        /// mode only of jobs it inserted since `above` (older ones wait for the next keyframe there).
        func round(_ i: Int, above: Int64?) throws {
            try setup.insert(4, queue: i % 2 == 0 ? "q0" : "q1")
            let scope = above.map { "id > \($0) AND " } ?? ""
            // An hour ahead, so the worker's stager leaves them scheduled.
            _ = try conn.query("UPDATE \(setup.table) SET state = 'scheduled', scheduled_at = timezone('UTC', now()) + interval '1 hour' WHERE id IN (SELECT id FROM \(setup.table) WHERE \(scope)state = 'available' ORDER BY id DESC LIMIT 2)")
            _ = try conn.query("UPDATE \(setup.table) SET state = 'cancelled' WHERE id IN (SELECT id FROM \(setup.table) WHERE \(scope)state = 'scheduled' ORDER BY id LIMIT 1)")
            if i % 3 == 0 {
                _ = try conn.query("DELETE FROM \(setup.table) WHERE id IN (SELECT id FROM \(setup.table) WHERE \(scope)state = 'cancelled' ORDER BY id LIMIT 1)")
            }
        }
    }

    /// `GROUP BY state` over every queue, every state present.
    static func truth(_ setup: KeyframeClusterTests.Setup) throws -> Counts {
        var out = Dictionary(uniqueKeysWithValues: JobSchema.states.map { ($0, 0.0) })
        for c in try setup.conn.exactJobCounts(prefix: setup.prefix) { out[c.state, default: 0] += Double(c.count) }
        return out
    }

    static func served(_ node: MetProcess) async -> Counts? { await node.latest("full_count", query: "group=state") }

    /// The whole scenario on `url`; returns the leader's mode as `/api/cluster` shows it.
    /// `failover`: the leader is killed (SIGKILL) 2 s into the movement, which goes on until the
    /// survivors follow a new term and 3 s more; the window is not checked across the failover.
    /// `broadcastInterval`: seconds between each node's batches.
    func scenario(url: String, mode: String, window: Duration, broadcastInterval: Int = 1, failover: Bool = false) async throws -> (status: [String: Any], cluster: String) {
        let setup = try KeyframeClusterTests.Setup(url: url)
        ProcessGroup.afterProcesses { setup.drop() }
        for q in KeyframeClusterTests.queues { try setup.insert(400, queue: q) }
        let keyframes = mode == "logical" ? "5" : "60"
        let args = setup.arguments + ["--keyframe-interval", keyframes, "--broadcast-interval", String(broadcastInterval)]  // the last value of an option wins
        let a = try await MetProcess(name: "a", arguments: args)
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress], arguments: args)
        let worker = try await MetProcess(name: "w", seeds: [a.meshAddress], arguments: args + [
            // No retries: a retryable job would be staged again after Oban's backoff, after the movement stopped.
            "--queues", "q0,q1", "--concurrency", "2", "--min-ms", "10", "--max-ms", "20", "--retryable-rate", "0", "--discard-rate", "0.05",
        ], command: "worker")
        var nodes = [a, b, worker]
        try await waitUntil("every node serves a keyframe") {
            for n in nodes where await Self.served(n) == nil { return false }
            return true
        }
        // A slot waits for the writes running in the whole instance (other tests'); until it is
        // made the leader counts by snapshots and tries again at later keyframes.
        var status: [String: Any] = [:]
        try await waitUntil("the leader counts in \(mode) mode", within: 60) {
            status = await a.cluster()?["fullCount"] as? [String: Any] ?? [:]
            return status["mode"] as? String == mode
        }
        let bound = mode == "snapshots" ? try setup.conn.query("SELECT max(id) FROM \(setup.table)").rows.first?.first.flatMap { $0.flatMap { Int64($0) } } : nil
        let producer = Producer(conn: try PostgresConnection(connectionString: url), setup: setup)

        // Movement: the worker, and the producer every 100 ms for 6 s; a sample every 250 ms.
        var history: [(at: ContinuousClock.Instant, truth: Counts)] = []
        var checked = 0, outside: [String] = []
        var samples = 0, lateSamples = 0
        let start = ContinuousClock.now
        var round = 0
        var nextSample = start
        var end = start + .seconds(6)
        var killed: (at: ContinuousClock.Instant, term: Int)?
        // 6 s of movement, longer if a loaded machine fitted too few samples in (up to 30 s). A
        // failover waits for its kill: after 2 s and enough samples before it (a loaded machine
        // may take longer to sample), at the latest after 20 s.
        let enough = failover ? 10 : 20
        func moving() -> Bool {
            if ContinuousClock.now < end { return true }
            guard killed == nil, ContinuousClock.now - start < .seconds(30) else { return false }
            return failover || checked <= enough
        }
        while moving() {
            let elapsed = ContinuousClock.now - start
            if failover, killed == nil, elapsed >= .seconds(2), checked > enough || elapsed >= .seconds(20) {
                let term = (await a.cluster()?["keyframe"] as? [String: Any])?["term"] as? Int ?? 0
                try await a.stop(SIGKILL)
                killed = (.now, term)
                nodes = [b, worker]
                end = .now + .seconds(60)  // until the survivors follow the next term
            }
            if let k = killed, end - ContinuousClock.now > .seconds(3) {
                var followed = true
                for n in nodes where ((await n.cluster()?["keyframe"] as? [String: Any])?["term"] as? Int ?? 0) <= k.term { followed = false }
                if followed { end = .now + .seconds(3) }
            }
            try producer.round(round, above: bound)
            round += 1
            if ContinuousClock.now >= nextSample {
                nextSample = ContinuousClock.now + .milliseconds(250)
                let truth = try Self.truth(setup)
                let sampled = ContinuousClock.now
                history.append((sampled, truth))
                guard ContinuousClock.now - start >= window else { continue }  // until the history covers a window
                guard killed == nil else { continue }  // no bound across the failover
                var answers: [(String, Counts)] = []
                for n in nodes { if let served = await Self.served(n) { answers.append((n.name, served)) } }
                let after = try Self.truth(setup)  // the nodes answered after `truth`, before `after`
                // A count that lags by up to `window` (or was read a moment after `truth`) lies
                // within what the truth moved over that time: from `window` before `truth` (the
                // earliest a node can have answered) to `after`, however long asking them took.
                let recent = history.filter { sampled - $0.at <= window + .milliseconds(250) }.map(\.truth) + [after]
                samples += 1
                let before = outside.count
                defer { if outside.count > before { lateSamples += 1 } }
                for (name, served) in answers {
                    for (state, t) in truth where t >= 100 {
                        let moved = recent.map { abs(($0[state] ?? 0) - t) }.max() ?? 0
                        checked += 1
                        let error = abs((served[state] ?? 0) - t)
                        if error > moved + 5 { outside.append("\(name) \(state): \(Int(served[state] ?? 0)) vs \(Int(t)) (moved \(Int(moved)))") }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(checked > enough)
        for line in outside { print("full_count (\(mode)) outside the window: \(line)") }
        // A loaded machine (the whole suite at once on 2 cores) may stall the leader's stream past
        // the window now and then: one sample in ten may lag (bench `full_count.*` measures the
        // error properly); the exact count once the movement stops is checked below.
        #expect(lateSamples <= max(1, samples / 10), "\(lateSamples) of \(samples) samples lag more than \(window) of movement: \(outside.prefix(20).joined(separator: "; "))")

        // The movement stops: the producer is done; the worker runs out of available jobs.
        try await waitUntil("the worker has taken every available job", within: 60) {
            try setup.conn.query("SELECT count(*) FROM \(setup.table) WHERE state IN ('available', 'executing')").rows.first?.first == "0"
        }
        let stopped = ContinuousClock.now  // at or after the movement stopped
        let truth = try Self.truth(setup)
        #expect((truth["completed"] ?? 0) > 100 && (truth["cancelled"] ?? 0) > 0)
        // Timed by what the nodes served when asked, not by how long asking three of them took.
        let observed = try await waitUntil("every node serves GROUP BY", within: 30) {
            for n in nodes where await Self.served(n) != truth { return false }
            return true
        }
        let late = observed.late(after: stopped)
        print("full_count (\(mode)): every node equal to GROUP BY within \(ContinuousClock.now - stopped) after the movement stopped (a node last seen otherwise \(late) after); \(outside.count) of \(checked) samples outside the window")
        #expect(late <= .seconds(2), "a delta interval (0.25 s) or a broadcast interval (1 s), with slack: a node still served another count \(late) after the movement stopped")
        await ClusterTests.stopAll(nodes)
        return (status, setup.cluster)
    }

    @Test(.timeLimit(.minutes(3)))
    func inLogicalModeEveryNodeFollowsTheTableWhoeverMovesTheJobs() async throws {
        let url = try #require(databaseURL)
        let level = try PostgresConnection(connectionString: url).query("SHOW wal_level").rows.first?.first ?? nil
        try #require(level == "logical", "scripts/test runs Postgres with wal_level = logical; this one has \(level ?? "?")")
        let (_, cluster) = try await scenario(url: url, mode: "logical", window: .seconds(1))
        // The leader's temporary slot went with its session: nothing is left holding WAL.
        let conn = try PostgresConnection(connectionString: url)
        try await waitUntil("no replication slot of the test's nodes is left") {
            try conn.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE $1", ["met_\(cluster)_%"]).rows.first?.first == "0"
        }
    }

    /// A failover while jobs move: the new leader (a new term, a slot of its own) starts from a
    /// keyframe of its own; nothing is lost or counted twice across it.
    @Test(.timeLimit(.minutes(3)))
    func aFailoverWhileJobsMoveNeitherLosesNorDoublesAChange() async throws {
        let url = try #require(databaseURL)
        let level = try PostgresConnection(connectionString: url).query("SHOW wal_level").rows.first?.first ?? nil
        try #require(level == "logical", "scripts/test runs Postgres with wal_level = logical; this one has \(level ?? "?")")
        _ = try await scenario(url: url, mode: "logical", window: .seconds(1), failover: true)
    }

    @Test(.timeLimit(.minutes(3)))
    func withoutLogicalDecodingTheCountsFallBackToSnapshotsAndSaySo() async throws {
        let pg = try ThrowawayPostgres()  // wal_level = replica, the default
        ProcessGroup.afterProcesses { pg.destroy() }
        // Batches 3 s apart: the worker's moves go ahead of them every delta interval (0.25 s),
        // so the counts keep within 1.5 s of movement (they lagged by a batch interval before).
        let (status, _) = try await scenario(url: pg.url, mode: "snapshots", window: .milliseconds(1500), broadcastInterval: 3)
        #expect((status["note"] as? String)?.contains("wal_level") == true, "\(status)")
    }
}
