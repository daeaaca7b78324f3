import MetStore
import MetValues
import Testing

/// Rollups are derived state: under any random mix of live batches (in any order, with
/// duplicates), compactions and snapshot merges that replace windows, a store keeping them
/// (`rollupThreshold: 1`) answers every grouped query exactly like one that scans (`.max`).
@Suite struct RollupPropertyTests {
    enum Input {
        case batch(DeltaBatch)
        case snapshot(Prop.Donation)
        case compact
        case check
    }

    /// Query results kept as values (describing them as strings costs more than the queries).
    struct Answers: Equatable {
        var names: [String] = []
        var slices: [[SliceRow]] = []
        var summaries: [[SummaryRow]] = []
        var latest: [[String: Double]] = []

        /// The name and both values of the first query that differs.
        func difference(from other: Answers) -> String {
            var si = 0, mi = 0, li = 0
            for name in names {
                if name.hasPrefix("S ") {
                    if slices[si] != other.slices[si] { return "\(name):\n  rollups: \(slices[si])\n  scan:    \(other.slices[si])" }
                    si += 1
                } else if name.hasPrefix("M ") {
                    if summaries[mi] != other.summaries[mi] { return "\(name):\n  rollups: \(summaries[mi])\n  scan:    \(other.summaries[mi])" }
                    mi += 1
                } else {
                    if latest[li] != other.latest[li] { return "\(name):\n  rollups: \(latest[li])\n  scan:    \(other.latest[li])" }
                    li += 1
                }
            }
            return "none"
        }
    }

    /// Grouped answers. `resolutionFree`: only windows that are multiples of the coarsest step and
    /// ops that do not depend on how the points of a window are bucketed (sums, sketches).
    /// Otherwise: finer windows and count max/avg, which are over the stored buckets' totals.
    static func groupedAnswers(_ store: SeriesStore, now: Int64, resolutionFree: Bool) throws -> Answers {
        var out = Answers()
        func slice(_ name: String, _ sel: Selection, by: Int, op: QueryOp? = nil) throws {
            out.names.append("S \(name) by\(by)")
            out.slices.append(try store.timeslice(sel, by: by, op: op, now: now))
        }
        func summary(_ name: String, _ sel: Selection, by: Int) throws {
            out.names.append("M \(name) by\(by)")
            out.summaries.append(try store.summary(sel, by: by, now: now))
        }
        func latest(_ name: String, _ sel: Selection, op: QueryOp? = nil) throws {
            out.names.append("L \(name)")
            out.latest.append(try store.latest(sel, op: op, now: now))
        }
        let coarsest = store.tiers.tiers.last!.step
        let bys = resolutionFree ? [coarsest, 2 * coarsest] : [store.tiers.tiers[1].step, coarsest]
        for group in (resolutionFree ? [nil, "queue", "state"] : [nil, "queue", "node"]) as [String?] {
            let g = group ?? "-"
            let ins = Selection(series: "inserted", lookback: 1200, group: group)
            for op in resolutionFree ? [QueryOp.sum] : [.sum, .max, .avg] {
                for by in bys { try slice("inserted \(g) \(op)", ins, by: by, op: op) }
            }
            guard resolutionFree else { continue }
            try latest("inserted \(g)", ins)
            let ex = Selection(series: "exec_time", lookback: 1200, group: group)
            for op in [QueryOp.quantile(0.99), .count, .sum, .max] { try slice("exec_time \(g) \(op)", ex, by: coarsest, op: op) }
            for op in [QueryOp.quantile(0.5), .count] { try latest("exec_time \(g) \(op)", ex, op: op) }
            try summary("exec_time \(g)", ex, by: 2 * coarsest)
        }
        guard resolutionFree else { return out }
        // A filter on the grouped label only (rollups answer it) and on another label (scan).
        for (group, filter) in [("queue", LabelFilter("queue", ["q1", "q3"])), ("worker", LabelFilter("queue", ["q2"]))] {
            try summary("filtered exec_time \(group)", Selection(series: "exec_time", lookback: 1200, group: group, filters: [filter]), by: coarsest)
            try slice("filtered inserted \(group)", Selection(series: "inserted", lookback: 1200, group: group, filters: [filter]), by: coarsest)
        }
        return out
    }

    @Test func rollupsAnswerLikeAScanUnderRandomInputs() throws {
        for seed in UInt64(1)...50 {
            guard try rollupCase(seed: seed, resolutionFree: true) else { return }
        }
    }

    /// The same with finer windows and count max/avg: rollups must keep the buckets of the
    /// timelines they sum (Query.swift: "so that a rollup (already summed) and a scan give the
    /// same answer").
    @Test func rollupsKeepTheResolutionOfTheTimelines() throws {
        for seed in UInt64(1)...50 {
            guard try rollupCase(seed: seed, resolutionFree: false) else { return }
        }
    }

    func rollupCase(seed: UInt64, resolutionFree: Bool) throws -> Bool {
        var rng = SeededRandom(seed: seed &* 2_147_483_647 &+ 13)
        let tiers = seed % 3 == 0 ? CompactionTiers.default : Prop.smallTiers
        let h = Prop.history(&rng)
        var donations: [Prop.Donation] = []
        for _ in 0..<Prop.int(1...3, &rng) {
            donations.append(Prop.donor(h, tiers: tiers, earlier: donations, rollupThreshold: Prop.int(1...40, &rng), rng: &rng))
        }
        let start = h.all.first!.timestamp
        var inputs: [(Input, Int64)] = h.all.map { (.batch($0), $0.timestamp) } + donations.map { (.snapshot($0), $0.time) }
        for x in inputs where Prop.chance(0.2, &rng) { inputs.append(x) }
        for _ in 0..<Prop.int(1...5, &rng) { inputs.append((.compact, start + Int64(Prop.int(0...Int(h.end - start) + 60, &rng)))) }
        for _ in 0..<1 { inputs.append((.check, start + Int64(Prop.int(0...Int(h.end - start) + 60, &rng)))) }
        inputs = inputs.map { ($0.0, $0.1 + Int64(Prop.int(0...100, &rng))) }
        inputs.shuffle(using: &rng)
        if Prop.chance(0.5, &rng) { inputs.sort { $0.1 < $1.1 } }

        let rolled = Prop.Receiver(SeriesStore(tiers: tiers, rollupThreshold: 1), clock: start)
        let scanning = Prop.Receiver(SeriesStore(tiers: tiers, rollupThreshold: .max), clock: start)
        var checks = 0
        func compare(_ what: String) throws -> Bool {
            checks += 1
            let now = rolled.clock
            let a = try Self.groupedAnswers(rolled.store, now: now, resolutionFree: resolutionFree)
            let b = try Self.groupedAnswers(scanning.store, now: now, resolutionFree: resolutionFree)
            if a != b {
                Issue.record("seed \(seed) \(what) at t0+\(now - Prop.t0): rollups differ from a scan: \(a.difference(from: b))")
                return false
            }
            return true
        }
        for (input, time) in inputs {
            switch input {
            case .batch(let b):
                rolled.receive(b, at: time)
                scanning.receive(b, at: time)
            case .snapshot(let d):
                for r in [rolled, scanning] { r.clock = max(r.clock, time, d.time) }
                var same = rng
                try Prop.deliver(d.snapshot, to: rolled.store, now: rolled.clock, rng: &rng)
                try Prop.deliver(d.snapshot, to: scanning.store, now: scanning.clock, rng: &same)
                rolled.drain()
                scanning.drain()
                if Prop.chance(0.3, &rng) {
                    guard try compare("after a snapshot merge") else { return false }
                }
            case .compact:
                for r in [rolled, scanning] {
                    r.clock = max(r.clock, time)
                    r.store.compact(now: r.clock)
                }
            case .check:
                for r in [rolled, scanning] { r.clock = max(r.clock, time) }
                guard try compare("at a check") else { return false }
            }
        }
        guard try compare("at the end") else { return false }
        for r in [rolled, scanning] { r.store.compact(now: r.clock + 30) }
        rolled.clock += 30
        return try compare("after a final compaction")
    }

    // MARK: Minimal cases

    /// A snapshot replaces one timeline's fine point with a coarser bucket: the rollup folds the
    /// other timelines' fine points of that bucket into it, so per-bucket max/avg (and windows
    /// finer than the bucket) differ from a scan.
    @Test func coarseSnapshotBucketKeepsRollupResolution() throws {
        let now = Prop.t0 + 100
        var results: [Double] = []
        for threshold in [1, Int.max] {
            let store = SeriesStore(tiers: Prop.smallTiers, rollupThreshold: threshold)
            for (queue, ts, n) in [("q1", Prop.t0 + 36, Int64(1)), ("q2", Prop.t0 + 37, Int64(2))] {
                try store.merge(TimelineSnapshot(series: "inserted", labels: labels(queue), origin: nodeA,
                                                 points: [.init(ts: ts, step: 1, seq: 1, value: .count(n))]), now: now)
            }
            try store.merge(TimelineSnapshot(series: "inserted", labels: labels("q1"), origin: nodeA,
                                             points: [.init(ts: Prop.t0 + 35, step: 5, seq: 2, value: .count(1))]), now: now)
            results.append(try store.latest(Selection(series: "inserted", lookback: 600), op: .max, now: now)["all"] ?? .nan)
        }
        #expect(results[0] == results[1], "max per bucket with rollups \(results[0]), scanning \(results[1])")
    }

    /// A rollup sketch bucket left with one observation after a snapshot merge subtracts the
    /// replaced copy must keep that observation (not the stale minimum of the removed ones).
    @Test func rollupSketchLeftWithOneObservation() throws {
        let now = Prop.t0 + 100
        var rows: [[SummaryRow]] = []
        for threshold in [1, Int.max] {
            let store = SeriesStore(tiers: Prop.smallTiers, rollupThreshold: threshold)
            func merge(_ queue: String, _ ts: Int64, _ step: Int, _ seq: UInt64, _ values: [Double]) throws {
                try store.merge(TimelineSnapshot(series: "exec_time", labels: labels(queue), origin: nodeA,
                                                 points: [.init(ts: ts, step: step, seq: seq, value: .sketch(Sketch(values)))]), now: now)
            }
            try merge("q1", Prop.t0 + 36, 1, 1, [122_653, 915_011])
            try merge("q2", Prop.t0 + 36, 1, 1, [976_042])
            try merge("q1", Prop.t0 + 35, 5, 2, [122_653, 915_011, 5, 7])  // newer copy, a superset
            rows.append(try store.summary(Selection(series: "exec_time", lookback: 600), by: 30, now: now))
        }
        #expect(rows[0] == rows[1], "with rollups \(rows[0]) vs scanning \(rows[1])")
        // The root cause, in MetValues: a sketch with one observation left after `remove` keeps
        // its old min, and the single-value encoding writes that min.
        var s = Sketch([122_653, 915_011, 976_042])
        let removed = s.remove(Sketch([122_653, 915_011]))
        #expect(removed)
        #expect(try Sketch(decoding: s.encoded()).sum == 976_042)
    }
}
