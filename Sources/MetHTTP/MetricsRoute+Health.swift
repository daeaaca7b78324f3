import MetRuntime

/// The node's own health in `/metrics` (RELIABILITY O2, L8; docs/metrics.md).
extension MetricsRoute {
    static let peerStates = ["alive", "suspect", "alive (indirect)", "down"]

    static func nodeHealth(_ out: inout PrometheusText, _ h: NodeHealth, _ node: NodeRuntime) {
        let s = h.status
        out.family("met_node_info", .gauge, "This node: cluster, name and incarnation (always 1)")
        out.sample("met_node_info", [("cluster", s.cluster), ("node", s.node), ("incarnation", String(s.incarnation))], 1)
        out.single("met_node_start_time_seconds", .gauge, "When this node process started (unix seconds)", Double(s.startedAt))
        out.single("met_ready", .gauge, "1 once this node holds what its peers held when it joined (RELIABILITY C6)", s.ready ? 1 : 0)

        // Per peer (bounded by the cluster's size).
        out.family("met_peer_state", .gauge, "1 for the state this node judges each peer to be in, 0 for the others")
        for p in h.peers {
            for state in peerStates { out.sample("met_peer_state", [("peer", p.name), ("state", state)], p.status == state ? 1 : 0) }
        }
        peerFamily(&out, h, "met_peer_connected", "1 while this node has an established connection to the peer") { $0.link == nil ? 0 : 1 }
        peerFamily(&out, h, "met_peer_flapping", "1 while the peer is flapping (more than 3 downs within flapWindow)") { $0.flapping ? 1 : 0 }
        peerFamily(&out, h, "met_peer_queue_bytes", "Bytes queued to the peer and not yet written to its socket") { $0.link.map { Double($0.queuedBytes) } }
        peerFamily(&out, h, "met_peer_connection_age_seconds", "Seconds since the connection to the peer opened") { $0.link.map { Double($0.ageMilliseconds) / 1000 } }
        peerFamily(&out, h, "met_peer_clock_offset_seconds", "The peer's wall clock minus this node's, from its last heartbeat") { $0.clockOffsetMs.map { Double($0) / 1000 } }
        let lags = Dictionary(s.members.map { ($0.name, $0.lagSeconds) }, uniquingKeysWith: { a, _ in a })
        peerFamily(&out, h, "met_peer_batch_lag_seconds", "Seconds between the end of the second the peer's last batch covers and this node applying it") { lags[$0.name].flatMap { $0 }.map(Double.init) }

        // What the membership and the mesh counted.
        let c = h.seams
        out.single("met_membership_suspicions_total", .counter, "Peers that became suspect", Double(c.suspicions))
        out.single("met_membership_refutations_total", .counter, "Suspects heard from again before they went down", Double(c.refutations))
        out.single("met_membership_downs_total", .counter, "Peers judged down", Double(c.downs))
        out.single("met_membership_recoveries_total", .counter, "Peers alive again after being down", Double(c.recoveries))
        out.single("met_membership_joins_total", .counter, "Members that joined", Double(c.joins))
        out.single("met_membership_restarts_total", .counter, "Members seen with a new incarnation", Double(c.restarts))
        out.single("met_mesh_resyncs_total", .counter, "Snapshots of this node's own data sent to a peer that missed batches (RELIABILITY M7)", Double(c.resyncs))
        out.single("met_mesh_full_snapshots_total", .counter, "Snapshots of the whole store planned for a peer (a joiner's catch-up or a handoff)", Double(c.fullSnapshots))
        out.single("met_snapshot_chunks_sent_total", .counter, "Snapshot and handoff chunks sent", Double(c.chunksSent))
        out.single("met_snapshot_chunk_bytes_sent_total", .counter, "Bytes of the snapshot and handoff chunks sent", Double(c.chunkBytesSent))
        out.single("met_snapshot_chunks_merged_total", .counter, "Snapshot and handoff chunks received and merged", Double(c.chunksMerged))
        out.single("met_snapshot_chunk_bytes_merged_total", .counter, "Bytes of the snapshot and handoff chunks merged", Double(c.chunkBytesMerged))
        if let m = h.mesh {
            out.family("met_mesh_rejected_connections_total", .counter, "Mesh connections closed before or at authentication, by reason (at most \(maxReasons) reasons; the rest under other)")
            let sorted = m.rejections.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            for (reason, n) in sorted.prefix(maxReasons) { out.sample("met_mesh_rejected_connections_total", [("reason", String(reason.prefix(160)))], n) }
            let rest = sorted.dropFirst(maxReasons).reduce(0) { $0 + $1.value }
            if rest > 0 { out.sample("met_mesh_rejected_connections_total", [("reason", "other")], rest) }
            out.single("met_mesh_dial_failures_total", .counter, "Dials of a peer that failed", Double(m.dialFailures))
            out.single("met_mesh_relayed_frames_total", .counter, "Frames relayed for peers that could not hear their origin", Double(m.relayedFrames))
            out.single("met_mesh_heartbeats_received_total", .counter, "Heartbeat frames received", Double(m.heartbeatsReceived))
        }

        // Loop, leadership, store, label sets.
        if let lag = s.loopLag {
            out.single("met_loop_lag_max_seconds", .gauge, "How late the mesh loop's 100 ms timer fired at most over the last minute (RELIABILITY L8)", lag.maxMs / 1000)
            out.single("met_loop_lag_p99_seconds", .gauge, "The 99th percentile of that lateness over the last minute", lag.p99Ms / 1000)
        }
        out.single("met_leader", .gauge, "1 while this node holds the keyframe lease", s.leadership.isLeader ? 1 : 0)
        if let term = s.leadership.term { out.single("met_lease_term", .gauge, "The keyframe lease's latest term this node knows", Double(term)) }
        if let k = s.keyframe { out.single("met_keyframe_age_seconds", .gauge, "Age of the keyframe full_count is served from", Double(k.age)) }
        if s.postgres.configured {
            out.single("met_postgres_reachable", .gauge, "1 while Postgres answers this node", s.postgres.reachable == true ? 1 : 0)
        }
        out.single("met_store_rows", .gauge, "Points in this node's replica (rollups not included)", Double(s.store.rows))
        out.single("met_store_timelines", .gauge, "Series, label set and origin triples in this node's replica", Double(s.store.timelines))
        out.single("met_store_origins", .gauge, "Origins (node processes) with data in this node's replica", Double(s.store.origins))
        out.single("met_label_set_limit", .gauge, "maxLabelSets: most label sets one node may have in one series", Double(s.cardinality.limit))
        out.family("met_label_set_entries_refused_total", .counter, "Entries this replica refused for the label-set limit, by series")
        for (series, n) in s.cardinality.refusedEntries.sorted(by: { $0.key < $1.key }) { out.sample("met_label_set_entries_refused_total", [("series", series)], n) }
        out.family("met_label_set_requests_refused_total", .counter, "POST /api/events requests refused for the label-set limit, by series")
        for (series, n) in s.cardinality.refusedRequests.sorted(by: { $0.key < $1.key }) { out.sample("met_label_set_requests_refused_total", [("series", series)], n) }
    }

    private static func peerFamily(_ out: inout PrometheusText, _ h: NodeHealth, _ name: String, _ help: String, _ value: (NodeHealth.Peer) -> Double?) {
        out.family(name, .gauge, help)
        for p in h.peers { if let v = value(p) { out.sample(name, [("peer", p.name)], v) } }
    }
}
