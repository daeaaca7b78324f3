/// The last nodes' snapshots (DESIGN §6): a node that stops with no successor to take its store
/// writes it to `met_snapshots` (one row per chunk, watermarks as chunk 0, in one transaction),
/// and every node that starts merges them. Rows are kept per writing node, so in a mass stop
/// (RELIABILITY H9) every node writes its own and none overwrites another's; merging them all is
/// idempotent. Bytes travel as hex text (`bytea`'s text form).
extension PostgresConnection {
    /// One node's snapshot as read back.
    package struct StoredSnapshot: Sendable, Equatable {
        package var node: String
        /// Index 0: the watermarks; then the store's chunks.
        package var chunks: [[UInt8]]
        /// Seconds since it was written.
        package var age: Int
    }

    /// Replaces `node`'s snapshot in `cluster` with `count` chunks (index 0: the watermarks),
    /// atomically, and deletes the cluster's snapshots older than `forgetAfterSeconds` (nobody
    /// would load them). Each chunk is asked of `chunk` as it is written, so only one is held at a
    /// time.
    package func writeSnapshot(cluster: String, node: String, count: Int, prefix: String = "public",
                              forgetAfterSeconds: Int = 86_400, chunk: (Int) -> [UInt8]) throws(PostgresError) {
        let table = "\(JobSchema.identifier(prefix)).met_snapshots"
        _ = try query(JobSchema.snapshotKeyMigration(prefix: prefix))
        _ = try query("BEGIN")
        do {
            _ = try query("DELETE FROM \(table) WHERE cluster = $1 AND (node = $2 OR taken_at < now() - $3::bigint * interval '1 second')",
                          [cluster, node, String(forgetAfterSeconds)])
            for i in 0..<count {
                _ = try query("INSERT INTO \(table) (cluster, node, chunk, data) VALUES ($1, $2, $3::int, $4::bytea)",
                              [cluster, node, String(i), "\\x" + Self.hex(chunk(i))])
            }
            _ = try query("COMMIT")
        } catch {
            _ = try? query("ROLLBACK")
            throw error
        }
    }

    /// Replaces `node`'s snapshot in `cluster` with `chunks` (index 0: the watermarks).
    package func writeSnapshot(cluster: String, node: String, chunks: [[UInt8]], prefix: String = "public") throws(PostgresError) {
        try writeSnapshot(cluster: cluster, node: node, count: chunks.count, prefix: prefix) { chunks[$0] }
    }

    /// The nodes whose snapshots in `cluster` were written less than `maxAgeSeconds` ago, by
    /// name, with each snapshot's age in seconds and its number of chunks (watermarks included).
    package func snapshotNodes(cluster: String, maxAgeSeconds: Int, prefix: String = "public") throws(PostgresError)
        -> [(node: String, age: Int, chunks: Int)] {
        let rows = try query("""
            SELECT node, extract(epoch from now() - min(taken_at))::bigint, count(*) FROM \(JobSchema.identifier(prefix)).met_snapshots
            WHERE cluster = $1 AND taken_at > now() - $2::bigint * interval '1 second' GROUP BY node ORDER BY node
            """, [cluster, String(maxAgeSeconds)])
        return rows.rows.compactMap { row in
            guard let node = row[0], let age = row[1].flatMap({ Int($0) }), let n = row[2].flatMap({ Int($0) }) else { return nil }
            return (node, age, n)
        }
    }

    /// Chunk `index` of `node`'s snapshot (0: the watermarks); nil when there is none.
    package func snapshotChunk(cluster: String, node: String, index: Int, prefix: String = "public") throws(PostgresError) -> [UInt8]? {
        let rows = try query("SELECT data FROM \(JobSchema.identifier(prefix)).met_snapshots WHERE cluster = $1 AND node = $2 AND chunk = $3::int",
                             [cluster, node, String(index)])
        guard let text = rows.rows.first?[0] else { return nil }
        guard let bytes = Self.unhex(text) else { throw PostgresError(.query, message: "a met_snapshots row is not bytea hex") }
        return bytes
    }

    /// The cluster's snapshots written less than `maxAgeSeconds` ago, one per node, by node name
    /// (all of them in memory: for tests and small stores; nodes load them chunk by chunk).
    package func readSnapshots(cluster: String, maxAgeSeconds: Int, prefix: String = "public") throws(PostgresError) -> [StoredSnapshot] {
        var out: [StoredSnapshot] = []
        for (node, age, count) in try snapshotNodes(cluster: cluster, maxAgeSeconds: maxAgeSeconds, prefix: prefix) {
            var chunks: [[UInt8]] = []
            for i in 0..<count {
                guard let chunk = try snapshotChunk(cluster: cluster, node: node, index: i, prefix: prefix) else { break }
                chunks.append(chunk)
            }
            out.append(StoredSnapshot(node: node, chunks: chunks, age: age))
        }
        return out
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2 - 1)
        var i = 2
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
