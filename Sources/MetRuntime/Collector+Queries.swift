import MetRecorder
import MetStore

/// The queries of DESIGN §7 on this node's replica, as the HTTP API and the embedding API ask
/// them: the store's answers, except `latest` of `full_count`, which is answered live from the
/// keyframe and the deltas since. A query holds the collector's lock only while it is planned
/// (copies of the timelines it reads); it is computed after the lock is released, so the mesh
/// loop's merges never wait for a query's arithmetic. Without `now`, a query ends at this
/// node's cluster time (``Collector/clock``), the time every node stamps its points in.
extension Collector {
    package func series() -> [SeriesDescription] {
        withStore { $0.seriesList() }.map { SeriesDescription(series: $0.name, kind: $0.kind, labels: $0.labels) }
    }

    package func labels(_ label: String, lookback: Int, now: Int64? = nil) -> [String] {
        withStore { $0.labels(label, lookback: lookback, now: now ?? clock.second()) }
    }

    package func latest(_ selection: Selection, op: QueryOp? = nil, now: Int64? = nil) throws(QueryError) -> [String: Double] {
        if selection.series == "full_count", op == nil || op == .sum {
            try FullCountQuery.validate(selection)
            // No keyframe: no count at all (never zeros), and why.
            guard let live = fullCount().counts else { throw .unavailable("no full_count yet: \(noKeyframeReason)") }
            return try FullCountQuery.latest(live, selection)
        }
        let now = now ?? clock.second()
        return try prepared { store throws(QueryError) in try store.prepareLatest(selection, op: op, now: now) }()
    }

    /// Without `by`, the resolution follows the range (about 100 windows).
    package func timeslice(_ selection: Selection, by: Int?, op: QueryOp? = nil, fill: Fill? = nil,
                           now: Int64? = nil) throws(QueryError) -> [SliceRow] {
        let now = now ?? clock.second()
        return try prepared { store throws(QueryError) in try store.prepareTimeslice(selection, by: by, op: op, fill: fill, now: now) }()
    }

    package func summary(_ selection: Selection, by: Int, now: Int64? = nil) throws(QueryError) -> [SummaryRow] {
        let now = now ?? clock.second()
        return try prepared { store throws(QueryError) in try store.prepareSummary(selection, by: by, now: now) }()
    }

    package func checks(retention: Int, now: Int64? = nil) -> [QueueCheck] {
        let now = now ?? clock.second()
        return withStore { $0.queueChecks(now: now, retention: retention) }
    }

    /// Plans a store query under the collector's lock and returns its computation, to be run
    /// after the lock is released; the plan's typed error passes on.
    private func prepared<T>(_ plan: (SeriesStore) throws(QueryError) -> () -> T) throws(QueryError) -> () -> T {
        try withStore { store in Result { () throws(QueryError) in try plan(store) } }.get()
    }
}
