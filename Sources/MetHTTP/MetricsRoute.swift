import Foundation
import Hummingbird
import MetRecorder
import MetRuntime
import MetStore

/// `GET /metrics`: the node in the Prometheus text format (docs/metrics.md): its own job
/// series since it started, `full_count` from the keyframe, and its health (RELIABILITY O2).
/// Hand-encoded (``PrometheusText``): the values are read from the node at scrape time, and
/// the job series need summaries, which swift-prometheus does not offer.
enum MetricsRoute {
    /// Most rejection reasons listed; the rest are summed under `other`.
    static let maxReasons = 20

    static func add(to router: Router<BasicRequestContext>, node: NodeRuntime, guarded: HTTPGuard) {
        router.get("/metrics") { _, _ in
            let text = await render(node, guarded: guarded)
            return Response(status: .ok, headers: [.contentType: PrometheusText.contentType, .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    static func render(_ node: NodeRuntime, guarded: HTTPGuard?) async -> String {
        var out = PrometheusText()
        let health = await node.health()
        jobSeries(&out, node.ownTotals.read(now: node.recorder.clock.second()))
        fullCount(&out, await Blocking.run { node.collector.fullCount().counts })  // takes the replica's lock
        nodeHealth(&out, health, node)
        if let guarded { http(&out, guarded) }
        return out.text
    }

    /// Series whose sketches hold nanoseconds, exposed in seconds.
    static let nanosecondSeries: Set<String> = ["exec_time", "wait_time"]

    static func jobSeries(_ out: inout PrometheusText, _ totals: OwnJobTotals.State) {
        func labels(_ l: LabelSet) -> [(String, String)] { l.pairs.map { ($0.key, $0.value) } }
        for (series, keys) in Dictionary(grouping: totals.counts.keys, by: \.series).sorted(by: { $0.key < $1.key }) {
            let name = "met_\(series)_total"
            out.family(name, .counter, "Events of \(series) this node recorded since it started (its own events only; sum over every node for the cluster)")
            for key in keys.sorted(by: { $0.labels.description < $1.labels.description }) { out.sample(name, labels(key.labels), Double(totals.counts[key]!)) }
        }
        for (series, keys) in Dictionary(grouping: totals.sketches.keys, by: \.series).sorted(by: { $0.key < $1.key }) {
            let seconds = nanosecondSeries.contains(series)
            let name = seconds ? "met_\(series)_seconds" : "met_\(series)"
            let scale = seconds ? 1e-9 : 1
            out.family(name, .summary, "\(series) of this node's own jobs\(seconds ? " in seconds" : ""): quantiles over the last \(OwnJobTotals.windowSeconds)-\(2 * OwnJobTotals.windowSeconds) s (NaN when none), _sum and _count since it started")
            for key in keys.sorted(by: { $0.labels.description < $1.labels.description }) {
                let t = totals.sketches[key]!
                let recent = t.recent
                for q in [0.5, 0.95, 0.99] {
                    out.sample(name, labels(key.labels) + [("quantile", PrometheusText.format(q))], recent.quantile(q).map { $0 * scale } ?? .nan)
                }
                out.sample(name + "_sum", labels(key.labels), t.sum * scale)
                out.sample(name + "_count", labels(key.labels), Double(t.count))
            }
        }
        for (series, keys) in Dictionary(grouping: totals.gauges.keys, by: \.series).sorted(by: { $0.key < $1.key }) {
            let name = "met_\(series)"
            out.family(name, .gauge, "\(series) of this node's own jobs, its last reported level")
            for key in keys.sorted(by: { $0.labels.description < $1.labels.description }) { out.sample(name, labels(key.labels), totals.gauges[key]!) }
        }
        out.family("met_metrics_label_sets_dropped_total", .counter,
                   "Label sets of a series not exposed here because it had \(OwnJobTotals.maxLabelSets) already (the cap of /metrics)")
        for (series, n) in totals.dropped.sorted(by: { $0.key < $1.key }) { out.sample("met_metrics_label_sets_dropped_total", [("series", series)], n) }
    }

    static func fullCount(_ out: inout PrometheusText, _ counts: [JobGroup: Int64]?) {
        out.family("met_full_count", .gauge, "Jobs in oban_jobs by state and queue, from the leader's latest keyframe and deltas (the same on every node; absent before the first keyframe)")
        for (group, n) in (counts ?? [:]).sorted(by: { $0.key < $1.key }) {
            out.sample("met_full_count", [("state", group.state), ("queue", group.queue)], Double(n))
        }
    }

    static func http(_ out: inout PrometheusText, _ guarded: HTTPGuard) {
        out.family("met_http_requests_refused_total", .counter, "HTTP requests refused by the guard or a limit, by reason")
        for (reason, n) in guarded.refused.sorted(by: { $0.key < $1.key }) { out.sample("met_http_requests_refused_total", [("reason", reason)], n) }
        out.single("met_http_requests_in_flight", .gauge, "HTTP requests being served (this scrape included)", Double(guarded.serving))
    }
}
