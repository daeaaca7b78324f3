import Foundation
import MetPostgres
import MetStore

/// `lifecycle.*` (RELIABILITY H3, H11): the whole path in real `met node` processes with a real
/// Postgres. The 260k-row reference store, moved to the present, is written to `met_snapshots`
/// as the snapshot of a node that stopped; node a starts and loads it; node b joins late and
/// catches up from a (`lifecycle.join_ms_260k`: spawn to ready in `/api/cluster`, H11); then a
/// is sent SIGTERM and hands its store to b (`lifecycle.stop_ms_260k`: signal to exit 0, H3).
/// Both nodes must then serve the reference store's exact total. The peer, in the same run, is
/// the same sequence with an empty store: the cost of starting and stopping a process at all.
enum LifecycleBench {
    static let prefix = "bench_lifecycle"
    /// The default tiers with 10 more minutes in the last: the moved store's oldest buckets stay
    /// within the retention for the whole run, so every total can be exact.
    static let compaction = "1:120,5:900,30:2000,60:9900"
    static let lookback = 10_000

    struct Figures {
        var startMs = 0.0, joinMs = 0.0, stopMs = 0.0, lastStopMs = 0.0
        var rows = 0
        var total = 0.0
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func run() {
        let env = ProcessInfo.processInfo.environment
        guard let binary = env["MET_BINARY"], let database = env["MET_BENCH_DATABASE_URL"] else {
            print("lifecycle.join_ms_260k skipped: set MET_BINARY and MET_BENCH_DATABASE_URL (scripts/bench does)")
            return
        }
        do {
            let loaded = try sequence(binary: URL(fileURLWithPath: binary), database: database, preload: true)
            let empty = try sequence(binary: URL(fileURLWithPath: binary), database: database, preload: false)
            report("lifecycle.join_ms_260k", loaded.joinMs, "ms", peer: empty.joinMs,
                   note: "a late joiner's spawn to ready, caught up with \(loaded.rows) rows (total \(format(loaded.total)) served exactly by both nodes); the first node started from the Postgres snapshot in \(format(loaded.startMs)) ms (peer \(format(empty.startMs))); peer = the same with an empty store")
            report("lifecycle.stop_ms_260k", loaded.stopMs, "ms", peer: empty.stopMs,
                   note: "SIGTERM to exit 0, handing the store to the other node; the last node, with no successor, wrote it to Postgres and exited in \(format(loaded.lastStopMs)) ms (peer \(format(empty.lastStopMs)))")
        } catch {
            print("lifecycle.join_ms_260k failed: \(error)")
        }
    }

    /// One start, join, handoff and last stop; `preload`: with the reference store in Postgres.
    static func sequence(binary: URL, database: String, preload: Bool) throws -> Figures {
        let cluster = "lifecycle-\(getpid())-\(preload ? "260k" : "empty")"
        let conn = try PostgresConnection(connectionString: database)
        defer { conn.close() }
        try conn.applySchema(prefix: prefix)
        defer { _ = try? conn.query("DELETE FROM \(prefix).met_snapshots WHERE cluster = $1", [cluster]) }
        var figures = Figures()
        if preload { (figures.rows, figures.total) = try writeReferenceStore(conn, cluster: cluster) }

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-lifecycle-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var nodes: [ConvergenceBench.Node] = []
        defer {
            for n in nodes where n.process.isRunning { n.process.terminate() }
            for n in nodes { n.process.waitUntilExit() }
            // MET_BENCH_KEEP=1 keeps the nodes' logs.
            if ProcessInfo.processInfo.environment["MET_BENCH_KEEP"] == nil { try? FileManager.default.removeItem(at: dir) }
        }
        // Info: the handoff's progress lines.
        let extra = ["--cluster", cluster, "--compaction", compaction, "--log-level", "info", "--database", database, "--prefix", prefix]
        var t0 = nanotime()
        let a = try ConvergenceBench.Node(name: "a", seeds: [], binary: binary, dir: dir, extra: extra)
        nodes.append(a)
        try waitReady(a)
        figures.startMs = Double(nanotime() - t0) / 1e6

        // Gone from Postgres once a holds it, so that b catches up from a alone.
        _ = try conn.query("DELETE FROM \(prefix).met_snapshots WHERE cluster = $1", [cluster])
        t0 = nanotime()
        let b = try ConvergenceBench.Node(name: "b", seeds: [a.mesh], binary: binary, dir: dir, extra: extra)
        nodes.append(b)
        try waitReady(b)
        figures.joinMs = Double(nanotime() - t0) / 1e6
        for node in [a, b] where total(node) != figures.total {
            throw Failure(description: "\(node.log.lastPathComponent) serves \(total(node)), not \(figures.total)")
        }

        figures.stopMs = try stop(a, expecting: "handoff to b done")
        if total(b) != figures.total { throw Failure(description: "after the handoff b serves \(total(b)), not \(figures.total)") }
        figures.lastStopMs = try stop(b, expecting: "wrote this node's snapshot to Postgres")
        return figures
    }

    /// The reference store, its timestamps moved to the present (by whole minutes, so every
    /// bucket stays aligned), written as node "gone"'s snapshot.
    /// Returns its rows and the total of its `inserted` series.
    static func writeReferenceStore(_ conn: PostgresConnection, cluster: String) throws -> (Int, Double) {
        let realNow = Int64(Date().timeIntervalSince1970)
        let delta = realNow - Datasets.now
        let shift = (delta >= 0 ? delta / 60 : (delta - 59) / 60) * 60  // rounded down
        let store = SeriesStore()
        var total = 0.0
        for var timeline in Datasets.mixed260k(raw: false) {
            for i in timeline.points.indices {
                timeline.points[i].ts += shift
                if timeline.series == "inserted", case .count(let n) = timeline.points[i].value { total += Double(n) }
            }
            try store.merge(timeline, now: Datasets.now + shift)
        }
        let plan = store.snapshotPlan(maxChunkBytes: 1 << 20)
        try conn.writeSnapshot(cluster: cluster, node: "gone", count: plan.count + 1, prefix: prefix) { i in
            i == 0 ? plan.watermarks : store.snapshotChunk(i - 1, of: plan)
        }
        return (store.pointCount, total)
    }

    /// Waits for the node's listeners, then for `ready` in `/api/cluster`, polling every 2 ms.
    static func waitReady(_ node: ConvergenceBench.Node) throws {
        try node.ready(pollMicroseconds: 2_000)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let (status, data) = ConvergenceBench.call("http://\(node.http)/api/cluster")
            if status == 200, (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["ready"] as? Bool == true { return }
            usleep(2_000)
        }
        throw Failure(description: "not ready within 60 s: \(node.log.path)")
    }

    /// SIGTERM to exit; the exit must be 0 and the log must hold `line`.
    static func stop(_ node: ConvergenceBench.Node, expecting line: String?) throws -> Double {
        let t0 = nanotime()
        kill(node.process.processIdentifier, SIGTERM)
        node.process.waitUntilExit()
        let ms = Double(nanotime() - t0) / 1e6
        let log = (try? String(contentsOf: node.log, encoding: .utf8)) ?? ""
        guard node.process.terminationStatus == 0, line.map({ log.contains($0) }) ?? true else {
            throw Failure(description: "\(node.log.lastPathComponent) exited \(node.process.terminationStatus) without \"\(line ?? "")\":\n\(log.suffix(2_000))")
        }
        return ms
    }

    static func total(_ node: ConvergenceBench.Node) -> Double {
        let (status, data) = ConvergenceBench.call("http://\(node.http)/api/latest/inserted?lookback=\(lookback)")
        guard status == 200, let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return -1 }
        return (json["all"] as? Double) ?? (json["all"] as? NSNumber)?.doubleValue ?? 0
    }
}
