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
    static func save(_ config: NodeConfig, collector: Collector, logger: Logger) {
        guard let database = config.database else { return }
        // Chunk by chunk, each taken from the store as it is written: memory stays at one chunk.
        let marks = StoreSnapshot.encode(watermarks: collector.watermarks)
        let plan = collector.withStore { $0.snapshotPlan(maxChunkBytes: config.handoffChunkBytes) }
        var bytes = marks.count
        do {
            let conn = try PostgresConnection(connectionString: database)
            defer { conn.close() }
            try conn.writeSnapshot(cluster: config.cluster, node: config.node, count: plan.count + 1, prefix: config.prefix) { i in
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
        do {
            let conn = try PostgresConnection(connectionString: database)
            defer { conn.close() }
            let now = NodeRecorder.wallClockSecond()
            for snapshot in try conn.readSnapshots(cluster: config.cluster, maxAgeSeconds: maxAgeSeconds, prefix: config.prefix) {
                guard let marks = snapshot.chunks.first else { continue }
                for chunk in snapshot.chunks.dropFirst() { try collector.merge(chunk: chunk, now: now) }
                try collector.merge(watermarks: marks, now: now)
                logger.notice("loaded the snapshot \(snapshot.node) wrote to Postgres \(snapshot.age) s ago (\(snapshot.chunks.count - 1) chunks)")
            }
        } catch {
            logger.warning("could not load the cluster's snapshots from Postgres: \(error)")
        }
    }
}
