/// Jobs of one (state, queue) group, counted exactly or estimated by the planner.
package struct JobCount: Sendable, Equatable, Hashable {
    package var state: String
    package var queue: String
    package var count: Int64
    package var estimated: Bool

    package init(state: String, queue: String, count: Int64, estimated: Bool) {
        self.state = state
        self.queue = queue
        self.count = count
        self.estimated = estimated
    }
}

extension PostgresConnection {
    /// One keyframe's counts: `met_job_counts` (see ``JobSchema``), one round trip.
    package func jobCounts(prefix: String = "public", estimateLimit: Int) throws(PostgresError) -> [JobCount] {
        let rows = try query("SELECT job_state, job_queue, job_count, is_estimate FROM \(JobSchema.identifier(prefix)).met_job_counts($1)",
                             [String(estimateLimit)])
        return try Self.counts(rows)
    }

    /// The exact `count(*) ... GROUP BY state, queue`, for tests and as the benchmark's peer.
    package func exactJobCounts(prefix: String = "public") throws(PostgresError) -> [JobCount] {
        let rows = try query("SELECT state::text, queue, count(*), false FROM \(JobSchema.identifier(prefix)).oban_jobs GROUP BY state, queue ORDER BY state, queue")
        return try Self.counts(rows)
    }

    static func counts(_ rows: PostgresRows) throws(PostgresError) -> [JobCount] {
        var out: [JobCount] = []
        for row in rows.rows {
            guard row.count == 4, let state = row[0], let queue = row[1], let count = row[2].flatMap({ Int64($0) }) else {
                throw PostgresError(.query, message: "unexpected job count row \(row)")
            }
            out.append(JobCount(state: state, queue: queue, count: count, estimated: row[3] == "t"))
        }
        return out
    }
}
