import MetRecorder
import MetStore
import MetValues
import Testing

/// Queue checks (limit, paused, running ids) travel with the batches and are kept 30 s by replicas.
@Suite struct QueueCheckTests {
    @Test("the latest check per queue goes with the batch, sorted by queue")
    func checksTravelWithBatch() {
        let recorder = NodeRecorder(origin: Origin(node: "n1", incarnation: 1))
        recorder.queueCheck(queue: "b", limit: 5, paused: true, running: [], timestamp: testNow - 3)
        recorder.queueCheck(queue: "a", limit: 10, paused: false, running: [1, 2], timestamp: testNow - 5)
        recorder.queueCheck(queue: "a", limit: 20, paused: false, running: [3], timestamp: testNow - 1)
        let batch = recorder.takeBatch(timestamp: testNow)
        #expect(batch.checks == [
            QueueCheck(node: "n1", queue: "a", limit: 20, paused: false, running: [3], timestamp: testNow - 1),
            QueueCheck(node: "n1", queue: "b", limit: 5, paused: true, running: [], timestamp: testNow - 3),
        ])
        #expect(batch.entries.isEmpty, "checks are not series entries")
    }

    @Test("every batch carries the node's current checks, so a replica that missed one still converges")
    func checksRepeatInLaterBatches() {
        let recorder = NodeRecorder(origin: Origin(node: "n1", incarnation: 1))
        recorder.queueCheck(queue: "a", limit: 10, paused: false, running: [1], timestamp: testNow)
        let first = recorder.takeBatch(timestamp: testNow)
        let second = recorder.takeBatch(timestamp: testNow + 1)
        #expect(first.checks.count == 1)
        #expect(second.checks == first.checks)
    }

    @Test("applied batches make the checks visible per (node, queue), latest wins, expiring after 30 s")
    func storeKeepsLatestPerNodeAndQueue() {
        let n1 = NodeRecorder(origin: Origin(node: "n1", incarnation: 1))
        let n2 = NodeRecorder(origin: Origin(node: "n2", incarnation: 9))
        let store = SeriesStore()

        n1.queueCheck(queue: "default", limit: 10, paused: false, running: [1, 2, 3], timestamp: testNow - 10)
        n1.queueCheck(queue: "mailers", limit: 2, paused: true, running: [], timestamp: testNow - 10)
        n2.queueCheck(queue: "default", limit: 10, paused: false, running: [4], timestamp: testNow - 8)
        #expect(store.apply(n1.takeBatch(timestamp: testNow - 10), now: testNow) == .applied(entries: 0, rejected: 0))
        #expect(store.apply(n2.takeBatch(timestamp: testNow - 8), now: testNow) == .applied(entries: 0, rejected: 0))

        #expect(store.queueChecks(now: testNow).map { "\($0.node)/\($0.queue)" } == ["n1/default", "n1/mailers", "n2/default"])

        // n1's next check of "default" replaces its previous one, not n2's.
        n1.queueCheck(queue: "default", limit: 10, paused: true, running: [7], timestamp: testNow - 2)
        store.apply(n1.takeBatch(timestamp: testNow - 2), now: testNow)
        let checks = store.queueChecks(now: testNow)
        #expect(checks.count == 3)
        #expect(checks.first { $0.node == "n1" && $0.queue == "default" }
            == QueueCheck(node: "n1", queue: "default", limit: 10, paused: true, running: [7], timestamp: testNow - 2))
        #expect(checks.first { $0.node == "n2" && $0.queue == "default" }?.running == [4])

        // Kept 30 s: taken at now-10 (n1/mailers), now-8 (n2/default) and now-2 (n1/default).
        func visible(_ now: Int64) -> [String] { store.queueChecks(now: now).map { "\($0.node)/\($0.queue)" } }
        #expect(visible(testNow + 19) == ["n1/default", "n1/mailers", "n2/default"])
        #expect(visible(testNow + 21) == ["n1/default", "n2/default"])
        #expect(visible(testNow + 23) == ["n1/default"])
        #expect(visible(testNow + 29).isEmpty)
    }
}
