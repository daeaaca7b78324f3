import Logging
import MetPostgres
import MetRecorder
import MetStore

/// The last nodes' snapshots in Postgres (DESIGN §6, RELIABILITY H9): a node that stops with no
/// successor to take its store (no peer left, or every peer stopping too) writes it to
/// `met_snapshots` under its own name; every node that starts with a database merges every
/// snapshot younger than the retention. Merging is idempotent, so loading several (a mass stop
/// writes one per node) on top of what peers send never double counts. Both calls block (libpq):
/// never on the loop.
enum LastNodeSnapshot {
    /// `forgetAfterSeconds`: the retention; older snapshots of the cluster are deleted as this one is written.
    static func save(_ config: NodeConfig, forgetAfterSeconds: Int, collector: Collector, logger: Logger) {
        guard let database = config.database else { return }
        // Chunk by chunk, each taken from the store as it is written: memory stays at one chunk.
        let plan = collector.withStore { $0.snapshotPlan(maxChunkBytes: config.handoffChunkBytes) }
        let marks = plan.watermarks
        var bytes = marks.count
        do {
            let conn = try PostgresConnection(connectionString: database)
            defer { conn.close() }
            try conn.writeSnapshot(cluster: config.cluster, node: config.node, count: plan.count + 1, prefix: config.prefix,
                                   forgetAfterSeconds: forgetAfterSeconds) { i in
                guard i > 0 else { return marks }
                let chunk = collector.withStore { $0.snapshotChunk(i - 1, of: plan) }
                bytes += chunk.count
                return chunk
            }
            logger.notice("no successor took the store: wrote this node's snapshot to Postgres (\(plan.count) chunks, \(bytes) bytes)")
        } catch {
            logger.error("no successor took the store, and writing it to Postgres failed: \(error); history only this node held is lost")
        }
    }

    static func load(_ config: NodeConfig, maxAgeSeconds: Int, collector: Collector, logger: Logger) {
        guard let database = config.database else { return }
        let conn: PostgresConnection
        let nodes: [(node: String, age: Int, chunks: Int)]
        do {
            conn = try PostgresConnection(connectionString: database)
            nodes = try conn.snapshotNodes(cluster: config.cluster, maxAgeSeconds: maxAgeSeconds, prefix: config.prefix)
        } catch {
            return logger.warning("could not load the cluster's snapshots from Postgres: \(error)")
        }
        defer { conn.close() }
        // One node's snapshot at a time, one chunk at a time; a bad one is skipped, not the rest.
        for (node, age, count) in nodes {
            do {
                guard let marks = try conn.snapshotChunk(cluster: config.cluster, node: node, index: 0, prefix: config.prefix) else { continue }
                let now = collector.clock.second()
                for i in 1..<max(1, count) {
                    guard let chunk = try conn.snapshotChunk(cluster: config.cluster, node: node, index: i, prefix: config.prefix) else { break }
                    try collector.merge(chunk: chunk, now: now)
                }
                try collector.merge(watermarks: marks, now: now)
                logger.notice("loaded the snapshot \(node) wrote to Postgres \(age) s ago (\(count - 1) chunks)")
            } catch {
                logger.warning("could not load the snapshot \(node) wrote to Postgres: \(error); the others are still loaded")
            }
        }
    }
}
