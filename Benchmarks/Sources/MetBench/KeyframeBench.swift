import Foundation
import MetPostgres

/// `keyframe.speedup_5m` and `keyframe.max_error_pct` (DESIGN §8): a 5,000,000-row `oban_jobs`
/// built here (10 queues × 8 states, skewed like a production table: most jobs completed, in a
/// few queues; see `build`), VACUUM ANALYZE, then the exact `count(*) ... GROUP BY state, queue` (the peer) and
/// one keyframe as the leader counts it (its REPEATABLE READ transaction, the groups and their
/// estimates, the exact counts split across the default 2 connections: ``KeyframeCounter``),
/// each the median of 5 runs after a warm-up. The note has the keyframe on one connection
/// (`met_job_counts(50000)` alone) too. The error is the worst relative error of an estimated
/// group against the exact count.
enum KeyframeBench {
    static let rows = 5_000_000
    static let prefix = "bench_keyframe_v4"  // v4: Oban's v14 schema (met schema on an empty database)

    static func run() {
        guard let url = ProcessInfo.processInfo.environment["MET_BENCH_DATABASE_URL"] else {
            print("keyframe.speedup_5m skipped: set MET_BENCH_DATABASE_URL (scripts/bench starts a throwaway Postgres)")
            return
        }
        do {
            let conn = try PostgresConnection(connectionString: url)
            defer { conn.close() }
            let t0 = nanotime()
            try build(conn)
            let buildSeconds = Double(nanotime() - t0) / 1e9

            let counter = KeyframeCounter(database: url, applicationName: "met bench counts", connections: 2)
            defer { counter.close() }
            func keyframe() -> [JobCount] {
                do {
                    _ = try conn.beginCount(prefix: prefix)
                    defer { _ = try? conn.endCount() }
                    return try counter.count(on: conn, prefix: prefix, estimateLimit: 50_000)
                } catch {
                    print("keyframe.speedup_5m: a keyframe failed: \(error)")
                    return []
                }
            }
            _ = try conn.exactJobCounts(prefix: prefix)  // warm every path
            _ = try conn.jobCounts(prefix: prefix, estimateLimit: 50_000)
            _ = keyframe()
            var exact: [JobCount] = []
            let exactMs = medianMs { exact = (try? conn.exactJobCounts(prefix: prefix)) ?? [] }
            var counts: [JobCount] = []
            let keyframeMs = medianMs { counts = keyframe() }
            var single: [JobCount] = []
            let singleMs = medianMs { single = (try? conn.jobCounts(prefix: prefix, estimateLimit: 50_000)) ?? [] }
            guard !exact.isEmpty, !counts.isEmpty, !single.isEmpty else {
                print("keyframe.speedup_5m failed: a count returned nothing")
                return
            }
            let keyframe = counts
            let truth = Dictionary(uniqueKeysWithValues: exact.map { ("\($0.state)/\($0.queue)", $0.count) })
            var worst = 0.0
            var estimated = 0
            var exactMatches = true
            for c in keyframe {
                let t = Double(truth["\(c.state)/\(c.queue)"] ?? 0)
                if c.estimated {
                    estimated += 1
                    worst = max(worst, abs(Double(c.count) - t) / max(t, 1) * 100)
                } else if Double(c.count) != t {
                    exactMatches = false
                }
            }
            let countedRows = keyframe.filter { !$0.estimated }.reduce(Int64(0)) { $0 + $1.count }
            let split = counter.lastSplit.map(String.init).joined(separator: "+")
            report("keyframe.speedup_5m", exactMs / keyframeMs, "x", peer: nil,
                   note: "exact GROUP BY \(format(exactMs)) ms, keyframe \(format(keyframeMs)) ms (groups counted \(split) over 2 connections; met_job_counts on one: \(format(singleMs)) ms, \(format(exactMs / singleMs))x); \(keyframe.count) groups, \(estimated) estimated, \(countedRows) rows in the groups counted exactly; table built in \(format(buildSeconds)) s")
            report("keyframe.max_error_pct", worst, "%",
                   note: "worst estimated group after ANALYZE; exact groups \(exactMatches ? "all equal to GROUP BY" : "DIFFER from GROUP BY"); \(Set(single) == Set(counts) ? "met_job_counts on one connection gives the same counts" : "met_job_counts on one connection DIFFERS")")
        } catch {
            print("keyframe.speedup_5m failed: \(error)")
        }
    }

    /// The 5M-row table, unless a previous run left it complete.
    static func build(_ conn: PostgresConnection) throws {
        let p = JobSchema.identifier(prefix)
        if let n = try? conn.query("SELECT count(*) FROM \(p).oban_jobs").rows.first?.first, n == String(rows) { return }
        _ = try conn.query("DROP SCHEMA IF EXISTS \(p) CASCADE")
        try conn.applySchema(prefix: prefix)
        // Indexes (Oban's and ObanMet's) are built after the rows: much faster than maintaining
        // them row by row.
        let indexes = try conn.query("""
            SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'oban_jobs' AND indexname <> 'oban_jobs_pkey'
            """, [prefix]).rows.compactMap { row in row[0].flatMap { name in row[1].map { (name, $0) } } }
        for (name, _) in indexes { _ = try conn.query("DROP INDEX \(p).\(JobSchema.identifier(name))") }
        // Deterministic skew from the row number, shaped like a production table that prunes:
        // states 88 % completed, 4 % available, 3 % scheduled, 3 % discarded, 1 % cancelled,
        // 0.6 % retryable, 0.2 % executing, 0.2 % suspended; queues 45/25/15/8/4/1.5/0.8/0.4/0.2/0.1 %.
        _ = try conn.query("""
            INSERT INTO \(p).oban_jobs (state, queue, worker)
            SELECT (CASE WHEN s < 8800 THEN 'completed' WHEN s < 9200 THEN 'available' WHEN s < 9500 THEN 'scheduled'
                         WHEN s < 9800 THEN 'discarded' WHEN s < 9900 THEN 'cancelled' WHEN s < 9960 THEN 'retryable'
                         WHEN s < 9980 THEN 'executing' ELSE 'suspended' END)::\(p).oban_job_state,
                   CASE WHEN q < 4500 THEN 'default' WHEN q < 7000 THEN 'mailers' WHEN q < 8500 THEN 'exports'
                        WHEN q < 9300 THEN 'q3' WHEN q < 9700 THEN 'q4' WHEN q < 9850 THEN 'q5' WHEN q < 9930 THEN 'q6'
                        WHEN q < 9970 THEN 'q7' WHEN q < 9990 THEN 'q8' ELSE 'q9' END,
                   'Bench.Worker'
            FROM (SELECT (i * 40503 + 7) % 10000 AS s, ((i * 2654435761) >> 3) % 10000 AS q
                  FROM generate_series(1, $1::bigint) i) g
            """, [String(rows)])
        for (_, definition) in indexes { _ = try conn.query(definition) }
        _ = try conn.query("VACUUM ANALYZE \(p).oban_jobs")
    }
}
