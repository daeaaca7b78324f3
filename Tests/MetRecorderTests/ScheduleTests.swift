import MetRecorder
import MetStore
import Synchronization
import Testing

/// The recorder's own loop: a batch per interval, and a final one when cancelled.
@Suite struct ScheduleTests {
    @Test("run delivers numbered batches and, when cancelled, a last one holding what was left", .timeLimit(.minutes(1)))
    func runDeliversUntilCancelled() async {
        let recorder = NodeRecorder(origin: Origin(node: "n1", incarnation: 1))
        let (stream, sink) = AsyncStream.makeStream(of: DeltaBatch.self)
        let handle = recorder.handle(queue: "q", worker: "W")
        let loop = Task {
            await recorder.run(every: .milliseconds(5)) { batch in sink.yield(batch) }
            sink.finish()
        }
        // Wait for a few batches (suspending on the stream, never sleeping), then record and stop.
        var batches: [DeltaBatch] = []
        var iterator = stream.makeAsyncIterator()
        while batches.count < 3, let b = await iterator.next() { batches.append(b) }
        handle.start()
        handle.stop(.completed, execNs: 1_000, waitNs: 10)
        loop.cancel()
        while let b = await iterator.next() { batches.append(b) }
        #expect(batches.count >= 4)
        #expect(batches.map(\.seq) == Array(1...UInt64(batches.count)))
        let recorded = batches.flatMap(\.entries).filter { $0.series == "exec_time" }
        #expect(recorded.count == 1, "the stop recorded just before cancelling is in exactly one batch")
        let now = NodeRecorder.wallClockSecond()
        #expect(batches.allSatisfy { abs($0.timestamp - now) < 120 })
    }
}
