import MetRecorder
import MetStore
import MetValues
import Synchronization
import Testing

/// Handles are resolved once per (queue, worker) and shared by every path that records a job.
@Suite struct HandleTests {
    let origin = Origin(node: "n1", incarnation: 1)

    @Test("handle(queue:worker:) returns the identical object for the same pair, another for another")
    func identity() {
        let recorder = NodeRecorder(origin: origin)
        let a = recorder.handle(queue: "q", worker: "W")
        #expect(a === recorder.handle(queue: "q", worker: "W"))
        #expect(a.queue == "q" && a.worker == "W")
        #expect(a !== recorder.handle(queue: "q", worker: "V"))
        #expect(a !== recorder.handle(queue: "p", worker: "W"))
        // "q"+"W" vs "qW"+"": the key is the pair, not a concatenation.
        #expect(recorder.handle(queue: "qW", worker: "") !== recorder.handle(queue: "q", worker: "W"))
        #expect(a !== NodeRecorder(origin: origin).handle(queue: "q", worker: "W"), "handles belong to their recorder")
    }

    @Test("threads resolving the same pair at once all get one handle")
    func concurrentResolution() async {
        let recorder = NodeRecorder(origin: origin)
        let ids = Shared<Set<ObjectIdentifier>>([])
        await runOnThreads((0..<6).map { _ in
            {
                for i in 0..<200 {
                    let h = recorder.handle(queue: "q\(i % 4)", worker: "W")
                    if i % 4 == 0 { ids.update { _ = $0.insert(ObjectIdentifier(h)) } }
                }
            }
        })
        #expect(ids.snapshot.count == 1)
        #expect(ids.snapshot.first == ObjectIdentifier(recorder.handle(queue: "q0", worker: "W")))
    }

    @Test("string-keyed jobStart/jobStop/jobException land in the same series as the handle")
    func stringsAndHandleShareSeries() throws {
        let recorder = NodeRecorder(origin: origin)
        let h = recorder.handle(queue: "q", worker: "W")
        h.start()
        recorder.jobStart(queue: "q", worker: "W")
        recorder.jobStart(queue: "q", worker: "W")
        h.stop(.completed, execNs: 100, waitNs: 10)
        recorder.jobStop(queue: "q", worker: "W", outcome: .completed, execNs: 300, waitNs: 30)
        recorder.jobException(queue: "q", worker: "W", outcome: .completed, execNs: 500, waitNs: 50)
        let batch = recorder.takeBatch(timestamp: testNow)
        let labels = jobLabels(node: "n1", queue: "q", worker: "W", state: "completed")
        #expect(batch.entries.filter { $0.series == "exec_time" }.count == 1)
        let exec = try #require(entriesByKey(batch)[SeriesKey(series: "exec_time", labels: labels)]?.sketchValue)
        let wait = try #require(entriesByKey(batch)[SeriesKey(series: "wait_time", labels: labels)]?.sketchValue)
        #expect(exec.count == 3 && exec.sum == 900)
        #expect(wait.count == 3 && wait.sum == 90)
        // Three starts, three stops, all on the same handle: the level never left zero at a batch.
        #expect(!batch.entries.contains { $0.series == "executing" })
    }

    @Test("a handle created while batches are being taken is drained by a later batch")
    func handleCreatedLate() {
        let recorder = NodeRecorder(origin: origin)
        _ = recorder.takeBatch(timestamp: testNow)
        recorder.handle(queue: "late", worker: "W").start()
        let batch = recorder.takeBatch(timestamp: testNow + 1)
        #expect(batch.entries.map(\.series) == ["executing"])
    }

    @Test("a stop without its start leaves the executing level at zero, and the idle handle quiet")
    func aStopWithoutItsStartDoesNotTakeTheLevelBelowZero() {
        let recorder = NodeRecorder(origin: origin)
        let h = recorder.handle(queue: "q", worker: "W")
        h.stop(.completed, execNs: 100, waitNs: 10)  // its start was seen by an earlier process
        let first = recorder.takeBatch(timestamp: testNow)
        #expect(Set(first.entries.map(\.series)) == ["exec_time", "exec_count", "wait_time"])
        #expect(recorder.takeBatch(timestamp: testNow + 1).entries.isEmpty, "nothing more from an idle handle")
        h.start()
        let level = recorder.takeBatch(timestamp: testNow + 2).entries.first { $0.series == "executing" }?.value
        #expect(level == .gauge(Gauge(1)), "the next start counts from zero")
    }
}
