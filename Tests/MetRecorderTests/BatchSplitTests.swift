import MetRecorder
import MetStore
import MetValues
import Testing

/// A burst of new label sets in one interval: `takeBatches` splits it into consecutive batches
/// that each fit a mesh frame, and together they hold exactly what one batch would.
@Suite struct BatchSplitTests {
    let origin = Origin(node: "n1", incarnation: 3)

    func burst(_ recorder: NodeRecorder, queues: Int) {
        for i in 0..<queues {
            recorder.handle(queue: "tenant-\(i)", worker: "W").stop(.completed, execNs: Int64(1_000 + i), waitNs: 10)
        }
        recorder.record(.inserted, queue: "tenant-0", state: .available, count: 5)
        recorder.transition(queue: "tenant-1", worker: "W", from: .executing, to: .completed)
    }

    func totals(_ batches: [DeltaBatch]) -> [String] {
        let store = SeriesStore()
        for b in batches { store.apply(b, now: testNow) }
        return ["exec_count", "exec_time", "wait_time", "inserted", "transitions"].map { s in
            let rows = (try? store.latest(Selection(series: s, lookback: 60, group: "queue"), now: testNow)) ?? [:]
            return "\(s) \(rows.count) \(rows.values.reduce(0, +))"
        } + ["watermark \(store.watermark(of: origin))"]
    }

    @Test func aBurstIsSplitIntoFramesThatTogetherHoldOneBatch() {
        let split = NodeRecorder(origin: origin)
        let whole = NodeRecorder(origin: origin)
        burst(split, queues: 5_000)
        burst(whole, queues: 5_000)
        let parts = split.takeBatches(timestamp: testNow)
        #expect(parts.count == 4, "15,000 entries and more in parts of \(NodeRecorder.maxBatchEntries)")
        #expect(parts.allSatisfy { $0.entries.count <= NodeRecorder.maxBatchEntries })
        #expect(parts.map(\.seq) == [1, 2, 3, 4])
        #expect(parts.allSatisfy { $0.timestamp == testNow && $0.origin == origin })
        // The job-state changes ride together in the first part, for full_count.
        #expect(parts[0].entries.contains { $0.series == "inserted" } && parts[0].entries.contains { $0.series == "transitions" })
        #expect(parts.dropFirst().allSatisfy { part in !part.entries.contains { $0.series == "inserted" || $0.series == "transitions" } })
        let one = whole.takeBatch(timestamp: testNow)
        #expect(totals(parts).dropLast() == totals([one]).dropLast())
        #expect(totals(parts).last == "watermark 4")
        // The sequence goes on after the parts.
        #expect(split.takeBatches(timestamp: testNow + 1).map(\.seq) == [5])
    }

    @Test func aQuietIntervalIsOneBatch() {
        let recorder = NodeRecorder(origin: origin)
        burst(recorder, queues: 10)
        let batches = recorder.takeBatches(timestamp: testNow)
        #expect(batches.count == 1 && batches[0].seq == 1)
    }
}
