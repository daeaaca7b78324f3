import MetRecorder
import MetStore
import Testing

/// The clock-correction rule (RELIABILITY L4, F8): the median of {0} ∪ the live peers'
/// offsets, applied only beyond the threshold; and a node's clock carrying it.
@Suite struct ClusterClockTests {
    @Test("the correction is the median of this node's 0 and its peers' offsets", arguments: [
        ([], 0),
        ([30_000, -30_000], 0),                // the unskewed node among +30 s and −30 s does not move
        ([-30_000, -60_000], -30_000),         // the node 30 s ahead comes back to the others
        ([30_000, 60_000], 30_000),            // the node 30 s behind goes forward to them
        ([5_000, 5_000, 5_000, -9_000], 5_000), // four peers agree but one: the median, not the mean
    ] as [([Int64], Int64)])
    func median(offsets: [Int64], expected: Int64) {
        #expect(ClockCorrection.correction(peerOffsets: offsets) == expected)
    }

    @Test("two nodes meet halfway (the mean of the middle two)")
    func evenCount() {
        #expect(ClockCorrection.correction(peerOffsets: [30_000]) == 15_000)
        #expect(ClockCorrection.correction(peerOffsets: [-30_000]) == -15_000)
    }

    @Test("within the threshold nothing moves: LAN noise never shifts a clock")
    func threshold() {
        #expect(ClockCorrection.correction(peerOffsets: [1_999, 1_800]) == 0)
        #expect(ClockCorrection.correction(peerOffsets: [2_000, 2_000]) == 0, "2 s exactly is within")
        #expect(ClockCorrection.correction(peerOffsets: [2_001, 2_500]) == 2_001)
        #expect(ClockCorrection.correction(peerOffsets: [-2_500, -2_600]) == -2_500)
        #expect(ClockCorrection.correction(peerOffsets: [10_000, 10_000], thresholdMilliseconds: 20_000) == 0)
        #expect(ClockCorrection.correction(peerOffsets: [60_000, 60_000], thresholdMilliseconds: 0) == 0, "0 turns correction off")
    }

    @Test("a node's clock is the system clock plus its correction, per node")
    func clockAddsCorrection() {
        let a = ClusterClock()
        let b = ClusterClock(correctionMilliseconds: 30_000)
        // Each reading bracketed by the system clock before and after it (a loaded machine may
        // stall this thread for seconds between any two lines).
        func bracket(_ read: () -> Int64) -> (before: Int64, value: Int64, after: Int64) {
            let before = NodeRecorder.wallClockMilliseconds()
            let value = read()
            return (before, value, NodeRecorder.wallClockMilliseconds())
        }
        let am = bracket { a.milliseconds() }
        #expect(am.value >= am.before && am.value <= am.after, "\(am)")
        let bm = bracket { b.milliseconds() }
        #expect(bm.value >= bm.before + 30_000 && bm.value <= bm.after + 30_000, "\(bm)")
        let bs = bracket { b.second() }
        #expect(bs.value >= (bs.before + 30_000) / 1000 && bs.value <= (bs.after + 30_000) / 1000, "\(bs)")
        a.setCorrection(milliseconds: -45_000)
        #expect(a.correctionMilliseconds == -45_000 && b.correctionMilliseconds == 30_000, "two nodes in one process keep their own")
        let asec = bracket { a.second() }
        #expect(asec.value >= (asec.before - 45_000) / 1000 && asec.value <= (asec.after - 45_000) / 1000, "\(asec)")
        let recorder = NodeRecorder(origin: Origin(node: "n", incarnation: 1), stripes: nil, releaseAfterIdleBatches: 60, clock: b)
        #expect(recorder.clock === b)
    }

    @Test("the batch schedule starts over when its clock steps back, instead of waiting the step out")
    func scheduleAfterStepBack() {
        var clock = BatchClock(intervalMs: 1_000)
        #expect(clock.next(after: 100_500) == 101_000)
        #expect(clock.next(after: 100_999) == 102_000, "a wake-up a little early still never repeats a boundary")
        #expect(clock.next(after: 70_400) == 71_000, "30 s back (a correction applied): the next boundary after now")
        #expect(clock.next(after: 101_200) == 102_000, "and forward again")
    }

    @Test("a correction applied while a batch is gathered moves that batch's stamp too", .timeLimit(.minutes(1)))
    func correctionDuringABatch() async {
        let clock = ClusterClock()
        let recorder = NodeRecorder(origin: Origin(node: "n", incarnation: 1), stripes: nil, releaseAfterIdleBatches: 60, clock: clock)
        let (stream, sink) = AsyncStream.makeStream(of: DeltaBatch.self)
        let loop = Task {
            await recorder.run(every: .milliseconds(500)) { sink.yield($0) }
            sink.finish()
        }
        var iterator = stream.makeAsyncIterator()
        // An event recorded before the correction and one after: the batch holding both was
        // being gathered when the correction came. On a loaded machine this task may resume
        // only after that batch was taken (the two land apart): then it tries again, with a
        // new correction so no earlier batch can pass for this one.
        var found: (batch: DeltaBatch, from: Int64, to: Int64)?
        var correction: Int64 = 0
        for attempt in 1...20 where found == nil {
            _ = await iterator.next()  // a batch was just taken: the next is being gathered
            let early = "early\(attempt)", late = "late\(attempt)"
            recorder.counter(early, labels: LabelSet(["queue": "q"])).add(1)
            correction = Int64(attempt) * 600_000
            let before = NodeRecorder.wallClockSecond()
            clock.setCorrection(milliseconds: correction)
            recorder.counter(late, labels: LabelSet(["queue": "q"])).add(1)
            while let batch = await iterator.next() {
                let series = Set(batch.entries.map(\.series))
                guard series.contains(late) else { continue }
                let after = NodeRecorder.wallClockSecond()  // bracketed: a loaded machine may take seconds to get here
                if series.contains(early) { found = (batch, before + correction / 1000, after + correction / 1000) }
                break
            }
        }
        loop.cancel()
        while await iterator.next() != nil {}
        let stamp = found?.batch.timestamp
        #expect(found.map { $0.batch.timestamp >= $0.from - 1 && $0.batch.timestamp <= $0.to + 1 } == true,
                "stamped \(String(describing: stamp)), cluster time was \(String(describing: found.map { "\($0.from)…\($0.to)" }))")
    }

    @Test("a recorder's batches are stamped in its cluster time", .timeLimit(.minutes(1)))
    func batchesUseTheCorrection() async {
        let recorder = NodeRecorder(origin: Origin(node: "n", incarnation: 1), stripes: nil, releaseAfterIdleBatches: 60,
                                    clock: ClusterClock(correctionMilliseconds: -120_000))
        let (stream, sink) = AsyncStream.makeStream(of: DeltaBatch.self)
        let before = NodeRecorder.wallClockSecond()
        let loop = Task {
            await recorder.run(every: .milliseconds(20)) { sink.yield($0) }
            sink.finish()
        }
        var iterator = stream.makeAsyncIterator()
        let first = await iterator.next()
        let after = NodeRecorder.wallClockSecond()  // bracketed: a loaded machine may take seconds to get here
        loop.cancel()
        while await iterator.next() != nil {}
        let stamp = try? #require(first?.timestamp)
        #expect(stamp.map { $0 >= before - 121 && $0 <= after - 119 } == true,
                "stamped \(String(describing: stamp)), the system clock said \(before)…\(after)")
    }
}
