import MetStore
import MetValues

/// The reference data sets of DESIGN §8, generated from fixed seeds.
enum Datasets {
    static let now: Int64 = 1_800_000_000

    /// Bucket starts and steps of one timeline holding full retention in steady state.
    static func steadyStateBuckets(_ tiers: CompactionTiers = .default) -> [(ts: Int64, step: Int)] {
        var out: [(Int64, Int)] = []
        var ts = now - Int64(tiers.retention)
        while ts <= now {
            guard let step = tiers.targetStep(for: ts, now: now) else { ts += 1; continue }
            let start = bucketStart(ts, step: step)
            if out.last.map({ $0.0 != start }) ?? true, start + Int64(step) > now - Int64(tiers.retention) || true {
                if tiers.targetStep(for: start, now: now) != nil { out.append((start, step)) }
            }
            ts = start + Int64(step)
        }
        return out
    }

    static func sketch(_ rng: inout SplitMix64, values: Int) -> Sketch {
        var s = Sketch()
        for _ in 0..<values { s.add(rng.lognormal()) }
        return s
    }

    /// The 260k-row mixed store: 600 timelines (150 label sets × exec_time, wait_time,
    /// executing, inserted), half sketches of 1–50 lognormal values, half gauges and counts.
    /// `raw`: instead of the steady-state tiers, each timeline holds the same number of
    /// 1-second points at random seconds of the retention, all still to be compacted.
    /// `nodes`: 3 for the 260k-row store; 12 makes the same mix four times as big (1,046,400 rows).
    static func mixed260k(raw: Bool, seed: UInt64 = 7, nodes: Int = 3) -> [TimelineSnapshot] {
        var rng = SplitMix64(seed: seed)
        let buckets = steadyStateBuckets()
        var out: [TimelineSnapshot] = []
        for series in ["exec_time", "wait_time", "executing", "inserted"] {
            for node in 1...nodes {
                for queue in 1...5 {
                    for worker in 1...5 {
                        for state in ["completed", "discarded"] {
                            let labels = LabelSet(["node": "n\(node)", "queue": "q\(queue)", "worker": "Worker\(worker)", "state": state])
                            let origin = Origin(node: "n\(node)", incarnation: 1)
                            var layout = buckets
                            if raw {
                                var seconds = Set<Int64>()
                                while seconds.count < buckets.count {
                                    seconds.insert(now - 9299 + Int64(rng.next() % 9299))
                                }
                                layout = seconds.sorted().map { ($0, 1) }
                            }
                            let points = layout.enumerated().map { (i, b) in
                                TimelineSnapshot.Point(ts: b.ts, step: b.step, seq: UInt64(i + 1), value: value(series, &rng))
                            }
                            out.append(TimelineSnapshot(series: series, labels: labels, origin: origin, points: points))
                        }
                    }
                }
            }
        }
        return out
    }

    static func value(_ series: String, _ rng: inout SplitMix64) -> PointValue {
        switch series {
        case "executing":
            let last = Double(rng.next() % 20)
            return .gauge(Gauge(last: last, max: last + Double(rng.next() % 5), sum: last * 3, samples: 3))
        case "inserted":
            return .count(Int64(rng.next() % 500))
        default:
            return .sketch(sketch(&rng, values: Int(rng.next() % 50) + 1))
        }
    }

    /// `exec_time` over 10k series (20 queues × 25 workers × 5 states × 4 nodes) at full
    /// retention; a bucket of `step` seconds holds 1...step/2 (at least 1, at most 50) values.
    /// `withCounts`: also the `exec_count` of the same label sets and buckets (each the number
    /// of values of its sketch), as a recorder writes it beside `exec_time`.
    static func loadTimeslice10k(into store: SeriesStore, seed: UInt64 = 11, withCounts: Bool = false) throws {
        var rng = SplitMix64(seed: seed)
        let buckets = steadyStateBuckets()
        let states = ["completed", "discarded", "retryable", "cancelled", "scheduled"]
        for node in 1...4 {
            let origin = Origin(node: "n\(node)", incarnation: 1)
            for queue in 1...20 {
                for worker in 1...25 {
                    for state in states {
                        let labels = LabelSet(["node": "n\(node)", "queue": "q\(queue)", "worker": "Worker\(worker)", "state": state])
                        var counts: [TimelineSnapshot.Point] = []
                        let points = buckets.enumerated().map { (i, b) in
                            let k = Int(rng.next() % UInt64(max(1, min(50, b.step / 2)))) + 1
                            if withCounts { counts.append(TimelineSnapshot.Point(ts: b.ts, step: b.step, seq: UInt64(i + 1), value: .count(Int64(k)))) }
                            return TimelineSnapshot.Point(ts: b.ts, step: b.step, seq: UInt64(i + 1), value: .sketch(sketch(&rng, values: k)))
                        }
                        try store.merge(TimelineSnapshot(series: "exec_time", labels: labels, origin: origin, points: points), now: now)
                        if withCounts {
                            try store.merge(TimelineSnapshot(series: "exec_count", labels: labels, origin: origin, points: counts), now: now)
                        }
                    }
                }
            }
        }
    }
}
