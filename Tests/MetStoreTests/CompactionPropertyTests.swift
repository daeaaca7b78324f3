import MetStore
import MetValues
import Testing

/// DESIGN §3 compaction: aligned tiers, exact totals, sketch quantiles within 1 %, expiry.
@Suite struct CompactionPropertyTests {
    static let tierChoices: [CompactionTiers] = [
        Prop.smallTiers,
        try! CompactionTiers([(1, 10), (5, 60)]),
        try! CompactionTiers([(2, 20), (10, 120), (60, 900)]),
        try! CompactionTiers([(1, 4), (3, 30), (15, 200), (45, 450)]),
    ]

    struct Recorded {
        var batches: [DeltaBatch] = []
        /// (finest bucket, value) of every sketch observation.
        var observations: [(ts: Int64, value: Double)] = []
    }

    /// 1–3 origins, batches in time order (interleaved), with every sketch input recorded.
    static func record(_ rng: inout SeededRandom, tiers: CompactionTiers) -> Recorded {
        var out = Recorded()
        var tagged: [(DeltaBatch, [Double])] = []
        let gap = Prop.int(1...40, &rng)
        for k in 0..<Prop.int(1...3, &rng) {
            let origin = Origin(node: "c\(k)", incarnation: 1)
            var ts = Prop.t0 + Int64(Prop.int(0...30, &rng))
            for seq in 1...Prop.int(10...40, &rng) {
                ts += Int64(Prop.int(0...gap, &rng))
                var values: [Double] = []
                let b = Prop.batch(origin, seq: UInt64(seq), ts: ts, kinds: SeriesKind.allCases, rng: &rng, sketchValues: &values)
                tagged.append((b, values))
            }
        }
        tagged.sort { ($0.0.timestamp, $0.0.origin.node, $0.0.seq) < ($1.0.timestamp, $1.0.origin.node, $1.0.seq) }
        for (b, values) in tagged {
            out.batches.append(b)
            let fine = bucketStart(b.timestamp, step: tiers.finestStep)
            out.observations += values.map { (fine, $0) }
        }
        return out
    }

    /// Answers that must not change when compaction changes only resolution: windows of the
    /// coarsest step, from an aligned start at or after every expiry.
    static func resolutionFreeAnswers(_ store: SeriesStore, since: Int64, by: Int, now: Int64) throws -> [String] {
        var out: [String] = []
        for group in [nil, "queue", "worker"] as [String?] {
            let sel = Selection(series: "inserted", since: since, group: group)
            out.append("inserted \(group ?? "-") \(try store.timeslice(sel, by: by, now: now))")
            out.append("inserted \(group ?? "-") \(try store.latest(sel, now: now).sorted { $0.key < $1.key })")
            let sk = Selection(series: "exec_time", since: since, group: group)
            out.append("exec_time \(group ?? "-") \(try store.summary(sk, by: by, now: now))")
            for op in [QueryOp.count, .sum, .max, .quantile(0.5), .quantile(0.99)] {
                out.append("exec_time \(group ?? "-") \(op) \(try store.latest(sk, op: op, now: now).sorted { $0.key < $1.key })")
            }
            let g = Selection(series: "executing", since: since, group: group)
            for op in [QueryOp.sum, .max, .avg] {
                out.append("executing \(group ?? "-") \(op) \(try store.timeslice(g, by: by, op: op, now: now))")
            }
        }
        return out
    }

    static func exactQuantile(_ sorted: [Double], _ q: Double) -> Double {
        sorted[Int((q * Double(sorted.count - 1)).rounded(.down))]
    }

    @Test func compactionIsExactAlignedAndDropsExpiredPoints() throws {
        for seed in UInt64(1)...60 {
            guard try compactionCase(seed: seed) else { return }
        }
    }

    func compactionCase(seed: UInt64) throws -> Bool {
        var rng = SeededRandom(seed: seed &* 6_700_417 &+ 9)
        let tiers = Self.tierChoices[Int(seed) % Self.tierChoices.count]
        let coarsest = tiers.tiers.last!.step
        let rec = Self.record(&rng, tiers: tiers)
        let end = rec.batches.map(\.timestamp).max()!
        let c = end + Int64(Prop.int(0...tiers.retention + 200, &rng))
        func fail(_ message: String) -> Bool {
            Issue.record("seed \(seed) tiers \(tiers.tiers.map { ($0.step, $0.duration) }) compacted at t0+\(c - Prop.t0): \(message)")
            return false
        }

        // `plain`: everything applied live, never compacted. `once`: compacted at c.
        // `often`: compacted at random moments while applying, then at c.
        let plain = SeriesStore(tiers: tiers)
        let once = SeriesStore(tiers: tiers, rollupThreshold: Prop.int(1...4, &rng))
        let often = SeriesStore(tiers: tiers, rollupThreshold: Prop.int(1...4, &rng))
        for b in rec.batches {
            for store in [plain, once, often] {
                let outcome = store.apply(b, now: b.timestamp)
                guard outcome == .applied(entries: b.entries.count, rejected: 0) else { return fail("apply gave \(outcome)") }
            }
            if Prop.chance(0.15, &rng) { often.compact(now: b.timestamp + Int64(Prop.int(0...20, &rng))) }
        }
        let alive: (Int64) -> Bool = { tiers.targetStep(for: $0, now: c) != nil }
        // Before compaction: exact totals and quantiles within 1 % of everything recorded.
        let lookback = Int(c - Prop.t0) + 1000
        let all = Prop.totals(rec.batches)
        guard try Prop.storeTotals(plain, now: c, lookback: lookback) == all else { return fail("totals before compaction") }

        let cut = bucketStart(c - Int64(tiers.retention), step: coarsest)
        let before = try Self.resolutionFreeAnswers(plain, since: cut, by: coarsest, now: c)
        once.compact(now: c)
        often.compact(now: c)
        // A second pass has nothing left to do.
        if once.compact(now: c).timelinesChanged != 0 { return fail("second compaction changed timelines") }

        // Totals of what is still alive are exact; expired points are gone.
        let aliveBatches = rec.batches.filter { alive(bucketStart($0.timestamp, step: tiers.finestStep)) }
        let expected = Prop.totals(aliveBatches)
        for (name, store) in [("once", once), ("often", often)] {
            let got = try Prop.storeTotals(store, now: c, lookback: lookback)
            if got != expected { return fail("\(name): totals (inserted, observations) \(got) != alive \(expected)") }
            let sum = try store.latest(Selection(series: "exec_time", lookback: lookback), op: .sum, now: c)["all"] ?? 0
            let exactSum = rec.observations.filter { alive($0.ts) }.reduce(0) { $0 + $1.value }
            if sum != exactSum { return fail("\(name): sketch sum \(sum) != \(exactSum)") }
            let after = try Self.resolutionFreeAnswers(store, since: cut, by: coarsest, now: c)
            if after != before { return fail("\(name): answers over the alive windows changed: \(Prop.firstDifference(after, before))") }
        }

        // Resolution: every point sits at its target step, aligned; point counts match the model.
        var buckets = Set<String>()
        var insertedStarts = Set<Int64>()
        for b in rec.batches {
            let fine = bucketStart(b.timestamp, step: tiers.finestStep)
            guard let step = tiers.targetStep(for: fine, now: c) else { continue }
            let start = bucketStart(fine, step: step)
            for e in b.entries {
                buckets.insert("\(e.series)|\(e.labels)|\(b.origin)|\(start)")
                if e.series == "inserted" { insertedStarts.insert(start) }
            }
        }
        for (name, store) in [("once", once), ("often", often)] {
            if store.pointCount != buckets.count { return fail("\(name): \(store.pointCount) points, model \(buckets.count)") }
        }
        let fineRows = try once.timeslice(Selection(series: "inserted", lookback: lookback), by: tiers.finestStep, now: c)
        let rowStarts = Set(fineRows.map(\.ts))
        if rowStarts != insertedStarts {
            let extra = rowStarts.subtracting(insertedStarts).sorted().prefix(5).map { $0 - Prop.t0 }
            let missing = insertedStarts.subtracting(rowStarts).sorted().prefix(5).map { $0 - Prop.t0 }
            return fail("bucket starts differ from the model: extra t0+\(extra), missing t0+\(missing)")
        }
        for ts in rowStarts {
            guard let step = tiers.targetStep(for: ts, now: c), ts % Int64(step) == 0 else {
                return fail("bucket at t0+\(ts - Prop.t0) not aligned to its tier or expired")
            }
        }
        if let oldest = rowStarts.min(), oldest < cut { return fail("an expired bucket survived at t0+\(oldest - Prop.t0)") }

        // Quantiles: within 1 % of the exact ones, before (everything) and after (alive only).
        let qs = [0.0, 0.25, 0.5, 0.9, 0.99, 1.0]
        for (name, store, values) in [
            ("plain", plain, rec.observations.map(\.value)),
            ("once", once, rec.observations.filter { alive($0.ts) }.map(\.value)),
        ] {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { continue }
            for q in qs {
                let got = try store.latest(Selection(series: "exec_time", lookback: lookback), op: .quantile(q), now: c)["all"] ?? .nan
                let exact = Self.exactQuantile(sorted, q)
                if !(abs(got - exact) <= 0.01 * exact + 1e-9) { return fail("\(name): p\(q * 100) = \(got), exact \(exact) (n \(sorted.count))") }
            }
        }
        // Compacting often or once ends in the same state, bucket for bucket.
        func fineBuckets(_ store: SeriesStore) throws -> [String] {
            try [("inserted", QueryOp.sum), ("exec_time", .count), ("executing", .avg)].map { series, op in
                "\(series) \(try store.timeslice(Selection(series: series, since: cut, group: "queue"), by: tiers.finestStep, op: op, now: c))"
            }
        }
        let a = try fineBuckets(once)
        let b = try fineBuckets(often)
        if a != b { return fail("compacting often differs from once: \(Prop.firstDifference(b, a))") }
        return true
    }

    /// Everything recorded ages out: after the retention, nothing is left, and totals are zero.
    @Test func everythingExpiresAfterTheRetention() throws {
        for seed in UInt64(1)...50 {
            var rng = SeededRandom(seed: seed &* 31 &+ 17)
            let tiers = Self.tierChoices[Int(seed) % Self.tierChoices.count]
            let rec = Self.record(&rng, tiers: tiers)
            let store = SeriesStore(tiers: tiers, rollupThreshold: Prop.int(1...40, &rng))
            for b in rec.batches { store.apply(b, now: b.timestamp) }
            let end = rec.batches.map(\.timestamp).max()!
            let last = tiers.tiers.last!.step
            // The last bucket of the last tier ends at most `last` after `end`.
            let c = bucketStart(end, step: last) + Int64(last) + Int64(tiers.retention)
            store.compact(now: c)
            let totals = try Prop.storeTotals(store, now: c, lookback: 20_000)
            #expect(store.pointCount == 0 && totals == (0, 0), "seed \(seed): \(store.pointCount) points, totals \(totals) left after the retention")
            if store.pointCount != 0 { return }
        }
    }
}
