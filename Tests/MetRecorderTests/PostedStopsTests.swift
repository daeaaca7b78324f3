@testable import MetRecorder
import MetStore
import MetValues
import Testing

/// Stops posted in bulk (`POST /api/events`): the same batch entries as stops through handles,
/// with no handle kept for a queue and worker the recorder did not already hold.
@Suite struct PostedStopsTests {
    let origin = Origin(node: "n1", incarnation: 3)

    func stops(queues: Int, outcomes: [JobOutcome] = [.completed]) -> [PostedStop] {
        (0..<queues).flatMap { i in
            outcomes.map { PostedStop(queue: "tenant-\(i % 700)", worker: "W\(i % 3)", outcome: $0, execNs: Int64(1_000 + i), waitNs: Int64(i)) }
        }
    }

    /// Every entry of `batches`, applied to a store, as (series, labels) → value.
    func contents(_ batches: [DeltaBatch]) -> [String: String] {
        let store = SeriesStore()
        for b in batches { store.apply(b, now: testNow) }
        var out: [String: String] = [:]
        for series in ["exec_time", "wait_time"] {
            let rows = (try? store.summary(Selection(series: series, lookback: 60, group: "queue"), by: 60, now: testNow)) ?? []
            for row in rows { out["\(series) \(row.label)"] = "\(row.count) \(row.sum) \(row.p50) \(row.max)" }
        }
        for series in ["exec_count", "executing"] {
            let byQueue = (try? store.latest(Selection(series: series, lookback: 60, group: "queue"), now: testNow)) ?? [:]
            for (q, v) in byQueue { out["\(series) \(q)"] = "\(v)" }
        }
        return out
    }

    @Test func postedStopsMakeTheEntriesHandlesWouldAndKeepNoHandle() {
        let posted = NodeRecorder(origin: origin)
        let handled = NodeRecorder(origin: origin)
        let all = stops(queues: 3_000, outcomes: [.completed, .discarded])
        posted.recordStops(Array(all.prefix(2_000)))
        posted.recordStops(Array(all.dropFirst(2_000)))  // two requests in one interval add up
        for s in all { handled.jobStop(queue: s.queue, worker: s.worker, outcome: s.outcome, execNs: s.execNs, waitNs: s.waitNs) }
        #expect(posted.registeredCount == 0)
        let postedBatches = posted.takeBatches(timestamp: testNow)
        let handledBatches = handled.takeBatches(timestamp: testNow)
        #expect(postedBatches.map(\.entries.count).reduce(0, +) == handledBatches.map(\.entries.count).reduce(0, +))
        let got = contents(postedBatches)
        #expect(!got.isEmpty)
        #expect(got == contents(handledBatches))
        // Nothing waits for the next batch: it is empty, and no handle was made on the way.
        #expect(posted.takeBatch(timestamp: testNow + 1).entries.isEmpty)
        #expect(posted.registeredCount == 0)
    }

    @Test func aStopOfAHeldHandleLowersItsExecutingLevel() {
        let recorder = NodeRecorder(origin: origin)
        let handle = recorder.handle(queue: "q", worker: "W")
        handle.start()
        handle.start()
        recorder.recordStops([PostedStop(queue: "q", worker: "W", outcome: .completed, execNs: 5, waitNs: 1)])
        let batch = recorder.takeBatch(timestamp: testNow)
        let level = batch.entries.first { $0.series == "executing" }
        #expect(level?.value == .gauge(Gauge(1)))
        #expect(batch.entries.filter { $0.series == "exec_count" }.map(\.value) == [.count(1)])
    }

    @Test func aBurstOfPostedStopsIsSplitIntoFramesLikeAnyOther() {
        let recorder = NodeRecorder(origin: origin)
        let burst = (0..<5_000).map { PostedStop(queue: "tenant-\($0)", worker: "W", outcome: .completed, execNs: 7, waitNs: 1) }
        recorder.recordStops(burst)
        recorder.record(.inserted, queue: "tenant-0", state: .available, count: 5)
        let parts = recorder.takeBatches(timestamp: testNow)
        // The recorded entries first (with the job-state series, and posted stops in the room
        // left), then the posted stops' own parts: no more batches than the entries need.
        #expect(parts.count == 4)
        #expect(parts.map(\.seq) == [1, 2, 3, 4])
        #expect(parts.allSatisfy { $0.entries.count <= NodeRecorder.maxBatchEntries })
        #expect(parts[0].entries.contains { $0.series == "inserted" })
        #expect(parts.dropFirst().allSatisfy { part in !part.entries.contains { $0.series == "inserted" } })
        #expect(parts.map(\.entries.count).reduce(0, +) == 15_001)
        #expect(Set(parts.flatMap(\.entries).map { "\($0.series) \($0.labels)" }).count == 15_001, "each entry once")
        #expect(recorder.takeBatches(timestamp: testNow + 1).map(\.seq) == [5])
        #expect(recorder.registeredCount == 1, "only the `inserted` counter")
    }

    @Test func aFewPostedStopsRideInTheIntervalsOneBatch() {
        let recorder = NodeRecorder(origin: origin)
        recorder.recordStops(stops(queues: 10))
        recorder.record(.inserted, queue: "q", state: .available, count: 2)
        let batches = recorder.takeBatches(timestamp: testNow)
        #expect(batches.count == 1)
        #expect(batches[0].entries.count == 31)
    }

    @Test func postedStopsAfterAFirstPartOfMoreJobStateEntriesThanABatchHolds() {
        let recorder = NodeRecorder(origin: origin)
        for i in 0..<5_000 { recorder.record(.inserted, queue: "new-\(i)", state: .available) }
        recorder.recordStops(stops(queues: 10))
        let parts = recorder.takeBatches(timestamp: testNow)
        #expect(parts.count == 2)
        #expect(parts[0].entries.count == 5_000, "the job-state series stay together in the first part")
        #expect(parts[1].entries.count == 30)
        #expect(parts.map(\.seq) == [1, 2])
    }
}
