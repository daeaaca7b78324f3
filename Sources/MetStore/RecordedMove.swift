/// One job's change of state made by one committed Postgres transaction, as the node that made
/// it recorded it: with the transaction's id (`pg_current_xact_id()`), so every replica can tell,
/// against a keyframe's snapshot, whether the keyframe's count already holds it (DESIGN §3, §5).
package struct RecordedMove: Sendable, Hashable {
    /// The 64-bit id of the transaction that moved the job.
    package var xid: UInt64
    /// The job's id (`oban_jobs.id`).
    package var job: Int64
    package var queue: String
    /// nil: the transaction inserted the job.
    package var from: JobState?
    /// nil: the transaction deleted the job.
    package var to: JobState?

    package init(xid: UInt64, job: Int64, queue: String, from: JobState?, to: JobState?) {
        self.xid = xid
        self.job = job
        self.queue = queue
        self.from = from
        self.to = to
    }

    /// What the move does to `full_count`: one job out of its old group, one into its new one.
    package func add(to counts: inout [JobGroup: Int64], sign: Int64 = 1) {
        if let from { counts[JobGroup(state: from.rawValue, queue: queue), default: 0] -= sign }
        if let to { counts[JobGroup(state: to.rawValue, queue: queue), default: 0] += sign }
    }
}
