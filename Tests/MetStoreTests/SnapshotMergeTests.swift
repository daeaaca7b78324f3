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

/// RELIABILITY H12: chunks carry their format version. Version 2 (string tables) is what this
/// node writes; version 1 (names per timeline) is what older nodes write and is still read.
@Suite struct SnapshotChunkVersionTests {
    let now: Int64 = 1_800_000_000

    /// Many small timelines: 300 label sets × 3 series, one point each, plus the mixed history.
    func store() -> SeriesStore {
        let s = SeriesStore()
        var rng = SeededRandom(seed: 9)
        for (i, ts) in stride(from: now - 2000, through: now, by: 11).enumerated() {
            s.apply(mixedBatch(nodeA, seq: UInt64(i + 1), ts: ts, queues: ["q1", "q2"], rng: &rng), now: now)
        }
        for q in 0..<300 {
            let labels = LabelSet(["node": "b", "queue": "queue-\(q)", "worker": "MyApp.Workers.Mailer", "state": "completed"])
            for series in ["exec_time", "wait_time"] {
                let point = TimelineSnapshot.Point(ts: now - 5, step: 1, seq: 1, value: .sketch(Sketch([Double(1000 + q)])))
                try! s.merge(TimelineSnapshot(series: series, labels: labels, origin: Origin(node: "b", incarnation: 3), points: [point]), now: now)
            }
            let gauge = TimelineSnapshot.Point(ts: now - 5, step: 1, seq: 1, value: .gauge(Gauge(last: 1, max: 2, sum: 3, samples: 2)))
            try! s.merge(TimelineSnapshot(series: "executing", labels: labels, origin: Origin(node: "b", incarnation: 3), points: [gauge]), now: now)
        }
        return s
    }

    @Test func versionOneChunksOfOlderNodesMergeToTheSameAnswers() throws {
        let source = store()
        let fromV2 = SeriesStore()
        let fromV1 = SeriesStore()
        let v2 = source.snapshot(maxChunkBytes: 8192)
        let v1 = source.snapshotVersion1(maxChunkBytes: 8192)
        #expect(v2.chunks.allSatisfy { $0.first == 2 } && v1.chunks.allSatisfy { $0.first == 1 })
        try fromV2.merge(v2, now: now)
        try fromV1.merge(v1, now: now)
        #expect(try answers(fromV2, now: now) == answers(source, now: now))
        #expect(try answers(fromV1, now: now) == answers(source, now: now))
        // Both versions merge into a store that already holds the data, and into each other's.
        try fromV1.merge(v2, now: now)
        try fromV2.merge(v1, now: now)
        #expect(try answers(fromV1, now: now) == answers(fromV2, now: now))
        // The tables pay off: names are written once a chunk, not once a timeline.
        #expect(v2.byteCount * 2 < v1.byteCount, "v2 \(v2.byteCount) bytes, v1 \(v1.byteCount)")
    }

    @Test func anUnknownVersionIsRefusedAndChangesNothing() throws {
        let source = store()
        let target = SeriesStore()
        var chunk = source.snapshot(maxChunkBytes: 8192).chunks[0]
        chunk[0] = 3
        #expect(throws: DecodeError.invalid("snapshot version 3 (this node reads 1 and 2)")) {
            try target.merge(chunk: chunk, now: now)
        }
        #expect(target.timelineCount == 0)
    }

    @Test func truncatedChunksAreRefusedWhole() throws {
        let source = store()
        let chunk = source.snapshot(maxChunkBytes: 1 << 20).chunks[0]
        // Every truncation of a valid chunk is refused whole (never a partial merge).
        for n in stride(from: 1, to: min(chunk.count, 4000), by: 7) {
            let target = SeriesStore()
            #expect(throws: DecodeError.self) { try target.merge(chunk: Array(chunk.prefix(n)), now: now) }
            #expect(target.timelineCount == 0)
        }
    }
}
