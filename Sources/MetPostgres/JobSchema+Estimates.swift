/// The parts of a keyframe's SQL that `met_job_counts` and the split keyframe
/// (``PostgresConnection/groupEstimates(prefix:)``) share, so that both find the same groups and
/// make the same estimates. Each is text placed at a column of its caller's statement: its
/// lines after the first are indented by `indent`, that column, so the function's body (which
/// `pg_proc.prosrc` keeps and ``jobCountsBody(prefix:)`` is compared with) stays as it was.
extension JobSchema {
    /// `pairs(s, q)`: every (state, queue) present, by a skip scan of the state/queue index (one
    /// probe per group, not per row). A recursive CTE, from `WITH RECURSIVE` to its closing `)`.
    static func pairsCTE(_ p: String, indent: String) -> String {
        [
            "WITH RECURSIVE pairs(s, q) AS (",
            "  (SELECT j.state, j.queue FROM \(p).oban_jobs j ORDER BY j.state, j.queue LIMIT 1)",
            "  UNION ALL",
            "  SELECT n.state, n.queue FROM pairs, LATERAL (",
            "    SELECT j.state, j.queue FROM \(p).oban_jobs j",
            "    WHERE (j.state, j.queue) > (pairs.s, pairs.q)",
            "    ORDER BY j.state, j.queue LIMIT 1) n",
            ")",
        ].joined(separator: "\n" + indent)
    }

    /// The live rows the estimates scale by, over `pg_class c` of `oban_jobs`: the statistics
    /// system's count (inserts minus deletes, so dead rows do not inflate it), or where that is
    /// 0, `reltuples` scaled to the table's current size the way the planner does. A `CASE`
    /// expression.
    static func liveRows(indent: String) -> String {
        [
            "CASE WHEN pg_stat_get_live_tuples(c.oid) > 0 THEN pg_stat_get_live_tuples(c.oid)::double precision",
            "     WHEN c.relpages > 0 AND c.reltuples > 0",
            "     THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::bigint)",
            "     ELSE 0 END",
        ].joined(separator: "\n" + indent)
    }

    /// The joint statistics' most common (state, queue) pairs and their frequencies, as rows
    /// `(s, q, f)`; `schema`: the SQL of the schema's name (a literal or a parameter).
    static func frequencies(schema: String, indent: String) -> String {
        [
            "SELECT e.most_common_vals[i][1] AS s, e.most_common_vals[i][2] AS q, e.most_common_freqs[i] AS f",
            "FROM pg_stats_ext e, generate_subscripts(e.most_common_vals, 1) i",
            "WHERE e.statistics_schemaname = \(schema) AND e.statistics_name = '\(statisticsName)'",
        ].joined(separator: "\n" + indent)
    }
}
