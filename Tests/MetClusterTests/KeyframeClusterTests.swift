import Foundation
import MetPostgres
import Testing

/// Keyframes through real `met node` / `met worker` processes and a real Postgres (DESIGN §5,
/// RELIABILITY L1–L8, F2, F11 CI tier). Each test has its own schema (`--prefix`) and cluster
/// name, so its lease and jobs are its own. Timings are compressed: keyframes every 1 s, a 3 s lease.
@Suite(
    .serialized,
    .reapsProcesses,
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set: run scripts/test")
)
struct KeyframeClusterTests {
    static let queues = ["q0", "q1"]

    struct Setup: @unchecked Sendable {  // `conn` is used by one test at a time: its body, then its cleanup after every process exited.
        let url: String
        let prefix = "kf_\(UInt32.random(in: 0...UInt32.max))"
        let cluster = "kf\(UInt32.random(in: 0...UInt32.max))"
        let conn: PostgresConnection

        init(url: String) throws {
            self.url = url
            conn = try PostgresConnection(connectionString: url)
            try conn.applySchema(prefix: prefix)
        }

        var arguments: [String] {
            ["--database", url, "--prefix", prefix, "--cluster", cluster, "--keyframe-interval", "1", "--lease-duration", "3"]
        }

        var table: String { "\(JobSchema.identifier(prefix)).oban_jobs" }

        func insert(_ n: Int, queue: String, state: String = "available") throws {
            _ = try conn.query("INSERT INTO \(table) (queue, worker, state) SELECT $1, 'W', $2::\(JobSchema.identifier(prefix)).oban_job_state FROM generate_series(1, $3::int)",
                               [queue, state, String(n)])
        }

        /// The exact `GROUP BY` count: queue → state → count, every state present.
        func exact() throws -> [String: [String: Double]] {
            var out: [String: [String: Double]] = [:]
            for q in KeyframeClusterTests.queues { out[q] = Dictionary(uniqueKeysWithValues: JobSchema.states.map { ($0, 0.0) }) }
            for c in try conn.exactJobCounts(prefix: prefix) { out[c.queue, default: [:]][c.state] = Double(c.count) }
            return out
        }

        func drop() {
            _ = try? conn.query("DROP SCHEMA \(JobSchema.identifier(prefix)) CASCADE")
            _ = try? conn.query("DROP PUBLICATION IF EXISTS \(JobSchema.identifier(JobSchema.publicationName(prefix: prefix)))")
        }
    }

    /// What a node serves as full_count: queue → state → count.
    static func served(_ node: MetProcess) async -> [String: [String: Double]]? {
        var out: [String: [String: Double]] = [:]
        for q in queues {
            guard let counts = await node.latest("full_count", query: "group=state&filter=queue:\(q)") else { return nil }
            out[q] = counts
        }
        return out
    }

    static func cluster(_ node: MetProcess) async -> [String: Any] { await node.cluster() ?? [:] }

    static func leader(_ node: MetProcess) async -> (name: String, term: Int)? {
        guard let l = await cluster(node)["leadership"] as? [String: Any], let name = l["leader"] as? String, let term = l["term"] as? Int else { return nil }
        return (name, term)
    }

    /// Nodes a, b and c of the setup's cluster, b and c seeded with a.
    static func startThree(_ setup: Setup) async throws -> [MetProcess] {
        let a = try await MetProcess(name: "a", arguments: setup.arguments)
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress], arguments: setup.arguments)
        let c = try await MetProcess(name: "c", seeds: [a.meshAddress], arguments: setup.arguments)
        return [a, b, c]
    }

    /// Waits until every node names the same leader and term, and returns them.
    static func agreedLeader(_ nodes: [MetProcess]) async throws -> (name: String, term: Int) {
        var agreed: (name: String, term: Int)?
        try await waitUntil("one leader known everywhere") {
            var views: [(name: String, term: Int)?] = []
            for n in nodes { views.append(await leader(n)) }
            guard let first = views[0], views.allSatisfy({ $0?.name == first.name && $0?.term == first.term }) else { return false }
            agreed = first
            return true
        }
        return try #require(agreed)
    }

    @Test(.timeLimit(.minutes(4)))
    func fullCountOnEveryNodeEqualsTheExactCountOnceActivityStops() async throws {
        let setup = try Setup(url: try #require(databaseURL))
        ProcessGroup.afterProcesses { setup.drop() }
        for q in Self.queues { try setup.insert(150, queue: q) }
        let a = try await MetProcess(name: "a", arguments: setup.arguments)
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress], arguments: setup.arguments)
        let worker = try await MetProcess(name: "w", seeds: [a.meshAddress], arguments: setup.arguments + [
            // No retries: Oban's backoff would stage them again (16 s on) while the counts are compared.
            "--queues", Self.queues.joined(separator: ","), "--concurrency", "3", "--min-ms", "1", "--max-ms", "4", "--retryable-rate", "0",
        ], command: "worker")
        let nodes = [a, b, worker]
        // Real SQL moves jobs too, beside the worker: some scheduled, some cancelled, more inserted.
        _ = try setup.conn.query("UPDATE \(setup.table) SET state = 'scheduled' WHERE id % 7 = 0 AND state = 'available'")
        try setup.insert(40, queue: "q1")
        _ = try setup.conn.query("UPDATE \(setup.table) SET state = 'cancelled' WHERE id % 11 = 0 AND state = 'available'")
        try await waitUntil("the worker has taken every available job", within: 60) {
            let left = try setup.conn.query("SELECT count(*) FROM \(setup.table) WHERE state IN ('available', 'executing')")
            return left.rows.first?.first == "0"
        }
        // The worker may still stage a scheduled job (its scheduled_at is past) and run it: the
        // truth is read again at every poll, and the nodes must meet it.
        do {
            try await waitUntil("every node serves the exact count", within: 30) {
                let truth = try setup.exact()
                for n in nodes where await Self.served(n) != truth { return false }
                return true
            }
        } catch {
            let truth = try setup.exact()
            for n in nodes { print("\(n.name) serves \(await Self.served(n).map { "\($0)" } ?? "nothing"); exact \(truth)") }
            print("a's log: \(a.log.suffix(6000))")
            throw error
        }
        let exact = try setup.exact()
        #expect(exact["q0"]?["completed"] ?? 0 > 0)
        // One leader, the same on every node, and its history of full_count is queryable.
        let leaders = await [Self.leader(a), Self.leader(b), Self.leader(worker)].map { $0?.name }
        #expect(Set(leaders).count == 1 && leaders[0] != nil, "\(leaders)")
        try await waitUntil("full_count's history reaches the timeslice") {
            let (status, body) = try await b.get("/api/timeslice/full_count?by=1&lookback=60&filter=queue:q0&filter=state:completed")
            guard status == 200, let rows = try JSONSerialization.jsonObject(with: body) as? [[String: Any]] else { return false }
            return rows.contains { ($0["value"] as? Double) == exact["q0"]?["completed"] }
        }
    }

    @Test(.timeLimit(.minutes(4)))
    func killingTheLeaderMovesLeadershipToANewTermAndCountsKeepFlowing() async throws {
        let setup = try Setup(url: try #require(databaseURL))
        ProcessGroup.afterProcesses { setup.drop() }
        try setup.insert(10, queue: "q0")
        let nodes = try await Self.startThree(setup)
        let old = try await Self.agreedLeader(nodes)
        let leaderNode = try #require(nodes.first { $0.name == old.name })
        let survivors = nodes.filter { $0 !== leaderNode }
        try await leaderNode.stop(SIGKILL)
        let killed = ContinuousClock.now  // at or after the leader's exit
        // Timed by what the survivors showed when asked, not by how long asking them took.
        let followed = try await waitUntil("a new leader with the next term on the survivors", within: 30) {
            for n in survivors {
                guard let l = await Self.leader(n), l.name != old.name, l.term == old.term + 1 else { return false }
            }
            return true
        }
        let late = followed.late(after: killed)
        #expect(late < .seconds(3 + 1 + 2), "RELIABILITY L2: lease (3 s) + keyframe interval (1 s), with slack; a survivor still showed the old term \(late) after the kill")
        // RELIABILITY O1: the change is logged with the old and the new term.
        let change = "term \(old.term + 1) (before: \(old.name), term \(old.term))"
        try await waitUntil("the new leader logs the change of term") {
            survivors.contains { $0.log.contains("leading cluster") && $0.log.contains(change) }
        }
        try setup.insert(25, queue: "q1")
        let exact = try setup.exact()
        try await waitUntil("the survivors count the new jobs", within: 30) {
            for n in survivors where await Self.served(n) != exact { return false }
            return true
        }
    }

    /// RELIABILITY L3: a leader that stops gracefully releases its lease; another node takes
    /// over at its next lease attempt, well within a lease.
    @Test(.timeLimit(.minutes(4)))
    func aGracefulLeaderStopHandsLeadershipOnAtOnce() async throws {
        let setup = try Setup(url: try #require(databaseURL))
        ProcessGroup.afterProcesses { setup.drop() }
        let nodes = try await Self.startThree(setup)
        let old = try await Self.agreedLeader(nodes)
        let leaderNode = try #require(nodes.first { $0.name == old.name })
        try await leaderNode.stop(SIGTERM)
        #expect(leaderNode.process.terminationStatus == 0)
        #expect(leaderNode.log.contains("released the keyframe lease"))
        let stopped = ContinuousClock.now  // at or after the leader's exit
        let survivors = nodes.filter { $0 !== leaderNode }
        let followed = try await waitUntil("the next term on the survivors", within: 30) {
            for n in survivors {
                guard let l = await Self.leader(n), l.name != old.name, l.term == old.term + 1 else { return false }
            }
            return true
        }
        let late = followed.late(after: stopped)
        #expect(late < .seconds(3), "lease/3 (1 s) for the next attempt, with slack; a lease is 3 s; a survivor still showed the old term \(late) after the stop")
    }

    /// RELIABILITY L1 and L5: a leader frozen (SIGSTOP) past its lease is replaced under the next
    /// term; when it resumes it fences itself, and no keyframe of the old term is ever applied.
    @Test(.timeLimit(.minutes(4)))
    func aFrozenLeaderIsReplacedAndFencesItselfWhenItResumes() async throws {
        let setup = try Setup(url: try #require(databaseURL))
        ProcessGroup.afterProcesses { setup.drop() }
        try setup.insert(8, queue: "q0")
        let nodes = try await Self.startThree(setup)
        let old = try await Self.agreedLeader(nodes)
        try await waitUntil("its keyframes everywhere") {
            for n in nodes where await Self.served(n)?["q0"]?["available"] != 8 { return false }
            return true
        }
        let frozen = try #require(nodes.first { $0.name == old.name })
        let others = nodes.filter { $0 !== frozen }
        kill(frozen.process.processIdentifier, SIGSTOP)
        defer { kill(frozen.process.processIdentifier, SIGCONT) }
        // The others elect the next term and serve its first keyframe (on a loaded machine that
        // keyframe may come a while after the election).
        try await waitUntil("the next term's keyframes elsewhere", within: 20) {
            for n in others {
                guard let l = await Self.leader(n), l.term == old.term + 1,
                      let kf = await Self.cluster(n)["keyframe"] as? [String: Any], kf["term"] as? Int == old.term + 1 else { return false }
            }
            return true
        }
        kill(frozen.process.processIdentifier, SIGCONT)
        try await waitUntil("the resumed node fenced itself", within: 30) { frozen.log.contains("stopped issuing keyframes (fenced)") }
        // From here on the others serve keyframes of the new term only (nothing of the old term
        // reaches them), and the resumed node moves on to the new term too.
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline {
            for n in others {
                if let kf = await Self.cluster(n)["keyframe"] as? [String: Any], let term = kf["term"] as? Int {
                    #expect(term >= old.term + 1, "\(n.name) serves a keyframe of term \(term)")
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        try await waitUntil("the resumed node serves the new term") {
            let term = (await Self.cluster(frozen)["keyframe"] as? [String: Any])?["term"] as? Int
            return term == old.term + 1
        }
        try setup.insert(2, queue: "q0")
        try await waitUntil("counts flow under the new term", within: 30) {
            for n in nodes where await Self.served(n)?["q0"]?["available"] != 10 { return false }
            return true
        }
    }

    /// DESIGN §6: the last node to stop writes its store to Postgres, and a cluster started
    /// again from nothing loads it: its history is preserved.
    @Test(.timeLimit(.minutes(4)))
    func aWholeClusterStopAndStartKeepsItsHistoryThroughPostgres() async throws {
        let setup = try Setup(url: try #require(databaseURL))
        ProcessGroup.afterProcesses { setup.drop() }
        let a = try await MetProcess(name: "a", arguments: setup.arguments)
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress], arguments: setup.arguments)
        var nodes = [a, b]
        try await ClusterTests.post(to: a, inserted: 20, jobs: 3)
        try await ClusterTests.post(to: b, inserted: 7)
        try await waitUntil("both hold everything") {
            let ta = await ClusterTests.total(a), tb = await ClusterTests.total(b)
            return ta == 27 && tb == 27
        }
        try await b.stop(SIGTERM)
        try await waitUntil("a sees b gone") { await a.members("down").contains("b") }
        try await a.stop(SIGTERM)
        #expect(!b.log.contains("snapshot to Postgres"), "b handed off to a: no snapshot")
        #expect(b.log.contains("handoff to a done"))
        #expect(a.log.contains("no successor took the store: wrote this node's snapshot to Postgres"))
        let again = try await MetProcess(name: "a", arguments: setup.arguments)
        nodes.append(again)
        try await waitUntil("the restarted cluster serves the old history") {
            let total = await ClusterTests.total(again)
            let jobs = await again.latest("exec_time", query: "lookback=3600&op=count")?["all"]
            return total == 27 && jobs == 3
        }
        #expect(again.log.contains("loaded the snapshot a wrote to Postgres"))
    }

    /// F11 (CI tier) on a Postgres of the test's own: it dies (immediate stop) and comes back;
    /// no node restarts; events keep flowing exactly; one "unreachable" and one "reachable
    /// again" line per node; keyframes resume.
    @Test(.timeLimit(.minutes(4)))
    func aPostgresOutageIsRiddenOutAndKeyframesResume() async throws {
        let pg = try ThrowawayPostgres()
        ProcessGroup.afterProcesses { pg.destroy() }
        let setup = try Setup(url: pg.url)
        try setup.insert(12, queue: "q0")
        let a = try await MetProcess(name: "a", arguments: setup.arguments)
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress], arguments: setup.arguments)
        let nodes = [a, b]
        try await waitUntil("full_count served on both") {
            let sa = await Self.served(a), sb = await Self.served(b)
            return sa?["q0"]?["available"] == 12 && sb?["q0"]?["available"] == 12
        }
        setup.conn.close()
        try pg.stopImmediately()
        try await ClusterTests.post(to: a, inserted: 5)
        try await ClusterTests.post(to: b, inserted: 6)
        try await waitUntil("events still flow, exactly") {
            let ta = await ClusterTests.total(a), tb = await ClusterTests.total(b)
            return ta == 11 && tb == 11
        }
        try await waitUntil("both nodes noticed the outage") {
            a.log.contains("postgres unreachable") && b.log.contains("postgres unreachable")
        }
        // full_count keeps its last value, with its age.
        #expect(await Self.served(a)?["q0"]?["available"] == 12)
        let kf = await Self.cluster(a)["keyframe"] as? [String: Any]
        #expect(kf?["age"] as? Int != nil)
        try pg.start()
        let restarted = try PostgresConnection(connectionString: pg.url)
        _ = try restarted.query("INSERT INTO \(setup.table) (queue, worker) SELECT 'q0', 'W' FROM generate_series(1, 3)")
        try await waitUntil("keyframes resume with the new jobs", within: 30) {
            let sa = await Self.served(a), sb = await Self.served(b)
            return sa?["q0"]?["available"] == 15 && sb?["q0"]?["available"] == 15
        }
        // b follows a's counts at once; its own lease round notices Postgres a moment later.
        try await waitUntil("both nodes saw Postgres come back") {
            a.log.contains("postgres reachable again") && b.log.contains("postgres reachable again")
        }
        for n in nodes {
            let lines = n.log.split(separator: "\n")
            #expect(lines.filter { $0.contains("postgres unreachable") }.count == 1, "\(n.name): one line when it goes")
            #expect(lines.filter { $0.contains("postgres reachable again") }.count == 1, "\(n.name): one when it comes back")
            #expect(n.process.isRunning, "\(n.name) never restarted")
        }
    }
}
