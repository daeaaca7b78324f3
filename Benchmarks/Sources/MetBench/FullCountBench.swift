import Foundation
import MetPostgres

/// `full_count.*` (DESIGN §5, §8; docs/full-count.md), in real processes with a real Postgres:
/// nodes a (the leader) and b and a `met worker` w at the default intervals (keyframes every 5 s,
/// deltas every 0.25 s, batches every 1 s) over a 150,400-job `oban_jobs` (see `build`), while w
/// works jobs and a producer thread of the bench's own — plain SQL that records nothing —
/// inserts, moves, cancels and deletes jobs. Every 250 ms for 60 s, `GROUP BY state` against each
/// node's `full_count` by state.
///
/// - `full_count.p95_error_pct_moving`: p95 of |served − GROUP BY| / GROUP BY, per node and per
///   state with ≥ 100 jobs.
/// - `full_count.leader_pg_ms_per_s`: CPU time of the leader's Postgres backends (lease, counts,
///   WAL sender) per second of wall time, from /proc; peer: a connection that runs the exact
///   `GROUP BY state, queue` every second over the same 60 s (what Oban.Met does).
///
/// Then the same with `--count-mode snapshots` (`full_count.snapshots.*`): no replication slot.
enum FullCountBench {
    static let prefix = "bench_fullcount"
    static let queues = ["default", "mailers", "exports", "events"]
    static let seconds = 60.0
    /// Each queue's `available` jobs at the start; the producer keeps it there.
    static let availablePerQueue = 2_000

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    struct Figures {
        var errors: [Double] = []
        var leaderMsPerS = 0.0, peerMsPerS = 0.0
        var perBackend: [String: Double] = [:]
        var moved = 0.0
        var latencies: [Double] = []
        var mode = ""
    }

    static func run() {
        let env = ProcessInfo.processInfo.environment
        guard let binary = env["MET_BINARY"], let database = env["MET_BENCH_DATABASE_URL"] else {
            print("full_count.p95_error_pct_moving skipped: set MET_BINARY and MET_BENCH_DATABASE_URL (scripts/bench does)")
            return
        }
        let only = env["MET_BENCH_FULLCOUNT_MODE"]  // one mode only, when set (auto or snapshots)
        for (mode, name) in [("auto", "full_count"), ("snapshots", "full_count.snapshots")] where only == nil || only == mode {
            do {
                let f = try measure(binary: URL(fileURLWithPath: binary), database: database, countMode: mode)
                let e = f.errors.sorted()
                let l = f.latencies.sorted()
                func pct(_ v: [Double], _ p: Double) -> Double { v.isEmpty ? .nan : v[min(v.count - 1, Int(Double(v.count) * p))] }
                report("\(name).p95_error_pct_moving", pct(e, 0.95), "%",
                       note: "mode \(f.mode); p50 \(format(pct(e, 0.5))) %, max \(format(e.last ?? .nan)) %, \(e.count) node×state samples; \(format(f.moved)) jobs moved/s; latency commit→replica p50 \(format(pct(l, 0.5))) ms, p95 \(format(pct(l, 0.95))) ms (\(l.count) probes)")
                report("\(name).leader_pg_ms_per_s", f.leaderMsPerS, "ms/s", peer: f.peerMsPerS,
                       note: "leader backends' CPU (\(f.perBackend.sorted { $0.key < $1.key }.map { "\($0.key) \(format($0.value))" }.joined(separator: ", "))); peer = exact GROUP BY state, queue every second")
            } catch {
                print("\(name).p95_error_pct_moving failed: \(error)")
            }
        }
    }

    static func measure(binary: URL, database: String, countMode: String) throws -> Figures {
        let conn = try PostgresConnection(connectionString: database)
        defer { conn.close() }
        try build(conn)
        defer {
            _ = try? conn.query("DROP SCHEMA \(prefix) CASCADE")
            _ = try? conn.query("DROP PUBLICATION IF EXISTS \(JobSchema.publicationName(prefix: prefix))")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-fullcount-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var nodes: [ConvergenceBench.Node] = []
        let producer = Producer(database: database)
        defer {
            producer.stop()
            for n in nodes where n.process.isRunning { n.process.terminate() }
            for n in nodes { n.process.waitUntilExit() }
            if ProcessInfo.processInfo.environment["MET_BENCH_KEEP"] == nil { try? FileManager.default.removeItem(at: dir) }
        }
        let extra = ["--cluster", "fullcount-\(getpid())-\(countMode)", "--database", database, "--prefix", prefix, "--count-mode", countMode]
        let a = try ConvergenceBench.Node(name: "a", seeds: [], binary: binary, dir: dir, extra: extra)
        nodes.append(a)
        try a.ready()
        try waitFor("a's first keyframe") { served(a) != nil }
        let b = try ConvergenceBench.Node(name: "b", seeds: [a.mesh], binary: binary, dir: dir, extra: extra)
        nodes.append(b)
        let w = try ConvergenceBench.Node(name: "w", seeds: [a.mesh], binary: binary, dir: dir, extra: extra + [
            "--queues", queues.joined(separator: ","), "--concurrency", "2", "--min-ms", "10", "--max-ms", "20",
        ], command: "worker")
        nodes.append(w)
        for n in [b, w] { try n.ready() }
        try waitFor("every node serves full_count") { nodes.allSatisfy { served($0) != nil } }
        var figures = Figures()
        let cluster = (try? JSONSerialization.jsonObject(with: ConvergenceBench.call("http://\(a.http)/api/cluster").1) as? [String: Any]) ?? [:]
        figures.mode = (cluster["fullCount"] as? [String: Any])?["mode"] as? String ?? "?"
        guard (cluster["leadership"] as? [String: Any])?["leader"] as? String == "a" else { throw Failure(description: "a does not lead: \(cluster)") }

        producer.start()
        Thread.sleep(forTimeInterval: 2)  // a warm-up: the movement's rates settle before measuring
        let peer = try PostgresConnection(connectionString: database, applicationName: "met bench peer")
        defer { peer.close() }
        let leaderPids = try backends(conn, "met a %")
        let peerPid = try backends(conn, "met bench peer")
        let cpu0 = Dictionary(uniqueKeysWithValues: leaderPids.keys.map { ($0, cpuMs($0)) })
        let peer0 = Dictionary(uniqueKeysWithValues: peerPid.keys.map { ($0, cpuMs($0)) })
        let moved0 = producer.moved + recorded(a)
        let t0 = nanotime()
        // MET_BENCH_TRACE=PCT prints each sample off by more than PCT % (5 when not a number).
        let trace = ProcessInfo.processInfo.environment["MET_BENCH_TRACE"].map { Double($0) ?? 5 }
        var nextPeer = t0
        var next = t0
        while Double(nanotime() - t0) / 1e9 < seconds {
            if nanotime() >= nextPeer {
                _ = try peer.exactJobCounts(prefix: prefix)
                nextPeer += 1_000_000_000
            }
            let truth = try exact(conn)
            for n in nodes {
                guard let s = served(n) else { continue }
                for (state, t) in truth where t >= 100 {
                    let error = abs((s[state] ?? 0) - t) / t * 100
                    figures.errors.append(error)
                    if let trace, error > trace {
                        print("trace t=\(format(Double(nanotime() - t0) / 1e6)) ms node \(n.name) \(state) served \(s[state].map { format($0) } ?? "none") truth \(format(t)) (\(format(error)) %)")
                    }
                }
            }
            next += 250_000_000
            let now = nanotime()
            if next > now { usleep(UInt32((next - now) / 1000)) }
        }
        let wall = Double(nanotime() - t0) / 1e6
        figures.moved = (producer.moved + recorded(a) - moved0) / (wall / 1000)
        for (pid, ms) in cpu0 {
            let spent = cpuMs(pid) - ms
            figures.leaderMsPerS += spent / (wall / 1000)
            figures.perBackend[leaderPids[pid] ?? "?", default: 0] += spent / (wall / 1000)
        }
        for (pid, ms) in peer0 { figures.peerMsPerS += (cpuMs(pid) - ms) / (wall / 1000) }
        figures.latencies = try probe(conn, replica: b)
        return figures
    }

    /// Commit → replica latency: one job inserted into a queue of its own, then b is polled
    /// every 2 ms until its count of that queue moves; 20 probes, the movement going on.
    static func probe(_ conn: PostgresConnection, replica: ConvergenceBench.Node) throws -> [Double] {
        var out: [Double] = []
        for k in 1...20 {
            let t0 = nanotime()
            _ = try conn.query("INSERT INTO \(prefix).oban_jobs (queue, worker) VALUES ('probe', 'P')")
            while nanotime() - t0 < 10_000_000_000 {
                let (status, data) = ConvergenceBench.call("http://\(replica.http)/api/latest/full_count?filter=queue:probe")
                if status == 200, let v = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["all"] as? Double, v >= Double(k) {
                    out.append(Double(nanotime() - t0) / 1e6)
                    break
                }
                usleep(2_000)
            }
            usleep(UInt32.random(in: 100_000...400_000))
        }
        return out
    }

    /// The table: 4 queues; per queue 30,000 completed, 2,000 available, 2,000 scheduled,
    /// 1,000 cancelled, 1,000 discarded, 500 retryable, 100 suspended (150,400 jobs). Every
    /// group stays below the default `estimateLimit` (50,000), so keyframes count it exactly.
    static func build(_ conn: PostgresConnection) throws {
        _ = try conn.query("DROP SCHEMA IF EXISTS \(prefix) CASCADE")
        _ = try conn.query("DROP PUBLICATION IF EXISTS \(JobSchema.publicationName(prefix: prefix))")
        try conn.applySchema(prefix: prefix)
        let mix = [("completed", 30_000), ("available", availablePerQueue), ("scheduled", 2_000), ("cancelled", 1_000), ("discarded", 1_000),
                   ("retryable", 500), ("suspended", 100)]
        for queue in queues {
            for (state, n) in mix {
                _ = try conn.query("""
                    INSERT INTO \(prefix).oban_jobs (state, queue, worker, scheduled_at)
                    SELECT $1::\(prefix).oban_job_state, $2, 'Bench.Worker', timezone('UTC', now()) + (CASE WHEN $1 IN ('scheduled', 'retryable') THEN interval '1 hour' ELSE interval '0' END)
                    FROM generate_series(1, $3::int)
                    """, [state, queue, String(n)])
            }
        }
        // This backend reports its inserts to the statistics system when it next may (Postgres 15
        // defers it up to 10 s). Reported after the VACUUM that set the live rows, they would
        // count twice there, and the keyframes' estimates (live rows × frequency) would put each
        // `completed` group at twice its size, over the estimate limit, until the next ANALYZE.
        _ = try conn.query("SELECT pg_stat_force_next_flush()")
        _ = try conn.query("VACUUM ANALYZE \(prefix).oban_jobs")
    }

    /// Another application on the same database, recording nothing: every 50 ms, in one queue
    /// after the other, it inserts 8 jobs or as many as bring the queue's `available` back to
    /// `availablePerQueue` (up to 200), schedules 2 available ones, makes 1 scheduled one
    /// available, cancels 1 and deletes 1 completed one (pruning): 260 jobs/s and more.
    final class Producer: @unchecked Sendable {  // `stopping` and `count` are guarded by `lock`; the thread owns its connection.
        let database: String
        private let lock = NSLock()
        private var stopping = false, running = false, count = 0.0
        private let done = DispatchSemaphore(value: 0)

        init(database: String) { self.database = database }

        var moved: Double { lock.withLock { count } }

        func start() {
            lock.withLock { running = true }
            Thread.detachNewThread { [self] in
                defer { done.signal() }
                guard let conn = try? PostgresConnection(connectionString: database) else { return }
                var round = 0
                let t = "\(FullCountBench.prefix).oban_jobs"
                while !lock.withLock({ stopping }) {
                    let t0 = nanotime()
                    let queue = FullCountBench.queues[round % FullCountBench.queues.count]
                    // 8 jobs, and as many more as keep the queue's `available` at its starting
                    // level (what the worker took since this queue's last round): groups stay
                    // steady instead of draining towards the 100-job floor, where any count that
                    // arrives a few hundred milliseconds late is off by half (r·L/n).
                    let inserted = (try? conn.query("""
                        INSERT INTO \(t) (queue, worker)
                        SELECT $1, 'Other.Worker' FROM generate_series(1, (SELECT greatest(8, least(200, $2 - count(*)))::int FROM \(t) WHERE state = 'available' AND queue = $1))
                        RETURNING 1
                        """, [queue, String(FullCountBench.availablePerQueue)]).rows.count) ?? 0
                    _ = try? conn.query("UPDATE \(t) SET state = 'scheduled', scheduled_at = timezone('UTC', now()) + interval '1 hour' WHERE id IN (SELECT id FROM \(t) WHERE state = 'available' AND queue = $1 ORDER BY id DESC LIMIT 2 FOR UPDATE SKIP LOCKED)", [queue])
                    _ = try? conn.query("UPDATE \(t) SET state = 'available' WHERE id IN (SELECT id FROM \(t) WHERE state = 'scheduled' AND queue = $1 LIMIT 1 FOR UPDATE SKIP LOCKED)", [queue])
                    _ = try? conn.query("UPDATE \(t) SET state = 'cancelled' WHERE id IN (SELECT id FROM \(t) WHERE state = 'available' AND queue = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE SKIP LOCKED)", [queue])
                    _ = try? conn.query("DELETE FROM \(t) WHERE id IN (SELECT id FROM \(t) WHERE state = 'completed' AND queue = $1 LIMIT 1 FOR UPDATE SKIP LOCKED)", [queue])
                    round += 1
                    lock.withLock { count += Double(5 + inserted) }
                    let spent = nanotime() - t0
                    if spent < 50_000_000 { usleep(UInt32((50_000_000 - spent) / 1000)) }
                }
                conn.close()
            }
        }

        func stop() {
            let wasRunning = lock.withLock { () -> Bool in
                stopping = true
                return running
            }
            if wasRunning { done.wait() }
        }
    }

    static func served(_ node: ConvergenceBench.Node) -> [String: Double]? {
        let (status, data) = ConvergenceBench.call("http://\(node.http)/api/latest/full_count?group=state")
        guard status == 200, let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        var out: [String: Double] = [:]
        for (k, v) in json {
            guard let n = v as? Double ?? (v as? NSNumber)?.doubleValue else { return nil }  // null: no keyframe yet
            out[k] = n
        }
        return out
    }

    static func exact(_ conn: PostgresConnection) throws -> [String: Double] {
        var out: [String: Double] = [:]
        for row in try conn.query("SELECT state::text, count(*) FROM \(prefix).oban_jobs WHERE queue <> 'probe' GROUP BY 1").rows {
            out[row[0] ?? ""] = Double(row[1] ?? "0") ?? 0
        }
        return out
    }

    /// The worker's job moves so far (claims and ends), as its recorder counted them.
    static func recorded(_ node: ConvergenceBench.Node) -> Double {
        let (status, data) = ConvergenceBench.call("http://\(node.http)/api/latest/transitions?lookback=3600")
        guard status == 200, let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return 0 }
        return json["all"] as? Double ?? (json["all"] as? NSNumber)?.doubleValue ?? 0
    }

    /// Backend pids by name, for the sessions whose application_name is like `pattern`.
    static func backends(_ conn: PostgresConnection, _ pattern: String) throws -> [Int32: String] {
        var out: [Int32: String] = [:]
        for row in try conn.query("SELECT pid, application_name FROM pg_stat_activity WHERE application_name LIKE $1", [pattern]).rows {
            if let pid = row[0].flatMap({ Int32($0) }) { out[pid] = row[1] ?? "?" }
        }
        guard !out.isEmpty else { throw Failure(description: "no Postgres session named like \(pattern)") }
        return out
    }

    /// User + system CPU of a process so far (ms), from /proc/PID/stat.
    static func cpuMs(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) * 1000 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func waitFor(_ what: String, within seconds: Double = 30, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return }
            usleep(20_000)
        }
        throw Failure(description: "timed out waiting for \(what)")
    }
}
