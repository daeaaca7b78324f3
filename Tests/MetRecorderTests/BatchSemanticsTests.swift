import MetRecorder
import MetStore
import MetValues
import Testing

/// What one `takeBatch` holds: numbered, stamped, and exactly the deltas since the previous one.
@Suite struct BatchSemanticsTests {
    let origin = Origin(node: "n1", incarnation: 7)

    @Test("an idle recorder still yields numbered, empty batches")
    func emptyBatchesAreNumbered() {
        let recorder = NodeRecorder(origin: origin)
        let batches = (0..<3).map { recorder.takeBatch(timestamp: testNow + Int64($0)) }
        #expect(batches.map(\.seq) == [1, 2, 3])
        #expect(batches.map(\.timestamp) == [testNow, testNow + 1, testNow + 2])
        #expect(batches.allSatisfy { $0.origin == origin && $0.entries.isEmpty && $0.checks.isEmpty })
    }

    @Test("a batch taken right after another holds nothing: nothing is counted twice")
    func secondBatchIsEmpty() {
        let recorder = NodeRecorder(origin: origin)
        let h = recorder.handle(queue: "q", worker: "W")
        h.start()
        h.stop(.completed, execNs: 1_000, waitNs: 50)
        recorder.record(.inserted, queue: "q", state: .available, count: 3)
        recorder.transition(queue: "q", worker: "W", from: .executing, to: .completed)
        recorder.sketch("custom_time", labels: LabelSet(["node": "n1"])).record(12)
        recorder.counter("custom_count", labels: LabelSet(["node": "n1"])).add(2)

        let first = recorder.takeBatch(timestamp: testNow)
        let series = Set(first.entries.map(\.series))
        #expect(series == ["exec_time", "exec_count", "wait_time", "inserted", "transitions", "custom_time", "custom_count"])
        let second = recorder.takeBatch(timestamp: testNow + 1)
        #expect(second.seq == 2)
        #expect(second.entries.isEmpty, "\(second.entries)")

        // Recording again after the drain shows up once, in the next batch only.
        recorder.record(.inserted, queue: "q", state: .available, count: 4)
        let third = recorder.takeBatch(timestamp: testNow + 2)
        #expect(third.entries.count == 1)
        #expect(third.entries.first?.value == .count(4))
        #expect(recorder.takeBatch(timestamp: testNow + 3).entries.isEmpty)
    }

    @Test("values recorded between batches land in the batch that follows them, whole")
    func deltasBetweenBatches() throws {
        let recorder = NodeRecorder(origin: origin)
        let h = recorder.handle(queue: "q", worker: "W")
        let key = SeriesKey(series: "exec_time", labels: jobLabels(node: "n1", queue: "q", worker: "W", state: "completed"))
        var rounds: [[Double]] = []
        for round in 1...4 {
            let values = (1...round * 10).map { Double($0 * 1_000 + round) }
            for v in values {
                h.start()
                h.stop(.completed, execNs: Int64(v), waitNs: 1)
            }
            rounds.append(values)
            let batch = recorder.takeBatch(timestamp: testNow + Int64(round))
            let sketch = try #require(entriesByKey(batch)[key]?.sketchValue)
            #expect(sketch.count == UInt64(values.count))
            #expect(sketch.sum == values.reduce(0, +))
            #expect(sketch.min == values.min() && sketch.max == values.max())
        }
    }

    @Test("the executing level is reported while non-zero, once more at zero, then not at all")
    func executingLifecycle() {
        let recorder = NodeRecorder(origin: origin)
        let h = recorder.handle(queue: "q", worker: "W")
        let key = SeriesKey(series: "executing", labels: levelLabels(node: "n1", queue: "q", worker: "W"))
        func level(_ batch: DeltaBatch) -> Double? {
            let gauges = batch.entries.filter { $0.series == "executing" }
            #expect(gauges.count <= 1)
            return entriesByKey(batch)[key]?.gaugeValue?.last
        }

        // A handle that has done nothing reports nothing.
        #expect(level(recorder.takeBatch(timestamp: testNow)) == nil)
        h.start(); h.start(); h.start()
        #expect(level(recorder.takeBatch(timestamp: testNow + 1)) == 3)
        #expect(level(recorder.takeBatch(timestamp: testNow + 2)) == 3, "still executing: sampled again")
        h.stop(.completed, execNs: 10, waitNs: 1)
        #expect(level(recorder.takeBatch(timestamp: testNow + 3)) == 2)
        h.stop(.retryable, execNs: 10, waitNs: 1)
        h.exception(.discarded, execNs: 10, waitNs: 1)
        #expect(level(recorder.takeBatch(timestamp: testNow + 4)) == 0, "back to zero: reported once")
        #expect(level(recorder.takeBatch(timestamp: testNow + 5)) == nil)
        #expect(level(recorder.takeBatch(timestamp: testNow + 6)) == nil)

        // Starts and stops that cancel out between two batches leave the level untouched.
        h.start()
        h.stop(.completed, execNs: 10, waitNs: 1)
        #expect(level(recorder.takeBatch(timestamp: testNow + 7)) == nil)
        h.start()
        #expect(level(recorder.takeBatch(timestamp: testNow + 8)) == 1)
    }

    @Test("the executing level through the string-keyed calls is the handle's level")
    func executingByStrings() {
        let recorder = NodeRecorder(origin: origin)
        recorder.jobStart(queue: "q", worker: "W")
        recorder.jobStart(queue: "q", worker: "W")
        recorder.jobStop(queue: "q", worker: "W", outcome: .completed, execNs: 5, waitNs: 5)
        let key = SeriesKey(series: "executing", labels: levelLabels(node: "n1", queue: "q", worker: "W"))
        #expect(entriesByKey(recorder.takeBatch(timestamp: testNow))[key]?.gaugeValue?.last == 1)
    }

    @Test("batches apply to a store in order; a batch applied twice is a duplicate")
    func applyToStore() throws {
        let recorder = NodeRecorder(origin: origin)
        let store = SeriesStore()
        var batches: [DeltaBatch] = []
        for i in 0..<5 {
            recorder.record(.fetched, queue: "q", count: Int64(i + 1))
            batches.append(recorder.takeBatch(timestamp: testNow - 10 + Int64(i)))
        }
        for b in batches { #expect(store.apply(b, now: testNow) == .applied(entries: 1, rejected: 0)) }
        #expect(store.apply(batches[2], now: testNow) == .duplicate)
        let fetched = try store.latest(Selection(series: "fetched", lookback: 60), now: testNow)
        #expect(fetched["all"] == 15)
    }
}
