import MetStore
import MetValues
import Testing

/// RELIABILITY H12: chunks carry their format version. Version 3 (string tables, label sets as
/// differences, streams) is what this node writes; versions 2 (string tables) and 1 (names per
/// timeline) are what older nodes write, and are still read.
@Suite struct SnapshotChunkVersionTests {
    let now: Int64 = 1_800_000_000
    let origin = Origin(node: "b", incarnation: 3)

    /// Many small timelines (300 label sets × 3 series, one point each), label sets of other
    /// shapes (no labels, one, keys that come and go), plus the mixed history of two origins.
    func store(history: Bool = true) -> SeriesStore {
        let s = SeriesStore()
        var rng = SeededRandom(seed: 9)
        for (i, ts) in stride(from: now - 2000, through: now, by: 11).enumerated() where history {
            s.apply(mixedBatch(nodeA, seq: UInt64(i + 1), ts: ts, queues: ["q1", "q2"], rng: &rng), now: now)
        }
        for q in 0..<300 {
            let labels = LabelSet(["node": "b", "queue": "queue-\(q)", "worker": "MyApp.Workers.Mailer", "state": "completed"])
            for series in ["exec_time", "wait_time"] {
                let point = TimelineSnapshot.Point(ts: now - 5 - Int64(q % 7), step: 1, seq: 1, value: .sketch(Sketch([Double(1000 + q)])))
                try! s.merge(TimelineSnapshot(series: series, labels: labels, origin: origin, points: [point]), now: now)
            }
            let gauge = TimelineSnapshot.Point(ts: now - 5, step: 1, seq: 1, value: .gauge(Gauge(last: 1, max: 2, sum: 3, samples: 2)))
            try! s.merge(TimelineSnapshot(series: "executing", labels: labels, origin: origin, points: [gauge]), now: now)
        }
        let shapes: [[String: String]] = [[:], ["queue": "x"], ["a": "1", "queue": "x"], ["a": "1", "b": "2", "queue": "y"],
                                          ["b": "2"], ["queue": "x"], ["a": "2", "queue": "x", "z": "9"]]
        for (i, shape) in shapes.enumerated() {
            let point = TimelineSnapshot.Point(ts: now - 60 * Int64(i + 1), step: 60, seq: 2, value: .count(Int64(i + 1)))
            try! s.merge(TimelineSnapshot(series: "inserted", labels: LabelSet(shape), origin: origin, points: [point]), now: now)
        }
        return s
    }

    /// The store's every timeline with its names and points, in its order (version 1 repeats
    /// every name per timeline): equal encodings, equal stores.
    func contents(_ s: SeriesStore) -> [[UInt8]] { s.snapshotVersion1(maxChunkBytes: 1 << 30).chunks }

    func snapshot(_ s: SeriesStore, version: Int) -> StoreSnapshot {
        version == 3 ? s.snapshot(maxChunkBytes: 8192) : s.snapshot(inVersion: version, maxChunkBytes: 8192)
    }

    @Test(arguments: [3, 2, 1]) func everyVersionRoundTripsToTheSameTimelines(version: Int) throws {
        let source = store()
        let snap = snapshot(source, version: version)
        #expect(snap.chunks.count > 1 && snap.chunks.allSatisfy { $0.first == UInt8(version) })
        let target = SeriesStore()
        try target.merge(snap, now: now)
        #expect(contents(target) == contents(source))
        #expect(target.watermarks == source.watermarks)
        #expect(try answers(target, now: now) == answers(source, now: now))
        // Idempotent: merging it again, or into the source, changes nothing.
        try target.merge(snap, now: now)
        try source.merge(snap, now: now)
        #expect(contents(target) == contents(source))
    }

    @Test func theVersionsMergeIntoEachOthersStores() throws {
        let source = store()
        let stores = [3, 2, 1].map { v in
            let s = SeriesStore()
            try! s.merge(snapshot(source, version: v), now: now)
            return s
        }
        for (s, other) in [(0, 1), (1, 2), (2, 0), (0, 2)] { try stores[s].merge(snapshot(source, version: [3, 2, 1][other]), now: now) }
        for s in stores { #expect(try answers(s, now: now) == answers(source, now: now)) }
    }

    /// With a limit of label sets per origin and series, and later, with part of the history past
    /// the retention: version 3's merge keeps and refuses exactly what version 2's does.
    @Test(arguments: [0, 4 * 3600]) func retentionAndTheLabelSetLimitApplyAsInVersionTwo(later: Int64) throws {
        let source = store()
        var results: [([[UInt8]], [String: Int])] = []
        for v in [3, 2] {
            let target = SeriesStore()
            target.maxLabelSets = 100
            try target.merge(snapshot(source, version: v), now: now + later)
            results.append((contents(target), target.refusedLabelSets))
        }
        #expect(results[0].0 == results[1].0)
        #expect(results[0].1 == results[1].1)
        if later == 0 {
            #expect(results[0].1 == ["exec_time": 200, "wait_time": 200, "executing": 200])
        } else {
            #expect(results[0].0 != contents(source), "part of the history expired")
        }
    }

    /// The tables pay off for many small timelines: names once a chunk (version 2 against 1), and
    /// label sets as their differences, streams instead of series, kind and origin (3 against 2).
    @Test func versionThreeIsTheSmallest() {
        let source = store(history: false)
        let (v3, v2, v1) = (snapshot(source, version: 3).byteCount, snapshot(source, version: 2).byteCount, snapshot(source, version: 1).byteCount)
        #expect(v2 * 2 < v1, "v2 \(v2) bytes, v1 \(v1)")
        #expect(v3 * 10 < v2 * 9, "v3 \(v3) bytes, v2 \(v2)")
    }

    @Test func anUnknownVersionIsRefusedAndChangesNothing() throws {
        let source = store()
        let target = SeriesStore()
        var chunk = source.snapshot(maxChunkBytes: 8192).chunks[0]
        chunk[0] = 4
        #expect(throws: DecodeError.invalid("snapshot version 4 (this node reads 1, 2 and 3)")) {
            try target.merge(chunk: chunk, now: now)
        }
        #expect(target.timelineCount == 0)
    }

    /// A chunk of one timeline whose label set is `{a=1, b=2}`, and where its set table starts.
    func oneSetChunk() -> (chunk: [UInt8], sets: Int) {
        let s = SeriesStore()
        let point = TimelineSnapshot.Point(ts: now - 5, step: 1, seq: 1, value: .count(3))
        try! s.merge(TimelineSnapshot(series: "inserted", labels: LabelSet(["a": "1", "b": "2"]), origin: origin, points: [point]), now: now)
        let chunk = s.snapshot().chunks[0]
        var at = 2  // version, string count (< 128)
        for _ in 0..<Int(chunk[1]) { at += 1 + Int(chunk[at]) }
        return (chunk, at)
    }

    @Test func labelSetTablesAreChecked() throws {
        let (chunk, at) = oneSetChunk()
        // One set: 2 pairs, no reuse, key, value, key, value.
        #expect(Array(chunk[at..<(at + 4)]) == [1, 2, 0, 0])
        let valid = SeriesStore()
        try valid.merge(chunk: chunk, now: now)
        #expect(valid.timelineCount == 1)
        var reversed = chunk
        (reversed[at + 4], reversed[at + 6]) = (chunk[at + 6], chunk[at + 4])
        (reversed[at + 5], reversed[at + 7]) = (chunk[at + 7], chunk[at + 5])
        var reuse = chunk
        reuse[at + 2] = 1  // the first set says it repeats a pair of a set before it
        var wide = chunk
        wide[at + 3] = 4  // a mask bit past the set's pairs
        for (bad, error) in [(reversed, "label order"), (reuse, "label set reuse"), (wide, "label set reuse")] {
            let target = SeriesStore()
            #expect(throws: DecodeError.invalid(error)) { try target.merge(chunk: bad, now: now) }
            #expect(target.timelineCount == 0)
        }
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
