import Metrics
import MetRecorder
import MetStore
import MetValues
import Testing

/// The swift-metrics backend. `MetricsSystem.bootstrap` is global and once-only, so every test
/// hands the factory to the metric's initialiser (or calls the factory) instead.
@Suite struct MetricsBridgeTests {
    let recorder = NodeRecorder(origin: Origin(node: "n1", incarnation: 1))
    var factory: RecorderMetricsFactory { RecorderMetricsFactory(recorder: recorder) }

    func take() -> [SeriesKey: PointValue] { entriesByKey(recorder.takeBatch(timestamp: testNow)) }
    func key(_ series: String, _ dims: [String: String] = [:]) -> SeriesKey {
        SeriesKey(series: series, labels: LabelSet(dims.merging(["node": "n1"]) { a, _ in a }))
    }

    @Test("counters become count series: the label is the series, dimensions become labels plus node")
    func counters() {
        Counter(label: "http_requests", dimensions: [("route", "/jobs"), ("status", "200")], factory: factory).increment(by: 5)
        let c = Counter(label: "http_requests", dimensions: [("route", "/jobs"), ("status", "500")], factory: factory)
        c.increment()
        c.increment(by: 2)
        factory.makeCounter(label: "plain", dimensions: []).increment(by: 7)
        let byKey = take()
        #expect(byKey.count == 3)
        #expect(byKey[key("http_requests", ["route": "/jobs", "status": "200"])] == .count(5))
        #expect(byKey[key("http_requests", ["route": "/jobs", "status": "500"])] == .count(3))
        #expect(byKey[key("plain")] == .count(7))
        // Counts are deltas: the next batch holds nothing; reset() changes nothing.
        c.reset()
        #expect(take().isEmpty)
    }

    @Test("two handlers made for the same label and dimensions feed one series")
    func handlersShareSeries() {
        let a = Counter(label: "hits", dimensions: [("k", "v")], factory: factory)
        let b = Counter(label: "hits", dimensions: [("k", "v")], factory: factory)
        a.increment(by: 2)
        b.increment(by: 3)
        #expect(take() == [key("hits", ["k": "v"]): .count(5)])
    }

    @Test("dimension order does not make another series")
    func dimensionOrder() {
        Counter(label: "hits", dimensions: [("a", "1"), ("b", "2")], factory: factory).increment()
        Counter(label: "hits", dimensions: [("b", "2"), ("a", "1")], factory: factory).increment()
        #expect(take() == [key("hits", ["a": "1", "b": "2"]): .count(2)])
    }

    @Test("timers become sketch series in nanoseconds")
    func timers() throws {
        let t = CoreMetrics.Timer(label: "db_query", dimensions: [("db", "main")], factory: factory)
        t.recordNanoseconds(1_500)
        t.recordMilliseconds(2)
        t.recordSeconds(1.5)
        t.recordMicroseconds(3)
        let sketch = try #require(take()[key("db_query", ["db": "main"])]?.sketchValue)
        #expect(sketch.count == 4)
        #expect(sketch.sum == 1_500 + 2_000_000 + 1_500_000_000 + 3_000)
        #expect(sketch.min == 1_500 && sketch.max == 1_500_000_000)
        #expect(withinRelative(try #require(sketch.quantile(0.5)), 3_000))
    }

    @Test("aggregating recorders become sketches; gauges and meters become gauge series")
    func recordersGaugesMeters() throws {
        let r = CoreMetrics.Recorder(label: "payload_bytes", dimensions: [("dir", "in")], aggregate: true, factory: factory)
        r.record(100)
        r.record(250.5)
        let g = CoreMetrics.Gauge(label: "pool_size", dimensions: [("pool", "db")], factory: factory)
        g.record(4)
        g.record(9)
        let m = Meter(label: "in_flight", dimensions: [("svc", "api")], factory: factory)
        m.set(3)
        m.increment(by: 2)
        m.decrement(by: 1)
        let byKey = take()
        let sketch = try #require(byKey[key("payload_bytes", ["dir": "in"])]?.sketchValue)
        #expect(sketch.count == 2 && sketch.sum == 350.5)
        let pool = try #require(byKey[key("pool_size", ["pool": "db"])]?.gaugeValue)
        #expect(pool.last == 9 && pool.max == 9)
        let inFlight = try #require(byKey[key("in_flight", ["svc": "api"])]?.gaugeValue)
        #expect(inFlight.last == 4 && inFlight.max == 5)
        #expect(byKey.count == 3)

        // A gauge keeps being sampled while non-zero, and is reported once more at zero.
        #expect(take()[key("pool_size", ["pool": "db"])]?.gaugeValue?.last == 9)
        g.record(0)
        m.set(0)
        #expect(take()[key("pool_size", ["pool": "db"])]?.gaugeValue?.last == 0)
        #expect(take().isEmpty)
    }

    @Test("a non-aggregating recorder is a gauge")
    func nonAggregatingRecorder() {
        CoreMetrics.Recorder(label: "temp", dimensions: [], aggregate: false, factory: factory).record(21.5)
        #expect(take()[key("temp")]?.gaugeValue?.last == 21.5)
    }

    @Test("NaN and infinities are refused by sketches and gauges")
    func nonFiniteRefused() throws {
        let r = CoreMetrics.Recorder(label: "sizes", dimensions: [], aggregate: true, factory: factory)
        r.record(Double.nan)
        r.record(Double.infinity)
        r.record(-Double.infinity)
        let g = CoreMetrics.Gauge(label: "lvl", dimensions: [], factory: factory)
        g.record(Double.nan)
        let m = Meter(label: "mtr", dimensions: [], factory: factory)
        m.set(Double.infinity)
        #expect(take().isEmpty)

        r.record(8)
        r.record(Double.nan)
        g.record(2)
        g.record(Double.infinity)
        m.set(5)
        m.increment(by: Double.nan)
        let byKey = take()
        let sketch = try #require(byKey[key("sizes")]?.sketchValue)
        #expect(sketch.count == 1 && sketch.sum == 8)
        #expect(byKey[key("lvl")]?.gaugeValue?.last == 2)
        #expect(byKey[key("mtr")]?.gaugeValue?.last == 5)
    }

    @Test("bridged series apply to a store with the right kinds")
    func storeKinds() throws {
        Counter(label: "http_requests", dimensions: [("route", "/")], factory: factory).increment(by: 4)
        CoreMetrics.Timer(label: "db_query", dimensions: [], factory: factory).recordNanoseconds(1_000)
        Meter(label: "in_flight", dimensions: [], factory: factory).set(6)
        let store = SeriesStore()
        #expect(store.apply(recorder.takeBatch(timestamp: testNow), now: testNow) == .applied(entries: 3, rejected: 0))
        #expect(store.kind(of: "http_requests") == .count)
        #expect(store.kind(of: "db_query") == .sketch)
        #expect(store.kind(of: "in_flight") == .gauge)
        #expect(try store.latest(Selection(series: "http_requests", lookback: 10, group: "route"), now: testNow) == ["/": 4])
    }
}
