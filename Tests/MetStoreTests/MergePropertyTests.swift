import MetStore
import MetValues
import Testing

/// DESIGN §3: merging is idempotent and commutative; replicas that saw the same inputs answer
/// the same, whatever the order, the duplicates, the handoffs and the compaction moments.
/// Each test loops over seeds and stops at the first failing one, naming it.
@Suite struct MergePropertyTests {
    enum Input {
        case batch(DeltaBatch)
        case snapshot(Prop.Donation)
        case compact
    }

    // MARK: 1. Any permutation, any duplicates: the same answers

    @Test func anyOrderAndDuplicatesGiveTheSameAnswersAsInOrderDelivery() throws {
        for seed in UInt64(1)...50 {
            guard try convergence(seed: seed) else { return }
        }
    }

    /// One case: a history of 2–3 origins, 1–3 donor snapshots taken at random points of their
    /// own histories, four receivers fed every batch and snapshot in a random order (two fully
    /// shuffled, two in time order with random delays), with duplicates and random compactions.
    func convergence(seed: UInt64) throws -> Bool {
        var rng = SeededRandom(seed: seed &* 7919 &+ 1)
        let tiers = Prop.smallTiers
        let h = Prop.history(&rng)
        var donations: [Prop.Donation] = []
        for _ in 0..<Prop.int(1...3, &rng) {
            donations.append(Prop.donor(h, tiers: tiers, earlier: donations, rollupThreshold: Prop.int(1...3, &rng), rng: &rng))
        }
        let start = h.all.first!.timestamp
        let reference = SeriesStore(tiers: tiers)
        for b in h.all {
            let outcome = reference.apply(b, now: b.timestamp)
            guard outcome == .applied(entries: b.entries.count, rejected: 0) else {
                Issue.record("seed \(seed): in-order apply of \(b.origin)/\(b.seq) gave \(outcome)")
                return false
            }
        }
        var receivers: [Prop.Receiver] = []
        for r in 0..<4 {
            var inputs: [(Input, Int64)] = h.all.map { (.batch($0), $0.timestamp) } + donations.map { (.snapshot($0), $0.time) }
            for x in inputs where Prop.chance(0.25, &rng) { inputs.append(x) }
            for _ in 0..<Prop.int(0...6, &rng) {
                inputs.append((.compact, start + Int64(Prop.int(0...Int(h.end - start) + 60, &rng))))
            }
            if r % 2 == 0 {
                inputs.shuffle(using: &rng)
            } else {
                inputs = inputs.map { ($0.0, $0.1 + Int64(Prop.int(0...150, &rng))) }
                inputs.shuffle(using: &rng)  // ties in random order
                inputs.sort { $0.1 < $1.1 }
            }
            let store = SeriesStore(tiers: tiers, rollupThreshold: [1, 2, 32].randomElement(using: &rng)!)
            let receiver = Prop.Receiver(store, clock: start)
            for (input, time) in inputs {
                switch input {
                case .batch(let b):
                    receiver.receive(b, at: time)
                case .snapshot(let d):
                    receiver.clock = max(receiver.clock, time, d.time)
                    try Prop.deliver(d.snapshot, to: store, now: receiver.clock, rng: &rng)
                    receiver.drain()
                case .compact:
                    receiver.clock = max(receiver.clock, time)
                    store.compact(now: receiver.clock)
                }
            }
            guard receiver.pending.isEmpty else {
                Issue.record("seed \(seed) receiver \(r): \(receiver.pending.count) batches never applied")
                return false
            }
            receivers.append(receiver)
        }
        let final = receivers.map(\.clock).max()! + Int64(Prop.int(0...40, &rng))
        reference.compact(now: final)
        let expected = try Prop.richAnswers(reference, now: final)
        var ok = true
        for (i, r) in receivers.enumerated() {
            r.store.compact(now: final)
            let got = try Prop.richAnswers(r.store, now: final)
            if got != expected {
                Issue.record("seed \(seed) receiver \(i) (\(i % 2 == 0 ? "shuffled" : "delayed")): answers differ from in-order delivery: \(Prop.firstDifference(got, expected))")
                ok = false
            }
            if r.store.watermarks != reference.watermarks {
                Issue.record("seed \(seed) receiver \(i): watermarks \(r.store.watermarks) != \(reference.watermarks)")
                ok = false
            }
        }
        // Merging a converged replica into the reference (and back) changes nothing.
        try reference.merge(receivers[0].store.snapshot(maxChunkBytes: 512), now: final)
        try receivers[1].store.merge(reference.snapshot(), now: final)
        for (name, store) in [("reference", reference), ("receiver 1", receivers[1].store)] {
            store.compact(now: final)
            let got = try Prop.richAnswers(store, now: final)
            if got != expected {
                Issue.record("seed \(seed): \(name) changed after merging a converged replica: \(Prop.firstDifference(got, expected))")
                ok = false
            }
        }
        return ok
    }

    // MARK: 2. Handoffs on top of broadcasts never double count

    @Test func duplicatedChunksAndSnapshotsOverBroadcastsNeverDoubleCount() throws {
        for seed in UInt64(1)...80 {
            guard try noDoubleCount(seed: seed) else { return }
        }
    }

    /// R saw a prefix of every origin live; S another prefix (compacted or not). R merges S's
    /// snapshot (duplicated chunks, any order, twice), which must give exactly the union of the
    /// prefixes; then R receives every batch again in any order and must hold exactly all of them.
    func noDoubleCount(seed: UInt64) throws -> Bool {
        var rng = SeededRandom(seed: seed &* 104_729 &+ 3)
        let h = Prop.history(&rng, batches: 3...15, maxGap: 12, start: Prop.t0 - 400)
        let now = h.end + 5
        let r = SeriesStore(rollupThreshold: Prop.int(1...40, &rng))
        let s = SeriesStore(rollupThreshold: Prop.int(1...40, &rng))
        var prefixR: [Origin: UInt64] = [:]
        var prefixS: [Origin: UInt64] = [:]
        for (k, o) in h.origins.enumerated() {
            prefixR[o] = UInt64(Prop.int(0...h.perOrigin[k].count, &rng))
            prefixS[o] = UInt64(Prop.int(0...h.perOrigin[k].count, &rng))
        }
        for b in h.all where b.seq <= prefixR[b.origin]! { r.apply(b, now: b.timestamp) }
        for b in h.all where b.seq <= prefixS[b.origin]! { s.apply(b, now: b.timestamp) }
        if Prop.chance(0.5, &rng) { r.compact(now: now + Int64(Prop.int(0...300, &rng))) }
        if Prop.chance(0.5, &rng) { s.compact(now: now + Int64(Prop.int(0...300, &rng))) }
        let snap = s.snapshot(maxChunkBytes: Prop.int(100...2000, &rng))
        try Prop.deliver(snap, to: r, now: now, rng: &rng)
        try Prop.deliver(snap, to: r, now: now, rng: &rng)
        let union = h.all.filter { $0.seq <= max(prefixR[$0.origin]!, prefixS[$0.origin]!) }
        let expectedUnion = Prop.totals(union)
        let afterMerge = try Prop.storeTotals(r, now: now)
        guard afterMerge == expectedUnion else {
            Issue.record("seed \(seed): after merging the snapshot twice, totals \(afterMerge) != union of prefixes \(expectedUnion) (R \(prefixR), S \(prefixS))")
            return false
        }
        for o in h.origins where r.watermark(of: o) != max(prefixR[o]!, prefixS[o]!) {
            Issue.record("seed \(seed): watermark of \(o) is \(r.watermark(of: o)), expected \(max(prefixR[o]!, prefixS[o]!))")
            return false
        }
        // Every broadcast again, in any order, some twice, with S's snapshot once more at the end.
        var again = h.all
        for b in h.all where Prop.chance(0.3, &rng) { again.append(b) }
        again.shuffle(using: &rng)
        let receiver = Prop.Receiver(r, clock: now)
        for b in again { receiver.receive(b, at: now) }
        try Prop.deliver(snap, to: r, now: now, rng: &rng)
        let expectedAll = Prop.totals(h.all)
        let afterAll = try Prop.storeTotals(r, now: now)
        guard receiver.pending.isEmpty, afterAll == expectedAll else {
            Issue.record("seed \(seed): after every broadcast, totals \(afterAll) != \(expectedAll) (pending \(receiver.pending.count))")
            return false
        }
        // And S, merging R back, ends with exactly the same totals.
        try Prop.deliver(r.snapshot(maxChunkBytes: 300), to: s, now: now, rng: &rng)
        let sTotals = try Prop.storeTotals(s, now: now)
        guard sTotals == expectedAll else {
            Issue.record("seed \(seed): S after merging R back: \(sTotals) != \(expectedAll)")
            return false
        }
        return true
    }

    // MARK: 2b. Broadcasts arriving while a chunked handoff is being merged

    /// A receiver keeps applying broadcasts while the chunks of a handoff arrive (the watermarks
    /// come last, as `StoreSnapshot` requires). DESIGN §3: "the same data by broadcast and by
    /// handoff must never double count".
    @Test func broadcastsBetweenHandoffChunksAreNotCountedTwice() throws {
        for seed in UInt64(1)...50 {
            var rng = SeededRandom(seed: seed &* 15_485_863 &+ 5)
            let h = Prop.history(&rng, batches: 4...12, maxGap: 10, start: Prop.t0 - 300, kinds: [.count, .sketch])
            let now = h.end + 5
            let r = SeriesStore()
            let s = SeriesStore()
            var prefixR: [Origin: UInt64] = [:]
            for (k, o) in h.origins.enumerated() { prefixR[o] = UInt64(Prop.int(0...h.perOrigin[k].count - 1, &rng)) }
            for b in h.all where b.seq <= prefixR[b.origin]! { r.apply(b, now: b.timestamp) }
            for b in h.all { s.apply(b, now: b.timestamp) }
            let snap = s.snapshot(maxChunkBytes: Prop.int(100...600, &rng))
            let receiver = Prop.Receiver(r, clock: now)
            // The broadcasts R has not seen yet, in order, spread between the chunks.
            var missing = h.all.filter { $0.seq > prefixR[$0.origin]! }
            for chunk in snap.chunks.shuffled(using: &rng) {
                try r.merge(chunk: chunk, now: now)
                for _ in 0..<Prop.int(0...3, &rng) where !missing.isEmpty { receiver.receive(missing.removeFirst(), at: now) }
            }
            try r.merge(watermarks: snap.watermarks)
            for b in missing { receiver.receive(b, at: now) }
            let expected = Prop.totals(h.all)
            let got = try Prop.storeTotals(r, now: now)
            guard got == expected else {
                Issue.record("seed \(seed): broadcasts applied between handoff chunks: totals (inserted, observations) \(got) != \(expected)")
                return
            }
        }
    }

    /// The smallest case of the test above: one origin, two batches.
    @Test func broadcastBetweenHandoffChunksMinimal() throws {
        let now = Prop.t0
        let b1 = DeltaBatch(origin: nodeA, seq: 1, timestamp: now - 2, entries: [.init(series: "inserted", labels: labels("q1"), value: .count(1))])
        let b2 = DeltaBatch(origin: nodeA, seq: 2, timestamp: now - 1, entries: [.init(series: "inserted", labels: labels("q1"), value: .count(10))])
        let s = SeriesStore()
        s.apply(b1, now: now)
        s.apply(b2, now: now)
        let r = SeriesStore()
        r.apply(b1, now: now)
        let snap = s.snapshot()
        try r.merge(chunk: snap.chunks[0], now: now)  // holds b1 + b2 now; watermark still 1
        r.apply(b2, now: now)  // the broadcast of b2 arrives before the watermarks
        try r.merge(watermarks: snap.watermarks)
        #expect(try r.latest(Selection(series: "inserted", lookback: 60), now: now) == ["all": 11])
    }

    /// One batch may carry several entries for the same series and labels (nothing in
    /// `DeltaBatch` forbids it, and the generators above produce them): all of them count.
    @Test func repeatedEntriesInOneBatchAllCount() throws {
        let now = Prop.t0
        let store = SeriesStore()
        let batch = DeltaBatch(origin: nodeA, seq: 1, timestamp: now, entries: [
            .init(series: "inserted", labels: labels("q1"), value: .count(1)),
            .init(series: "inserted", labels: labels("q1"), value: .count(2)),
        ])
        #expect(store.apply(batch, now: now) == .applied(entries: 2, rejected: 0))
        #expect(try store.latest(Selection(series: "inserted", lookback: 60), now: now) == ["all": 3])
    }
}
