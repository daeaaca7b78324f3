/// The last node's snapshot (DESIGN §6): when the last node of a cluster stops, it writes its
/// store to `met_snapshots` (one row per chunk, watermarks as chunk 0, in one transaction), and
/// the next node to start loads it. Bytes travel as hex text (`bytea`'s text form).
extension PostgresConnection {
    /// Replaces the cluster's snapshot with `chunks` (index 0: the watermarks), atomically.
    public func writeSnapshot(cluster: String, node: String, chunks: [[UInt8]], prefix: String = "public") throws(PostgresError) {
        let table = "\(JobSchema.identifier(prefix)).met_snapshots"
        _ = try query("BEGIN")
        do {
            _ = try query("DELETE FROM \(table) WHERE cluster = $1", [cluster])
            for (i, chunk) in chunks.enumerated() {
                _ = try query("INSERT INTO \(table) (cluster, chunk, node, data) VALUES ($1, $2::int, $3, $4::bytea)",
                              [cluster, String(i), node, "\\x" + Self.hex(chunk)])
            }
            _ = try query("COMMIT")
        } catch {
            _ = try? query("ROLLBACK")
            throw error
        }
    }

    /// The cluster's snapshot if one was taken less than `maxAgeSeconds` ago: its chunks (index 0:
    /// the watermarks) and its age in seconds; nil when there is none or it is stale.
    public func readSnapshot(cluster: String, maxAgeSeconds: Int, prefix: String = "public") throws(PostgresError) -> (chunks: [[UInt8]], age: Int)? {
        let rows = try query("""
            SELECT data, extract(epoch from now() - taken_at)::bigint FROM \(JobSchema.identifier(prefix)).met_snapshots
            WHERE cluster = $1 AND taken_at > now() - $2::bigint * interval '1 second' ORDER BY chunk
            """, [cluster, String(maxAgeSeconds)])
        guard !rows.rows.isEmpty else { return nil }
        var chunks: [[UInt8]] = []
        for row in rows.rows {
            guard let text = row[0], let bytes = Self.unhex(text) else {
                throw PostgresError(.query, message: "a met_snapshots row is not bytea hex")
            }
            chunks.append(bytes)
        }
        return (chunks, rows.rows[0][1].flatMap { Int($0) } ?? 0)
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
