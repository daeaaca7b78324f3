import Foundation
import MetRecorder
import MetStore
import MetValues
import MetWire

/// `wire.json_ratio` (DESIGN §8): bytes of a broadcast frame ÷ the same deltas as JSON, the way
/// Oban.Met broadcasts them (sketch bins as an index → count object).
enum WireBench {
    /// One second of a busy node: 20 queues × 5 workers, 2,000 job stops, engine operations,
    /// transitions, executing levels and queue checks, taken from a real recorder.
    static func busySecond(seed: UInt64 = 5) -> DeltaBatch {
        var rng = SplitMix64(seed: seed)
        let recorder = NodeRecorder(origin: Origin(node: "worker-1", incarnation: 1_764_000_000_000_000_000))
        for j in 0..<2_000 {
            let q = "queue_\(rng.next() % 20)"
            let h = recorder.handle(queue: q, worker: "MyApp.Workers.Worker\(rng.next() % 5)")
            h.start()
            if j % 10 != 0 { h.stop(j % 17 == 0 ? .retryable : .completed, execNs: Int64(rng.lognormal()), waitNs: Int64(rng.lognormal(median: 2e6))) }
            recorder.record(.inserted, queue: q, state: .available)
            recorder.record(.fetched, queue: q)
            recorder.transition(queue: q, from: .available, to: .executing)
        }
        for q in 0..<20 { recorder.queueCheck(queue: "queue_\(q)", limit: 10, paused: false, running: [Int64(q * 100 + 1), Int64(q * 100 + 2)], timestamp: 1_800_000_000) }
        return recorder.takeBatch(timestamp: 1_800_000_000)
    }

    static func json(_ batch: DeltaBatch) -> [UInt8] {
        var entries: [[String: Any]] = []
        for e in batch.entries {
            var entry: [String: Any] = ["series": e.series, "labels": Dictionary(uniqueKeysWithValues: e.labels.pairs.map { ($0.key, $0.value) })]
            switch e.value {
            case .count(let n): entry["count"] = n
            case .gauge(let g): entry["gauge"] = ["last": g.last, "max": g.max, "sum": g.sum, "samples": g.samples]
            case .sketch(let s):
                var bins: [String: UInt64] = [:]
                s.forEachBin { sign, index, count in bins[sign < 0 ? "-\(index)" : sign == 0 ? "z" : String(index)] = count }
                entry["sketch"] = ["count": s.count, "sum": s.sum, "min": s.min, "max": s.max, "bins": bins]
            }
            entries.append(entry)
        }
        let checks = batch.checks.map { c -> [String: Any] in
            ["node": c.node, "queue": c.queue, "limit": c.limit, "paused": c.paused, "running": c.running, "timestamp": c.timestamp]
        }
        let object: [String: Any] = [
            "origin": ["node": batch.origin.node, "incarnation": batch.origin.incarnation],
            "seq": batch.seq, "timestamp": batch.timestamp, "entries": entries, "checks": checks,
        ]
        return Array(try! JSONSerialization.data(withJSONObject: object))
    }

    static func jsonRatio() {
        let batch = busySecond()
        let frame = Frame(type: .batch, payload: BatchCodec.encode(batch)).encoded()
        let text = json(batch)
        report("wire.json_ratio", Double(frame.count) / Double(text.count), "x",
               note: "\(frame.count) B framed binary vs \(text.count) B JSON for one busy second (\(batch.entries.count) entries)")
    }
}
