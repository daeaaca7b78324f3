import Metrics
import MetRecorder
import MetStore
import MetValues
import Testing

/// Edge cases of the swift-metrics bridge and of queue-check retention.
@Suite struct BridgeEdgeTests {
    let recorder = NodeRecorder(origin: Origin(node: "n1", incarnation: 1))

    @Test("a `node` dimension never overrides this node's name")
    func nodeDimensionLoses() {
        let factory = RecorderMetricsFactory(recorder: recorder)
        Counter(label: "hits", dimensions: [("node", "someone-else")], factory: factory).increment(by: 4)
        let byKey = entriesByKey(recorder.takeBatch(timestamp: testNow))
        #expect(byKey[SeriesKey(series: "hits", labels: LabelSet(["node": "n1"]))] == .count(4))
        #expect(byKey.count == 1)
    }

    @Test("a gauge set only to 0 is reported once, then not again")
    func zeroGaugeIsReportedOnce() {
        let factory = RecorderMetricsFactory(recorder: recorder)
        Gauge(label: "idle_workers", dimensions: [], factory: factory).record(0)
        let first = entriesByKey(recorder.takeBatch(timestamp: testNow))
        #expect(first[SeriesKey(series: "idle_workers", labels: LabelSet(["node": "n1"]))] == .gauge(MetValues.Gauge(0)))
        #expect(entriesByKey(recorder.takeBatch(timestamp: testNow + 1)).isEmpty)
    }

    @Test("a queue check exactly `retention` seconds old is still served; one second more is not")
    func queueCheckRetentionBoundary() {
        let store = SeriesStore()
        recorder.queueCheck(queue: "q", limit: 5, paused: false, running: [], timestamp: testNow - 30)
        store.apply(recorder.takeBatch(timestamp: testNow), now: testNow)
        #expect(store.queueChecks(now: testNow).count == 1)
        #expect(store.queueChecks(now: testNow + 1).isEmpty)
    }
}
