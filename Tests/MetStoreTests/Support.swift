import MetStore
import MetValues
import MetTestSupport

/// The shared seeded generator (MetTestSupport).
typealias SeededRandom = SplitMix64

let nodeA = Origin(node: "a", incarnation: 1)
let nodeB = Origin(node: "b", incarnation: 7)

func labels(_ queue: String, _ worker: String = "W", _ state: String = "completed", node: String = "a") -> LabelSet {
    LabelSet(["queue": queue, "worker": worker, "state": state, "node": node])
}

/// A batch with a count, a gauge and a sketch entry per queue.
func mixedBatch(_ origin: Origin, seq: UInt64, ts: Int64, queues: [String], rng: inout SeededRandom) -> DeltaBatch {
    var entries: [DeltaBatch.Entry] = []
    for q in queues {
        let l = labels(q, node: origin.node)
        entries.append(.init(series: "inserted", labels: l, value: .count(Int64(rng.next() % 5 + 1))))
        entries.append(.init(series: "executing", labels: l, value: .gauge(Gauge(Double(rng.next() % 10)))))
        var s = Sketch()
        for _ in 0..<(rng.next() % 5 + 1) { s.add(Double(rng.next() % 1_000_000 + 1)) }
        entries.append(.init(series: "exec_time", labels: l, value: .sketch(s)))
    }
    return DeltaBatch(origin: origin, seq: seq, timestamp: ts, entries: entries)
}

/// Every answer a store gives for a few representative queries, for comparing replicas.
func answers(_ store: SeriesStore, now: Int64) throws -> [String] {
    var out: [String] = []
    for series in ["inserted", "executing", "exec_time"] {
        for group in [nil, "queue", "state"] as [String?] {
            let sel = Selection(series: series, lookback: 9300, group: group)
            out.append("\(series)/\(group ?? "-")/ts: \(try store.timeslice(sel, by: 60, now: now))")
            out.append("\(series)/\(group ?? "-")/latest: \(try store.latest(sel, now: now).sorted { $0.key < $1.key })")
        }
    }
    return out
}
