import MetDashboard
import MetRecorder
import MetRuntime
import MetStore
import MetValues

/// Fills the dashboard's data model from a node's replica: the collector's typed queries, the
/// node's `ClusterStatus` and its markers. Every time chart shares one axis, the store's own
/// resolution for the range (about 100 columns), so the charts' columns line up and a marker
/// falls at the same x on each.
package struct DashboardSource {
    /// What the page needs to know of the node besides its data.
    package struct Settings: Sendable {
        package var cluster: String
        package var node: String
        package var tiers: CompactionTiers
        package var broadcastInterval: Double
        /// Seconds queue checks are kept.
        package var checkRetention: Int

        package init(cluster: String, node: String, tiers: CompactionTiers, broadcastInterval: Double = 1, checkRetention: Int = 30) {
            self.cluster = cluster
            self.node = node
            self.tiers = tiers
            self.broadcastInterval = broadcastInterval
            self.checkRetention = checkRetention
        }

        package init(_ node: NodeRuntime) {
            self.init(cluster: node.config.cluster, node: node.origin.node, tiers: node.resolved.tiers,
                      broadcastInterval: node.config.broadcastInterval, checkRetention: node.config.retention)
        }
    }

    /// The final states of an execution (`exec_count`, `exec_time`, `wait_time`), in stack order.
    static let finalStates = ["completed", "retryable", "discarded", "cancelled", "scheduled"]
    /// Labels of the job series (`exec_count`, `exec_time`, `wait_time`).
    static let jobLabels: Set<String> = ["node", "queue", "worker", "state"]

    package let collector: Collector
    package let settings: Settings
    package let controls: DashboardControls
    package let now: Int64
    package let axis: TimeAxis

    package init(collector: Collector, settings: Settings, controls: DashboardControls, now: Int64) {
        self.collector = collector
        self.settings = settings
        self.controls = controls
        self.now = now
        let span = controls.range.seconds(retention: settings.tiers.retention)
        // The store's own resolution for the range (about 100 columns on a step it keeps at the
        // range's start), and its windows: from the step's bucket holding the range's start.
        let start = now - Int64(span) + 1
        let step = collector.withStore { $0.resolution(start: start, end: now, now: now) }
        let first = bucketStart(start, step: step)
        axis = TimeAxis(first: first, step: step, columns: Int((now - first) / Int64(step)) + 1)
    }

    /// The whole page; `status` is the node's `/api/cluster` view.
    package func page(status: ClusterStatus) -> DashboardPage {
        let markers = self.markers()
        return DashboardPage(
            cluster: settings.cluster, node: settings.node, now: now, controls: controls, choices: choices(), axis: axis,
            refreshSeconds: settings.broadcastInterval, executed: executed(), jobCounts: jobCounts(status: status),
            execTime: timing("exec_time", title: "Execution time", id: "exec-time"),
            waitTime: timing("wait_time", title: "Wait time in queue", id: "wait-time"),
            histogram: histogram(), executing: executing(), clusterPanel: clusterPanel(status), checks: checks(), markers: markers)
    }

    /// A selection of `series` over the axis' whole window, with the filters that apply to its labels.
    func selection(_ series: String, labels: Set<String>, group: String?) -> (Selection, ignored: [String]) {
        let (kept, ignored) = controls.filters(for: labels)
        let filters = DashboardControls.filterLabels.compactMap { l in kept[l].map { LabelFilter(l, $0) } }
        return (Selection(series: series, lookback: Int(axis.span), since: axis.first, until: now, group: group, filters: filters), ignored)
    }

    /// A timeslice on the axis' columns as one value array per group (`fill` for the columns
    /// where a group has nothing); an unknown series (nothing recorded yet) is no groups at all.
    func columns(_ sel: Selection, op: QueryOp?, fill: Fill) throws(QueryError) -> [String: [Double?]] {
        let rows: [SliceRow]
        do throws(QueryError) {
            rows = try collector.timeslice(sel, by: axis.step, op: op, fill: fill, now: now)
        } catch .unknownSeries {
            return [:]
        }
        var out: [String: [Double?]] = [:]
        for r in rows {
            guard let i = axis.column(of: r.ts) else { continue }
            out[r.label, default: [Double?](repeating: nil, count: axis.columns)][i] = r.value
        }
        return out
    }

    /// The values of the filters: label values seen in the range, and the final states.
    func choices() -> FilterChoices {
        var values: [String: [String]] = [:]
        for label in ["queue", "worker", "node"] {
            values[label] = collector.labels(label, lookback: Int(axis.span), now: now)
        }
        values["state"] = Self.finalStates
        return FilterChoices(values)
    }

    func checks() -> [QueueCheckRow] {
        let queues = controls.filters["queue"].map(Set.init)
        let nodes = controls.filters["node"].map(Set.init)
        return collector.checks(retention: settings.checkRetention, now: now).compactMap { c in
            guard queues?.contains(c.queue) ?? true, nodes?.contains(c.node) ?? true else { return nil }
            return QueueCheckRow(node: c.node, queue: c.queue, limit: c.limit, paused: c.paused, running: c.running.count, age: max(0, now - c.timestamp))
        }
    }

    /// Markers of the range, one per label and second (with every node that recorded it).
    func markers() -> [Marker] {
        var byKey: [String: Marker] = [:]
        for m in Markers.list(collector, since: axis.first) where m.ts < axis.end {
            let key = "\(m.ts)\u{1}\(m.label)"
            byKey[key, default: Marker(ts: m.ts, label: m.label, nodes: [])].nodes.append(m.node)
        }
        return byKey.values.sorted { ($0.ts, $0.label) < ($1.ts, $1.label) }
    }

    func clusterPanel(_ s: ClusterStatus) -> ClusterPanel {
        let bytes = collector.withStore { $0.pointBytes }
        return ClusterPanel(
            members: s.members.map {
                ClusterPanel.Member(name: $0.name, address: $0.address, status: $0.status, connected: $0.connected, seq: $0.seq,
                                    lastBatchAge: $0.lastBatchAge, lag: $0.lagSeconds, clockOffsetMs: $0.clockOffsetMs)
            },
            ready: s.ready, leader: s.leadership.leader, term: s.leadership.term, isLeader: s.leadership.isLeader,
            keyframe: s.keyframe.map { ($0.leader, $0.term, $0.number, $0.timestamp, $0.age) },
            postgresConfigured: s.postgres.configured, postgresReachable: s.postgres.reachable, postgresError: s.postgres.lastError,
            rows: s.store.rows, timelines: s.store.timelines, origins: s.store.origins, storeBytes: bytes.points + bytes.rollups,
            labelSetLimit: s.cardinality.limit, refusedEntries: s.cardinality.refusedEntries)
    }
}
