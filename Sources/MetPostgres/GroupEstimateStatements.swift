/// The statements of a keyframe split across connections (``KeyframeCounter``): the groups
/// present with their estimates, and the exact counts of a list of groups.
extension PostgresConnection {
    /// A (state, queue) group present in `oban_jobs`, with the statistics' estimate of its size
    /// (nil when the joint statistics do not list it).
    package struct GroupEstimate: Sendable, Equatable {
        package var state: String
        package var queue: String
        package var estimate: Int64?
    }

    /// Every (state, queue) present, by the skip scan of `met_job_counts`, each with the same
    /// estimate `met_job_counts` compares with its limit (the group's frequency in the joint
    /// statistics times the live rows; the same SQL, `JobSchema+Estimates.swift`), and this transaction's snapshot exported for helper
    /// connections (`pg_export_snapshot()`; valid while the transaction is open). One round trip.
    package func groupEstimates(prefix: String = "public") throws(PostgresError) -> (snapshot: String, groups: [GroupEstimate]) {
        let p = JobSchema.identifier(prefix)
        let rows = try query("""
            \(JobSchema.pairsCTE(p, indent: "")), total AS (
              SELECT \(JobSchema.liveRows(indent: "         ")) AS n
              FROM pg_class c WHERE c.oid = '\(p).oban_jobs'::regclass
            ), frequencies AS (
              SELECT DISTINCT ON (s, q) s, q, f FROM (
                \(JobSchema.frequencies(schema: "$1", indent: "    "))) m
              ORDER BY s, q, f DESC
            )
            SELECT (SELECT pg_export_snapshot()), pairs.s::text, pairs.q, round(frequencies.f * total.n)::bigint
            FROM pairs CROSS JOIN total LEFT JOIN frequencies ON frequencies.s = pairs.s::text AND frequencies.q = pairs.q
            ORDER BY pairs.s, pairs.q
            """, [prefix])
        var snapshot: String?
        var groups: [GroupEstimate] = []
        for row in rows.rows {
            guard row.count == 4, let state = row[1], let queue = row[2] else {
                throw PostgresError(.query, message: "unexpected group row \(row)")
            }
            snapshot = row[0]
            groups.append(GroupEstimate(state: state, queue: queue, estimate: row[3].flatMap { Int64($0) }))
        }
        if snapshot == nil {  // an empty table: no rows, so no snapshot either (and nothing to count)
            snapshot = try query("SELECT pg_export_snapshot()").rows.first?.first ?? nil
        }
        guard let snapshot else { throw PostgresError(.query, message: "no snapshot exported") }
        return (snapshot, groups)
    }

    /// The statement counting `groups` exactly, in their order (an index-only scan of each).
    static func exactCounts(_ groups: [GroupEstimate], prefix: String) -> (sql: String, params: [String?]) {
        let p = JobSchema.identifier(prefix)
        return ("""
            SELECT (SELECT count(*) FROM \(p).oban_jobs j WHERE j.state = g.s::\(p).oban_job_state AND j.queue = g.q)
            FROM unnest($1::text[], $2::text[]) WITH ORDINALITY g(s, q, n) ORDER BY g.n
            """, [textArray(groups.map(\.state)), textArray(groups.map(\.queue))])
    }

    /// The counts of ``exactCounts(_:prefix:)``'s rows.
    static func exactCounts(_ rows: PostgresRows, expecting n: Int) throws(PostgresError) -> [Int64] {
        let counts = rows.rows.compactMap { $0.first.flatMap { $0.flatMap { Int64($0) } } }
        guard counts.count == n, rows.count == n else {
            throw PostgresError(.query, message: "expected \(n) counts, got \(rows.count) rows")
        }
        return counts
    }

    /// A Postgres array literal of `items`, each quoted (`"` and `\` escaped).
    package static func textArray(_ items: [String]) -> String {
        var out = "{"
        for (i, item) in items.enumerated() {
            if i > 0 { out += "," }
            out += "\""
            for c in item.unicodeScalars {
                if c == "\"" || c == "\\" { out += "\\" }
                out.unicodeScalars.append(c)
            }
            out += "\""
        }
        return out + "}"
    }
}
