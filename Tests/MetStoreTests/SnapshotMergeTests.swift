import MetStore
import MetValues
import Testing

@Suite struct SnapshotMergeTests {
    let now: Int64 = 1_800_000_000

    /// Two origins' batches, with some replicas compacting at different moments.
    func history(seed: UInt64) -> [DeltaBatch] {
        var rng = SeededRandom(seed: seed)
        var batches: [DeltaBatch] = []
        for (origin, offset) in [(nodeA, 0), (nodeB, 1)] {
            for (i, ts) in stride(from: now - 3000 + Int64(offset), through: now, by: 7).enumerated() {
                batches.append(mixedBatch(origin, seq: UInt64(i + 1), ts: ts, queues: ["q1", "q2", "q3"], rng: &rng))
            }
        }
        return batches
    }

    @Test func snapshotRoundTripAndIdempotentMerge() throws {
        let source = SeriesStore()
        for b in history(seed: 2) { source.apply(b, now: now) }
        source.compact(now: now)
        let target = SeriesStore()
        let snap = source.snapshot(maxChunkBytes: 4096)
        #expect(snap.chunks.count > 1)
        try target.merge(snap, now: now)
        #expect(try answers(target, now: now) == answers(source, now: now))
        #expect(target.watermarks == source.watermarks)
        // Merging again, and merging into the source itself, changes nothing.
        try target.merge(snap, now: now)
        try source.merge(snap, now: now)
        #expect(try answers(target, now: now) == answers(source, now: now))
    }

    /// A streamed snapshot (the handoff's): chunks taken one at a time by plan, some twice and out
    /// of order, then the watermarks captured before the first, give the source's answers.
    @Test func plannedChunksMergedTwiceAndOutOfOrderGiveTheSourcesAnswers() throws {
        let source = SeriesStore()
        for b in history(seed: 5) { source.apply(b, now: now) }
        source.compact(now: now)
        let plan = source.snapshotPlan(maxChunkBytes: 2048)
        #expect(plan.count > 3 && plan.starts.first == 0 && plan.starts == plan.starts.sorted())
        #expect(plan.watermarks == StoreSnapshot.encode(watermarks: source.watermarks))
        let target = SeriesStore()
        let order = Array(plan.starts.indices.reversed()) + [0, plan.count / 2]
        for i in order { try target.merge(chunk: source.snapshotChunk(i, of: plan), now: now) }
        try target.merge(watermarks: plan.watermarks)
        #expect(try answers(target, now: now) == answers(source, now: now))
        #expect(target.watermarks == source.watermarks)
        // Every timeline is in exactly one chunk: the chunks together are the whole snapshot.
        let whole = source.snapshot(maxChunkBytes: .max).chunks.count
        #expect(whole == 1)
        #expect(SeriesStore().snapshotPlan().starts == [0])
    }

    /// A per-origin plan (resends beyond the window, anti-entropy): only that origin's timelines
    /// and watermark, the same data the one-shot per-origin snapshot holds.
    @Test func aPlanOfOneOriginCarriesThatOriginAlone() throws {
        let source = SeriesStore()
        for b in history(seed: 6) { source.apply(b, now: now) }
        source.compact(now: now)
        let plan = source.snapshotPlan(maxChunkBytes: 2048, of: nodeB)
        #expect(plan.origin == nodeB && plan.count > 1)
        #expect(try StoreSnapshot.decode(watermarks: plan.watermarks) == [nodeB: source.watermarks[nodeB]!])
        let streamed = SeriesStore()
        for i in 0..<plan.count { try streamed.merge(chunk: source.snapshotChunk(i, of: plan), now: now) }
        try streamed.merge(watermarks: plan.watermarks)
        let oneShot = SeriesStore()
        try oneShot.merge(source.snapshot(of: nodeB), now: now)
        #expect(try answers(streamed, now: now) == answers(oneShot, now: now))
        #expect(streamed.watermarks == [nodeB: source.watermarks[nodeB]!])
        #expect(streamed.originsWithData == [nodeB])
        // An origin the store never heard of: an empty plan whose chunk holds nothing.
        let unknown = source.snapshotPlan(of: Origin(node: "zz", incarnation: 9))
        let empty = SeriesStore()
        try empty.merge(chunk: source.snapshotChunk(0, of: unknown), now: now)
        #expect(unknown.count == 1 && empty.originsWithData.isEmpty)
    }

    @Test func prefixesMergeToTheLongerOneWhateverTheOrderAndCompaction() throws {
        let all = history(seed: 3)
        // Replica 1 has everything; replica 2 only the first 60 % of each origin, compacted later.
        let r1 = SeriesStore()
        let r2 = SeriesStore()
        for b in all { r1.apply(b, now: now) }
        let cutoff = Int(Double(all.count / 2) * 0.6)
        for b in all where b.seq <= UInt64(cutoff) { r2.apply(b, now: now - 100) }
        r2.compact(now: now - 100)
        r1.compact(now: now)
        let full = try answers(r1, now: now)
        // r2 ← r1 gives r1's answers; r1 ← r2 leaves r1 unchanged.
        let r2copy = SeriesStore()
        try r2copy.merge(r2.snapshot(), now: now)
        try r2copy.merge(r1.snapshot(), now: now)
        #expect(try answers(r2copy, now: now) == full)
        try r1.merge(r2.snapshot(), now: now)
        #expect(try answers(r1, now: now) == full)
    }

    @Test func corruptChunksChangeNothing() throws {
        let source = SeriesStore()
        for b in history(seed: 4).prefix(50) { source.apply(b, now: now) }
        let snap = source.snapshot()
        var rng = SeededRandom(seed: 9)
        let target = SeriesStore()
        for _ in 0..<300 {
            var bytes = snap.chunks[0]
            let flips = Int(rng.next() % 4) + 1
            for _ in 0..<flips {
                let i = Int(rng.next() % UInt64(bytes.count))
                bytes[i] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            }
            if rng.next() % 3 == 0 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count)))) }
            _ = try? target.merge(chunk: bytes, now: now)
        }
        #expect(throws: DecodeError.self) { try target.merge(chunk: [1, 0xff, 0xff, 0xff, 0xff, 0x0f], now: now) }
        #expect(throws: DecodeError.self) { try target.merge(watermarks: [], ) }
    }
}
