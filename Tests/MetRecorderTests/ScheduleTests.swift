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

    @Test("boundaries are multiples of the interval, strictly later, each taken once")
    func boundariesAreAlignedAndNeverRepeat() {
        var clock = BatchClock(intervalMs: 200)
        #expect(clock.next(after: 1_000) == 1_200, "a wake-up exactly on a boundary waits for the next")
        #expect(clock.next(after: 1_201) == 1_400)
        #expect(clock.next(after: 1_399) == 1_600, "woken early by the real-time clock: 1,400 was taken already")
        #expect(clock.next(after: 2_950) == 3_000, "after a stall the schedule resumes on the grid, without catching up")
        var second = BatchClock(intervalMs: 1_000)
        #expect(second.next(after: 41_999) == 42_000)
        #expect(second.next(after: 42_003) == 43_000, "lateness does not drift the schedule")
        #expect(BatchClock(intervalMs: 0).intervalMs == 1)
    }

    @Test("a batch is stamped with the second its interval ended in", arguments: [
        (Int64(42_000), Int64(41)), (42_200, 42), (42_999, 42), (43_000, 42), (1, 0), (0, -1),
    ])
    func stampIsTheLastSecondOfTheInterval(boundary: Int64, second: Int64) {
        #expect(BatchClock.stamp(endingAt: boundary) == second)
    }

    @Test("an event recorded late in a second lands in that second, not the next", .timeLimit(.minutes(1)))
    func anEventLandsInTheSecondItWasRecordedIn() async throws {
        let recorder = NodeRecorder(origin: Origin(node: "n1", incarnation: 1))
        let (stream, sink) = AsyncStream.makeStream(of: DeltaBatch.self)
        let lastTaken = Atomic<Int64>(0)  // wall-clock ms at which the latest batch was taken
        let loop = Task {
            await recorder.run(every: .seconds(1)) { batch in
                lastTaken.store(NodeRecorder.wallClockMilliseconds(), ordering: .relaxed)
                sink.yield(batch)
            }
            sink.finish()
        }
        defer { loop.cancel() }
        var second: Int64 = 0
        var series = ""
        for attempt in 0... {
            // Record 50 ms before the end of a second in which a batch was already taken (a late
            // take of the second's own boundary, on a starved machine, waits for the next try):
            // a batch taken on a drifting schedule would take the event after the second ended
            // and stamp it with the next one.
            let ms = NodeRecorder.wallClockMilliseconds()
            try await Task.sleep(for: .milliseconds((950 - ms % 1000 + 1000) % 1000))
            let before = NodeRecorder.wallClockMilliseconds()
            guard before % 1000 >= 900, lastTaken.load(ordering: .relaxed) >= before / 1000 * 1000 else { continue }
            series = "attempt\(attempt)"
            recorder.counter(series, labels: LabelSet(["queue": "q"])).add(1)
            if NodeRecorder.wallClockSecond() == before / 1000 {
                second = before / 1000
                break
            }
        }
        for await batch in stream where batch.entries.contains(where: { $0.series == series }) {
            #expect(batch.timestamp == second)
            break
        }
    }
}
