import MetRecorder
import MetStore
import Testing

/// Recorder memory in proportion to use (issue 17): stripes are made by the threads that record,
/// and handles or instruments idle for a while that nobody holds are released, without losing
/// anything recorded.
@Suite struct RecorderMemoryTests {
    let origin = Origin(node: "n1", incarnation: 1)

    @Test("a handle allocates a stripe only for the thread slots that record on it")
    func stripesOnFirstUse() async {
        let recorder = NodeRecorder(origin: origin, stripes: 16, releaseAfterIdleBatches: 60)
        let h = recorder.handle(queue: "q", worker: "W")
        #expect(h.allocatedStripes == 0)
        h.stop(.completed, execNs: 1, waitNs: 1)
        #expect(h.allocatedStripes == 1)
        h.start()
        #expect(h.allocatedStripes == 1, "the same thread, the same stripe")
        await runOnThreads((0..<4).map { _ in { h.stop(.completed, execNs: 2, waitNs: 2) } })
        #expect((1...5).contains(h.allocatedStripes))
        let exec = recorder.takeBatch(timestamp: testNow).entries.first { $0.series == "exec_count" }?.value
        #expect(exec == .count(5), "nothing lost across stripes made on the fly")
    }

    @Test("an outcome's sketches are made by its first job and freed after an idle interval; nothing is lost")
    func outcomePairsFollowUse() {
        let recorder = NodeRecorder(origin: origin, stripes: nil, releaseAfterIdleBatches: 60)
        let h = recorder.handle(queue: "q", worker: "W")
        h.stop(.completed, execNs: 5, waitNs: 1)
        #expect(h.allocatedOutcomePairs == 1, "one outcome seen: one pair, not five")
        h.stop(.discarded, execNs: 7, waitNs: 1)
        #expect(h.allocatedOutcomePairs == 2)
        func executed(_ t: Int64) -> Int64 {
            recorder.takeBatch(timestamp: testNow + t).entries.reduce(0) { total, e in
                guard e.series == "exec_count", case .count(let n) = e.value else { return total }
                return total + n
            }
        }
        #expect(executed(0) == 2)
        #expect(h.allocatedOutcomePairs == 2, "drained while busy: kept, so a busy handle records without allocating")
        h.stop(.completed, execNs: 5, waitNs: 1)
        #expect(executed(1) == 1)
        #expect(h.allocatedOutcomePairs == 1, "discarded was idle for an interval: freed")
        #expect(executed(2) == 0)
        #expect(h.allocatedOutcomePairs == 0)
        h.stop(.discarded, execNs: 9, waitNs: 2)
        #expect(h.allocatedOutcomePairs == 1, "made again by the next job")
        #expect(executed(3) == 1, "recorded after the pair was freed and made again")
    }

    @Test("an idle handle nobody holds is released, and a later job makes a new one; totals stay exact")
    func idleHandlesAreReleased() {
        let recorder = NodeRecorder(origin: origin, stripes: nil, releaseAfterIdleBatches: 3)
        recorder.jobStop(queue: "q", worker: "W", outcome: .completed, execNs: 5, waitNs: 1)
        var executed: Int64 = 0
        func take(_ t: Int64) {
            for e in recorder.takeBatch(timestamp: testNow + t).entries where e.series == "exec_count" {
                if case .count(let n) = e.value { executed += n }
            }
        }
        take(0)
        #expect(recorder.registeredCount == 1)
        take(1); take(2)
        #expect(recorder.registeredCount == 1, "idle for two batches: kept")
        take(3)
        #expect(recorder.registeredCount == 0, "idle for three batches and held by nobody: released")
        recorder.jobStop(queue: "q", worker: "W", outcome: .completed, execNs: 5, waitNs: 1)
        #expect(recorder.registeredCount == 1)
        take(4)
        #expect(executed == 2)
    }

    @Test("a handle the caller holds is never released, and what it records later is reported")
    func heldHandlesStay() {
        let recorder = NodeRecorder(origin: origin, stripes: nil, releaseAfterIdleBatches: 2)
        let h = recorder.handle(queue: "q", worker: "W")
        for t in 0..<10 { _ = recorder.takeBatch(timestamp: testNow + Int64(t)) }
        #expect(recorder.registeredCount == 1)
        h.stop(.discarded, execNs: 1, waitNs: 1)
        let batch = recorder.takeBatch(timestamp: testNow + 10)
        #expect(batch.entries.contains { $0.series == "exec_count" && $0.value == .count(1) })
    }

    @Test("a handle with jobs still executing is never released")
    func executingHandlesStay() {
        let recorder = NodeRecorder(origin: origin, stripes: nil, releaseAfterIdleBatches: 2)
        recorder.jobStart(queue: "q", worker: "W")
        for t in 0..<6 { _ = recorder.takeBatch(timestamp: testNow + Int64(t)) }
        #expect(recorder.registeredCount == 1, "its level (1) is reported every batch: not idle")
        recorder.jobStop(queue: "q", worker: "W", outcome: .completed, execNs: 1, waitNs: 1)
        for t in 6..<12 { _ = recorder.takeBatch(timestamp: testNow + Int64(t)) }
        #expect(recorder.registeredCount == 0)
    }

    @Test("string-keyed instruments are released when idle and made again; counts stay exact")
    func idleInstrumentsAreReleased() {
        let recorder = NodeRecorder(origin: origin, stripes: nil, releaseAfterIdleBatches: 2)
        var inserted: Int64 = 0
        for round in 0..<20 {
            if round % 5 == 0 {
                recorder.record(.inserted, queue: "q\(round)", count: 3)
                recorder.transition(queue: "q\(round)", from: .available, to: .executing)
            }
            for e in recorder.takeBatch(timestamp: testNow + Int64(round)).entries where e.series == "inserted" {
                if case .count(let n) = e.value { inserted += n }
            }
        }
        #expect(inserted == 12)
        #expect(recorder.registeredCount == 0, "every instrument idle for two batches and unheld")
    }
}
