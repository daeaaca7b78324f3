import MetStore
import MetValues
import Testing

/// Generators and a receiver model shared by the property tests (merge, compaction, rollups,
/// corrupt chunks). Everything is driven by `SeededRandom`, and every failure message names the
/// seed of its case, so a failing case can be replayed alone by running the loop with that seed.
enum Prop {
    static let t0: Int64 = 1_800_000_000
    /// Small tiers so a few minutes of data reach every tier and expire: retention 600 s.
    static let smallTiers = try! CompactionTiers([(1, 10), (5, 60), (30, 600)])
    static let queues = ["q1", "q2", "q3"]
    static let workers = ["A", "B"]
    static let states = ["completed", "discarded", "retryable"]

    static func int(_ range: ClosedRange<Int>, _ rng: inout SeededRandom) -> Int { Int.random(in: range, using: &rng) }
    static func chance(_ p: Double, _ rng: inout SeededRandom) -> Bool { Double.random(in: 0..<1, using: &rng) < p }

    static func randomLabels(_ origin: Origin, _ rng: inout SeededRandom) -> LabelSet {
        LabelSet([
            "queue": queues.randomElement(using: &rng)!, "worker": workers.randomElement(using: &rng)!,
            "state": states.randomElement(using: &rng)!, "node": origin.node,
        ])
    }

    /// A batch of 1–4 integer-valued entries (so sketch sums are exact whatever the merge order).
    /// `kinds` limits the series used: `inserted` (count), `executing` (gauge), `exec_time` (sketch).
    static func batch(_ origin: Origin, seq: UInt64, ts: Int64, kinds: [SeriesKind] = SeriesKind.allCases,
                      rng: inout SeededRandom) -> DeltaBatch {
        var ignored: [Double] = []
        return batch(origin, seq: seq, ts: ts, kinds: kinds, rng: &rng, sketchValues: &ignored)
    }

    /// The same, appending every value recorded in a sketch to `sketchValues`.
    static func batch(_ origin: Origin, seq: UInt64, ts: Int64, kinds: [SeriesKind], rng: inout SeededRandom,
                      sketchValues: inout [Double]) -> DeltaBatch {
        var entries: [DeltaBatch.Entry] = []
        for _ in 0..<int(1...4, &rng) {
            let l = randomLabels(origin, &rng)
            switch kinds.randomElement(using: &rng)! {
            case .count:
                entries.append(.init(series: "inserted", labels: l, value: .count(Int64(int(1...9, &rng)))))
            case .gauge:
                entries.append(.init(series: "executing", labels: l, value: .gauge(Gauge(Double(int(0...20, &rng))))))
            case .sketch:
                var s = Sketch()
                for _ in 0..<int(1...4, &rng) {
                    let v = Double(int(1...1_000_000, &rng))
                    s.add(v)
                    sketchValues.append(v)
                }
                entries.append(.init(series: "exec_time", labels: l, value: .sketch(s)))
            }
        }
        return DeltaBatch(origin: origin, seq: seq, timestamp: ts, entries: entries)
    }

    /// What every origin broadcast, in sequence order per origin, timestamps non-decreasing.
    struct History {
        var origins: [Origin]
        var perOrigin: [[DeltaBatch]]
        /// Every batch once, by (timestamp, origin, seq): an order a live receiver could see.
        var all: [DeltaBatch]
        var end: Int64
    }

    /// 2–3 origins (two may be incarnations of the same node), `batches` each, `maxGap` seconds
    /// at most between an origin's batches (0 allowed: two batches in one second).
    static func history(_ rng: inout SeededRandom, origins: ClosedRange<Int> = 2...3, batches: ClosedRange<Int> = 6...20,
                        maxGap: Int? = nil, start: Int64 = t0, kinds: [SeriesKind] = SeriesKind.allCases) -> History {
        let n = int(origins, &rng)
        var os: [Origin] = []
        for i in 0..<n {
            // Sometimes a restart: same node name, new incarnation.
            if i > 0, chance(0.25, &rng) {
                os.append(Origin(node: os[i - 1].node, incarnation: os[i - 1].incarnation + 1))
            } else {
                os.append(Origin(node: "n\(i)", incarnation: UInt64(int(1...3, &rng))))
            }
        }
        let gap = maxGap ?? int(2...45, &rng)
        var perOrigin: [[DeltaBatch]] = []
        var tagged: [(DeltaBatch, Int)] = []
        for (k, o) in os.enumerated() {
            var ts = start + Int64(int(0...20, &rng))
            var list: [DeltaBatch] = []
            for s in 1...int(batches, &rng) {
                ts += Int64(int(0...gap, &rng))
                let b = batch(o, seq: UInt64(s), ts: ts, kinds: kinds, rng: &rng)
                list.append(b)
                tagged.append((b, k))
            }
            perOrigin.append(list)
        }
        tagged.sort { ($0.0.timestamp, $0.1, $0.0.seq) < ($1.0.timestamp, $1.1, $1.0.seq) }
        let all = tagged.map(\.0)
        return History(origins: os, perOrigin: perOrigin, all: all, end: all.map(\.timestamp).max() ?? start)
    }

    /// A snapshot of another replica, with the time it was taken.
    struct Donation {
        var snapshot: StoreSnapshot
        var time: Int64
    }

    /// A replica that saw a random prefix of every origin (some origins lagging), applied live,
    /// compacted at random moments, possibly merged an earlier donation, then snapshotted.
    static func donor(_ h: History, tiers: CompactionTiers, earlier: [Donation], rollupThreshold: Int = 32,
                      rng: inout SeededRandom) -> Donation {
        let store = SeriesStore(tiers: tiers, rollupThreshold: rollupThreshold)
        let cut = h.all.first!.timestamp + Int64(int(0...Int(h.end - h.all.first!.timestamp) + 30, &rng))
        var limit: [Origin: UInt64] = [:]
        for (k, o) in h.origins.enumerated() {
            let upTo = h.perOrigin[k].filter { $0.timestamp <= cut }.count
            limit[o] = UInt64(chance(0.3, &rng) ? int(0...upTo, &rng) : upTo)
        }
        var pendingMerges = earlier.filter { _ in chance(0.5, &rng) }
        var clock = h.all.first!.timestamp
        for b in h.all where b.seq <= limit[b.origin]! {
            clock = max(clock, b.timestamp)
            if let i = pendingMerges.firstIndex(where: { $0.time <= clock }), chance(0.3, &rng) {
                try! store.merge(pendingMerges.remove(at: i).snapshot, now: clock)
            }
            if case .gap = store.apply(b, now: clock) { preconditionFailure("a donor applying prefixes in order saw a gap") }
            if chance(0.1, &rng) { store.compact(now: clock) }
        }
        clock = max(clock, cut)
        if chance(0.5, &rng) { store.compact(now: clock) }
        return Donation(snapshot: store.snapshot(maxChunkBytes: int(150...3000, &rng)), time: clock)
    }

    /// Merges a snapshot either whole or chunk by chunk in random order with duplicated chunks,
    /// then the watermarks (never interleaved with anything else).
    static func deliver(_ snap: StoreSnapshot, to store: SeriesStore, now: Int64, rng: inout SeededRandom) throws {
        if chance(0.5, &rng) {
            try store.merge(snap, now: now)
        } else {
            var chunks = snap.chunks
            for c in snap.chunks where chance(0.3, &rng) { chunks.append(c) }
            chunks.shuffle(using: &rng)
            for c in chunks { try store.merge(chunk: c, now: now) }
            try store.merge(watermarks: snap.watermarks)
            if chance(0.2, &rng) { try store.merge(watermarks: snap.watermarks) }
        }
    }

    /// A live receiver: applies batches in sequence order per origin, buffering gapped ones and
    /// retrying them after every delivery, dropping duplicates.
    final class Receiver {
        let store: SeriesStore
        var clock: Int64
        var pending: [DeltaBatch] = []

        init(_ store: SeriesStore, clock: Int64) {
            self.store = store
            self.clock = clock
        }

        func receive(_ b: DeltaBatch, at time: Int64) {
            clock = max(clock, time)
            pending.append(b)
            drain()
        }

        func drain() {
            var progress = true
            while progress {
                progress = false
                var keep: [DeltaBatch] = []
                for b in pending.sorted(by: { $0.seq < $1.seq }) {
                    switch store.apply(b, now: clock) {
                    case .applied: progress = true
                    case .duplicate: break
                    case .gap: keep.append(b)
                    }
                }
                pending = keep
            }
        }
    }

    /// `answers` plus a few queries that read the data at other resolutions and with other ops.
    static func richAnswers(_ store: SeriesStore, now: Int64) throws -> [String] {
        var out = try answers(store, now: now)
        for group in [nil, "worker", "node"] as [String?] {
            let sel = Selection(series: "exec_time", lookback: 1800, group: group)
            out.append("exec_time/\(group ?? "-")/summary: \(try store.summary(sel, by: 30, now: now))")
            for op in [QueryOp.count, .sum, .max] {
                out.append("exec_time/\(group ?? "-")/\(op): \(try store.latest(sel, op: op, now: now).sorted { $0.key < $1.key })")
            }
            let ins = Selection(series: "inserted", lookback: 1800, group: group)
            out.append("inserted/\(group ?? "-")/by30: \(try store.timeslice(ins, by: 30, now: now))")
            let gauge = Selection(series: "executing", lookback: 1800, group: group)
            // `.avg` adds per-series averages (not integers): the store adds them in an order
            // every replica shares, so even these agree to the last bit (seed 45 found it).
            for op in [QueryOp.max, .avg] {
                out.append("executing/\(group ?? "-")/\(op): \(try store.timeslice(gauge, by: 30, op: op, now: now))")
            }
        }
        return out
    }

    /// The first line where two answer lists differ, for readable failure messages.
    static func firstDifference(_ a: [String], _ b: [String]) -> String {
        guard a.count == b.count else { return "different lengths \(a.count) vs \(b.count)" }
        for (x, y) in zip(a, b) where x != y { return "\n  got:      \(x.prefix(600))\n  expected: \(y.prefix(600))" }
        return "none"
    }

    /// Totals of the count and sketch observations of a set of batches.
    static func totals(_ batches: some Sequence<DeltaBatch>) -> (inserted: Int64, observations: UInt64) {
        var inserted: Int64 = 0
        var observations: UInt64 = 0
        for b in batches {
            for e in b.entries {
                switch e.value {
                case .count(let n): inserted += n
                case .sketch(let s): observations += s.count
                case .gauge: break
                }
            }
        }
        return (inserted, observations)
    }

    /// The store's totals of `inserted` and of `exec_time` observations over `lookback`.
    static func storeTotals(_ store: SeriesStore, now: Int64, lookback: Int = 9300) throws -> (inserted: Int64, observations: UInt64) {
        let ins = try store.latest(Selection(series: "inserted", lookback: lookback), now: now)["all"] ?? 0
        let obs = try store.latest(Selection(series: "exec_time", lookback: lookback), op: .count, now: now)["all"] ?? 0
        return (Int64(ins), UInt64(obs))
    }
}
