import MetRecorder
import MetStore
import MetValues
import Testing

/// Labels of every series the recorder writes (DESIGN §4) and the state each outcome leaves.
@Suite struct LabelTests {
    let origin = Origin(node: "node-a", incarnation: 3)

    static let expectedStates: [(JobOutcome, String)] = [
        (.completed, "completed"), (.retryable, "retryable"), (.discarded, "discarded"),
        (.cancelled, "cancelled"), (.snoozed, "scheduled"),
    ]

    @Test("outcomes map to job states; snoozed goes back to scheduled", arguments: expectedStates)
    func outcomeState(outcome: JobOutcome, state: String) {
        #expect(outcome.state.rawValue == state)
    }

    @Test("stop and exception put exec and wait time under the outcome's state", arguments: JobOutcome.allCases)
    func stopLabels(outcome: JobOutcome) throws {
        for viaException in [false, true] {
            let recorder = NodeRecorder(origin: origin)
            let h = recorder.handle(queue: "mailers", worker: "Mailer.Send")
            h.start()
            if viaException {
                h.exception(outcome, execNs: 2_500_000, waitNs: 40_000)
            } else {
                h.stop(outcome, execNs: 2_500_000, waitNs: 40_000)
            }
            let batch = recorder.takeBatch(timestamp: testNow)
            let labels = jobLabels(node: "node-a", queue: "mailers", worker: "Mailer.Send", state: outcome.state.rawValue)
            let byKey = entriesByKey(batch)
            let exec = try #require(byKey[SeriesKey(series: "exec_time", labels: labels)]?.sketchValue)
            let wait = try #require(byKey[SeriesKey(series: "wait_time", labels: labels)]?.sketchValue)
            #expect(exec.count == 1 && exec.sum == 2_500_000)
            #expect(wait.count == 1 && wait.sum == 40_000)
            #expect(byKey[SeriesKey(series: "exec_count", labels: labels)] == .count(1))
            // exec_time, exec_count, wait_time; the executing level went up and down within the batch (absent).
            #expect(batch.entries.count == 3, "\(batch.entries)")
            #expect(batch.entries.allSatisfy { $0.labels.keys == ["node", "queue", "state", "worker"] })
        }
    }

    @Test("the executing level is a gauge labelled node, queue and worker")
    func executingLabels() {
        let recorder = NodeRecorder(origin: origin)
        recorder.handle(queue: "q", worker: "W").start()
        let gauge = recorder.takeBatch(timestamp: testNow).entries.first { $0.series == "executing" }
        #expect(gauge?.labels == levelLabels(node: "node-a", queue: "q", worker: "W"))
        #expect(gauge?.value.kind == .gauge)
    }

    @Test("exec_count counts the jobs executed, by final state, as Oban.Met's does")
    func execCountByFinalState() {
        let recorder = NodeRecorder(origin: origin)
        let h = recorder.handle(queue: "q", worker: "W")
        for _ in 0..<3 { h.stop(.completed, execNs: 10, waitNs: 1) }
        h.exception(.retryable, execNs: 10, waitNs: 1)
        h.stop(.snoozed, execNs: 10, waitNs: 1)
        let counts = recorder.takeBatch(timestamp: testNow).entries.filter { $0.series == "exec_count" }
        var byState: [String: PointValue] = [:]
        for e in counts { byState[e.labels["state"]!] = e.value }
        #expect(byState == ["completed": .count(3), "retryable": .count(1), "scheduled": .count(1)])
        #expect(counts.allSatisfy { $0.labels.keys == ["node", "queue", "state", "worker"] })
        #expect(!recorder.takeBatch(timestamp: testNow + 1).entries.contains { $0.series == "exec_count" }, "a count per interval")
    }

    @Test("engine operations are counts labelled node and queue, plus state and worker where known",
          arguments: EngineOperation.allCases)
    func engineLabels(op: EngineOperation) {
        let recorder = NodeRecorder(origin: origin)
        recorder.record(op, queue: "q1")
        recorder.record(op, queue: "q1", state: .scheduled, count: 4)
        recorder.record(op, queue: "q1", state: .available, worker: "W", count: 2)
        recorder.record(op, queue: "q1", worker: "W", count: 3)
        let byKey = entriesByKey(recorder.takeBatch(timestamp: testNow))
        let s = op.rawValue
        #expect(byKey.count == 4)
        #expect(byKey[SeriesKey(series: s, labels: LabelSet(["node": "node-a", "queue": "q1"]))] == .count(1))
        #expect(byKey[SeriesKey(series: s, labels: LabelSet(["node": "node-a", "queue": "q1", "state": "scheduled"]))] == .count(4))
        #expect(byKey[SeriesKey(series: s, labels: LabelSet(["node": "node-a", "queue": "q1", "state": "available", "worker": "W"]))] == .count(2))
        #expect(byKey[SeriesKey(series: s, labels: LabelSet(["node": "node-a", "queue": "q1", "worker": "W"]))] == .count(3))
    }

    @Test("the same operation and labels recorded repeatedly add up in one entry")
    func engineCountsAddUp() {
        let recorder = NodeRecorder(origin: origin)
        for _ in 0..<10 { recorder.record(.inserted, queue: "q", state: .scheduled) }
        recorder.record(.inserted, queue: "q", state: .scheduled, count: 90)
        let batch = recorder.takeBatch(timestamp: testNow)
        #expect(batch.entries == [DeltaBatch.Entry(series: "inserted",
                                                   labels: LabelSet(["node": "node-a", "queue": "q", "state": "scheduled"]),
                                                   value: .count(100))])
    }

    @Test("transitions are counts labelled node, queue, worker, state and old_state")
    func transitionLabels() {
        let recorder = NodeRecorder(origin: origin)
        recorder.transition(queue: "q", worker: "W", from: .available, to: .executing)
        recorder.transition(queue: "q", worker: "W", from: .available, to: .executing, count: 2)
        recorder.transition(queue: "q", from: .scheduled, to: .available, count: 5)
        let byKey = entriesByKey(recorder.takeBatch(timestamp: testNow))
        #expect(byKey.count == 2)
        let withWorker = LabelSet(["node": "node-a", "queue": "q", "worker": "W", "state": "executing", "old_state": "available"])
        let noWorker = LabelSet(["node": "node-a", "queue": "q", "state": "available", "old_state": "scheduled"])
        #expect(byKey[SeriesKey(series: "transitions", labels: withWorker)] == .count(3))
        #expect(byKey[SeriesKey(series: "transitions", labels: noWorker)] == .count(5))
    }

    @Test("every entry's series has the kind DESIGN §4 gives it")
    func seriesKinds() {
        let recorder = NodeRecorder(origin: origin)
        let h = recorder.handle(queue: "q", worker: "W")
        h.start(); h.start()
        h.stop(.snoozed, execNs: 1, waitNs: 1)
        for op in EngineOperation.allCases { recorder.record(op, queue: "q") }
        recorder.transition(queue: "q", from: .executing, to: .completed)
        let standard = Dictionary(uniqueKeysWithValues: StandardSeries.all.map { ($0.name, $0.kind) })
        let batch = recorder.takeBatch(timestamp: testNow)
        #expect(batch.entries.count == 4 + EngineOperation.allCases.count + 1)  // exec_time, exec_count, wait_time, executing
        for e in batch.entries { #expect(standard[e.series] == e.value.kind, "\(e.series)") }
    }
}

@Test("JobOutcome.count matches its cases (the hot path sizes stripes by it)")
func outcomeCountMatchesCases() {
    #expect(JobOutcome.count == JobOutcome.allCases.count)
}
