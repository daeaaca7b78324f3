import Logging
import MetPostgres
import MetRecorder
import MetStore

/// The last node's snapshot in Postgres (DESIGN §6): a node that stops gracefully with no peer
/// left writes its whole store to `met_snapshots`; every node that starts with a database merges
/// the cluster's snapshot if it is younger than the retention. Merging is idempotent, so loading
/// it on top of what peers send never double counts. Both calls block (libpq): never on the loop.
enum LastNodeSnapshot {
    static func save(_ config: NodeConfig, collector: Collector, logger: Logger) {
        guard let database = config.database else { return }
        let snapshot = collector.withStore { $0.snapshot() }
        do {
            let conn = try PostgresConnection(connectionString: database)
            defer { conn.close() }
            try conn.writeSnapshot(cluster: config.cluster, node: config.node, chunks: [snapshot.watermarks] + snapshot.chunks, prefix: config.prefix)
            logger.notice("last node of cluster \(config.cluster): wrote its snapshot to Postgres (\(snapshot.chunks.count) chunks, \(snapshot.byteCount) bytes)")
        } catch {
            logger.error("last node of cluster \(config.cluster): could not write its snapshot to Postgres: \(error); its history is lost unless a node still holds it")
        }
    }

    static func load(_ config: NodeConfig, maxAgeSeconds: Int, collector: Collector, logger: Logger) {
        guard let database = config.database else { return }
        do {
            let conn = try PostgresConnection(connectionString: database)
            defer { conn.close() }
            guard let (chunks, age) = try conn.readSnapshot(cluster: config.cluster, maxAgeSeconds: maxAgeSeconds, prefix: config.prefix),
                  let marks = chunks.first else { return }
            let now = NodeRecorder.wallClockSecond()
            for chunk in chunks.dropFirst() { try collector.merge(chunk: chunk, now: now) }
            try collector.merge(watermarks: marks, now: now)
            logger.notice("loaded the cluster's snapshot from Postgres (\(chunks.count - 1) chunks, taken \(age) s ago)")
        } catch {
            logger.warning("could not load the cluster's snapshot from Postgres: \(error)")
        }
    }
}
