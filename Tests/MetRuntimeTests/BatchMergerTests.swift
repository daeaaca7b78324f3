import Foundation
import Logging
import MetRuntime
import MetStore
import MetValues
import MetWire
import Synchronization
import Testing

/// Large batches: merged in slices (the same answers as one merge, a duplicate still refused,
/// a snapshot met half-way counted once) and off the loop in arrival order.
@Suite struct BatchMergerTests {
    let origin = Origin(node: "a", incarnation: 1)
    let now: Int64 = 1_800_000_000

    /// `queues` label sets of `exec_time` (one value each) and `exec_count`, plus `inserted`.
    func batch(_ seq: UInt64, queues: Int, tag: String = "q") -> DeltaBatch {
        var entries: [DeltaBatch.Entry] = []
        for i in 0..<queues {
            let labels = LabelSet(["queue": "\(tag)\(i)", "worker": "W", "state": "completed"])
            entries.append(.init(series: "exec_time", labels: labels, value: .sketch(Sketch([Double(1_000 + i)]))))
            entries.append(.init(series: "exec_count", labels: labels, value: .count(2)))
        }
        // The same timeline twice in one batch: folded into one point, wherever its slice is.
        entries.append(.init(series: "inserted", labels: LabelSet(["queue": "\(tag)0"]), value: .count(3)))
        entries.append(.init(series: "inserted", labels: LabelSet(["queue": "\(tag)0"]), value: .count(4)))
        return DeltaBatch(origin: origin, seq: seq, timestamp: now, entries: entries)
    }

    /// Holds `c`'s lock on another thread (as a query or a compaction would) until the
    /// returned semaphore is signalled.
    func holdTheLock(of c: Collector) -> DispatchSemaphore {
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            c.withStore { _ in
                holding.signal()
                release.wait()
            }
        }
        holding.wait()
        return release
    }

    func answers(_ c: Collector) -> [String] {
        c.withStore { store in
            ["exec_time", "exec_count", "inserted"].map { series in
                let rows = (try? store.latest(Selection(series: series, lookback: 60, group: "queue"), now: now)) ?? [:]
                return "\(series): \(rows.count) groups, total \(rows.values.reduce(0, +))"
            } + ["timelines \(store.timelineCount)", "watermark \(store.watermark(of: origin))"]
        }
    }

    @Test func aSlicedBatchAnswersAsOneMerge() {
        let big = batch(1, queues: 3 * Collector.mergeSlice)
        #expect(Collector.slices(of: big).count > 1)
        let sliced = Collector()
        let whole = Collector()
        #expect(sliced.receive(big, now: now) == nil)
        whole.withStore { _ = $0.apply(big, now: now) }
        #expect(answers(sliced) == answers(whole))
        #expect(answers(sliced).contains("inserted: 1 groups, total 7.0"))
        #expect(sliced.receive(big, now: now) == nil)
        #expect(answers(sliced) == answers(whole), "a resent duplicate changes nothing")
        let next = batch(2, queues: 3 * Collector.mergeSlice)
        #expect(sliced.receive(next, now: now) == nil)
        whole.withStore { _ = $0.apply(next, now: now) }
        #expect(answers(sliced) == answers(whole))
    }

    @Test func aSnapshotMergedHalfWayIsCountedOnce() throws {
        // The snapshot holds batch 1; a sliced copy of batch 1 arriving after it adds nothing.
        let big = batch(1, queues: 2 * Collector.mergeSlice)
        let source = SeriesStore()
        source.apply(big, now: now)
        let c = Collector()
        // Half of the batch's slices first (as if the merger had reached the middle) ...
        let parts = Collector.slices(of: big)
        c.withStore { store in
            for p in parts.prefix(parts.count / 2) { store.apply(p, now: now, enforcingSequence: false, raisingWatermark: false) }
        }
        // ... then the snapshot, then the whole batch again: every point is counted once.
        let plan = source.snapshotPlan(maxChunkBytes: 1 << 20)
        for i in 0..<plan.count { try c.merge(chunk: source.snapshotChunk(i, of: plan), now: now) }
        try c.merge(watermarks: plan.watermarks, now: now)
        #expect(c.receive(big, now: now) == nil)
        let expected = Collector()
        expected.withStore { _ = $0.apply(big, now: now) }
        #expect(answers(c) == answers(expected))
    }

    @Test func largeBatchesAreMergedOffTheCallerInOrderAndSmallOnesQueueBehindThem() {
        let c = Collector()
        let merger = BatchMerger(collector: c, logger: Logger(label: "test"))
        var gaps: [Collector.Gap] = []
        for seq in 1...3 { if let g = merger.receive(batch(UInt64(seq), queues: BatchMerger.inlineEntries, tag: "s\(seq)-")) { gaps.append(g) } }
        // A small batch right after: it waits behind the large ones, so no gap opens.
        let small = DeltaBatch(origin: origin, seq: 4, timestamp: now, entries: [.init(series: "inserted", labels: LabelSet(["queue": "x"]), value: .count(1))])
        if let g = merger.receive(small) { gaps.append(g) }
        merger.drain()
        #expect(gaps.isEmpty)
        #expect(c.withStore { $0.watermark(of: origin) } == 4)
        // With nothing waiting, a small batch is applied at once.
        let fifth = DeltaBatch(origin: origin, seq: 5, timestamp: now, entries: [.init(series: "inserted", labels: LabelSet(["queue": "x"]), value: .count(1))])
        #expect(merger.receive(fifth) == nil)
        #expect(c.withStore { $0.watermark(of: origin) } == 5)
    }

    /// A query or a compaction holds the collector's lock: a small batch is queued, never waited
    /// for (if `receive` waited, the lock's holder would never be released and the test would
    /// hit its time limit), and is applied once the lock is free.
    @Test(.timeLimit(.minutes(1)))
    func aBusyCollectorNeverHoldsUpTheCaller() {
        let c = Collector()
        let merger = BatchMerger(collector: c, logger: Logger(label: "test"))
        let release = holdTheLock(of: c)
        let small = DeltaBatch(origin: origin, seq: 1, timestamp: now, entries: [.init(series: "inserted", labels: LabelSet(["queue": "x"]), value: .count(1))])
        #expect(merger.receive(small) == nil)
        release.signal()
        merger.drain()
        #expect(c.withStore { $0.watermark(of: origin) } == 1)
    }

    /// A large batch frame is decoded by the merger, not by the caller (the mesh's loop), in
    /// its turn; one that does not decode is dropped and its batch later asked for again.
    @Test func largeFramesAreDecodedByTheMergerInTheirTurn() throws {
        let c = Collector()
        let merger = BatchMerger(collector: c, logger: Logger(label: "test"))
        // The merger applies at the collector's clock: the batches are stamped now.
        let second = c.clock.second()
        let big = batch(1, queues: 2 * BatchMerger.inlineEntries)
        let large = DeltaBatch(origin: origin, seq: 1, timestamp: second, entries: big.entries)
        let first = BatchCodec.encode(large)
        #expect(first.count >= BatchMerger.decodeOffLoopBytes)
        merger.receive(encoded: first, from: "a")
        merger.receive(encoded: [UInt8](repeating: 0xff, count: BatchMerger.decodeOffLoopBytes), from: "a")  // malformed
        // A small batch right after waits its turn behind the frame: no gap opens.
        let small = DeltaBatch(origin: origin, seq: 2, timestamp: second, entries: [.init(series: "inserted", labels: LabelSet(["queue": "x"]), value: .count(1))])
        #expect(merger.receive(small) == nil)
        merger.drain()
        let whole = SeriesStore()
        whole.apply(large, now: second)
        whole.apply(small, now: second)
        let selection = Selection(series: "exec_count", lookback: 60, group: "queue")
        #expect(c.withStore { $0.watermark(of: origin) } == 2)
        #expect(c.withStore { $0.timelineCount } == whole.timelineCount)
        let served = try c.withStore { try $0.latest(selection, now: second) }
        let expected = try whole.latest(selection, now: second)
        #expect(served.count == 2 * BatchMerger.inlineEntries && served == expected)
    }

    /// A count message from the leader never waits for the lock on the caller's thread: while a
    /// query (or a merge) holds it, the message is applied once the lock is free.
    @Test(.timeLimit(.minutes(1)))
    func aCountMessageNeverWaitsForTheLock() {
        let c = Collector()
        let merger = BatchMerger(collector: c, logger: Logger(label: "test"))
        let release = holdTheLock(of: c)
        let keyframe = Keyframe(term: 1, number: 1, leader: origin, timestamp: now,
                                counts: [.init(group: JobGroup(state: "available", queue: "q"), count: 5, estimated: false)], watermarks: [:])
        let taken = Mutex<Bool?>(nil)
        merger.apply(.keyframe(keyframe, nil)) { took in taken.withLock { $0 = took } }
        #expect(taken.withLock { $0 } == nil, "queued, not applied while the lock is held")
        release.signal()
        merger.drain()
        #expect(taken.withLock { $0 } == true)
        #expect(c.fullCount().counts?[JobGroup(state: "available", queue: "q")] == 5)
    }
}
