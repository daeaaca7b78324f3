import MetRecorder
import MetRuntime
import MetStore

/// Typed queries of the node's replica, without HTTP: the answers of the HTTP API's
/// `series`, `labels`, `latest`, `timeslice`, `summary`, `checks` and `cluster` (docs/api.md).
/// They read this node's copy of the whole cluster's metrics, so any node answers for all.
extension MetNode {
    /// Every series the replica holds, with its kind and label keys.
    public func series() -> [SeriesDescription] { collector.series() }

    /// The values of `label` seen on any series in the last `lookback` seconds, sorted.
    public func labels(_ label: String, lookback: Int = 300) -> [String] { collector.labels(label, lookback: lookback) }

    /// The current value per group (`"all"` without a group): for counts the total over the
    /// lookback, for gauges the sum of the latest levels, for sketches `op` (default p50).
    /// `full_count` is answered live from the latest keyframe and the deltas since; before this
    /// node has any keyframe it throws ``QueryError/unavailable(_:)`` with the reason (never 0s).
    public func latest(_ selection: Selection, op: QueryOp? = nil) throws(QueryError) -> [String: Double] {
        try collector.latest(selection, op: op)
    }

    /// Values per window of `by` seconds and group, ordered by time then label. Without `by`
    /// the resolution follows the range (about 100 windows); `fill` gives every group a value
    /// (0, or nil) in every window.
    public func timeslice(_ selection: Selection, by: Int? = nil, op: QueryOp? = nil, fill: Fill? = nil) throws(QueryError) -> [SliceRow] {
        try collector.timeslice(selection, by: by, op: op, fill: fill)
    }

    /// Count, sum, min, max and p50/p95/p99 per window and group of a sketch series.
    public func summary(_ selection: Selection, by: Int = 60) throws(QueryError) -> [SummaryRow] {
        try collector.summary(selection, by: by)
    }

    /// The latest queue check of every node and queue, no older than `retention` seconds.
    public func checks() -> [QueueCheck] { collector.checks(retention: configuration.retention) }

    /// Records a marker (a deploy, an incident) as this node's own data: every time chart of the
    /// dashboard draws it. `at` is unix seconds (default now), at most 60 s ahead and within
    /// the retention; the label is 1 to 200 bytes without control characters.
    @discardableResult
    public func mark(_ label: String, at: Int64? = nil) throws(MarkerError) -> MarkerRecord {
        try Markers.record(label: label, at: at, into: recorder, now: recorder.clock.second(), retention: resolved.tiers.retention)
    }

    /// The markers of the whole cluster whose second is within the last `lookback` seconds.
    public func markers(lookback: Int = 3600) -> [MarkerRecord] {
        Markers.list(collector, since: recorder.clock.second() - Int64(lookback) + 1)
    }

    /// This node's view of the cluster: members, leadership, the last keyframe, the store.
    public func cluster() async throws -> ClusterStatus {
        try await runtime().status()
    }
}
