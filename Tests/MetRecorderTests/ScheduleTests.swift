import MetRecorder
import MetStore
import Synchronization
import Testing

/// The recorder's own loop: a batch per interval, and a final one when cancelled.
@Suite struct ScheduleTests {
    @Test("run delivers numbered batches and, when cancelled, a last one holding what was left")
    func runDeliversUntilCancelled() async {
        let recorder = NodeRecorder(origin: Origin(node: "n1", incarnation: 1))
        let delivered = Mutex<[DeltaBatch]>([])
        let handle = recorder.handle(queue: "q", worker: "W")
        let loop = Task {
            await recorder.run(every: .milliseconds(5)) { batch in delivered.withLock { $0.append(batch) } }
        }
        // Wait (on a condition, with a deadline) for a few batches, then record and cancel.
        let deadline = ContinuousClock.now + .seconds(20)
        while delivered.withLock({ $0.count }) < 3, ContinuousClock.now < deadline { await Task.yield() }
        handle.start()
        handle.stop(.completed, execNs: 1_000, waitNs: 10)
        loop.cancel()
        await loop.value
        let batches = delivered.withLock { $0 }
        #expect(batches.count >= 4)
        #expect(batches.map(\.seq) == Array(1...UInt64(batches.count)))
        let recorded = batches.flatMap(\.entries).filter { $0.series == "exec_time" }
        #expect(recorded.count == 1, "the stop recorded just before cancelling is in exactly one batch")
        let now = NodeRecorder.wallClockSecond()
        #expect(batches.allSatisfy { abs($0.timestamp - now) < 120 })
    }
}
