import CoreMetrics
import MetStore

/// A swift-metrics backend that records into a ``NodeRecorder``, so libraries instrumented with
/// swift-metrics feed the same store: counters become count series, timers and recorders
/// sketch series (timers in nanoseconds), meters and gauges gauge series. The metric label is
/// the series name and dimensions become labels (plus `node`). Handlers are created once per
/// (label, dimensions) and reused, as the swift-metrics README asks of backends.
public struct RecorderMetricsFactory: MetricsFactory {
    public let recorder: NodeRecorder

    public init(recorder: NodeRecorder) { self.recorder = recorder }

    /// Dimensions plus `node`; this node's name wins over a `node` dimension (a repeated key
    /// keeps its last value), so grouping by node never credits another node.
    func labels(_ dimensions: [(String, String)]) -> LabelSet {
        LabelSet(dimensions + [("node", recorder.origin.node)])
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        CounterBridge(recorder.counter(label, labels: labels(dimensions)))
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> FloatingPointCounterHandler {
        GaugeBridge(recorder.gauge(label, labels: labels(dimensions)))
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler {
        GaugeBridge(recorder.gauge(label, labels: labels(dimensions)))
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        if aggregate { return SketchBridge(recorder.sketch(label, labels: labels(dimensions))) }
        return GaugeBridge(recorder.gauge(label, labels: labels(dimensions)))
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler {
        SketchBridge(recorder.sketch(label, labels: labels(dimensions)))
    }

    // Instruments live as long as the recorder: their series keep their history.
    public func destroyCounter(_ handler: CounterHandler) {}
    public func destroyFloatingPointCounter(_ handler: FloatingPointCounterHandler) {}
    public func destroyMeter(_ handler: MeterHandler) {}
    public func destroyRecorder(_ handler: RecorderHandler) {}
    public func destroyTimer(_ handler: TimerHandler) {}
}

final class CounterBridge: CounterHandler, Sendable {
    let instrument: CountInstrument
    init(_ instrument: CountInstrument) { self.instrument = instrument }
    func increment(by amount: Int64) { instrument.add(amount) }
    /// A count series holds events per interval; there is nothing to reset.
    func reset() {}
}

final class SketchBridge: TimerHandler, RecorderHandler, Sendable {
    let instrument: SketchInstrument
    init(_ instrument: SketchInstrument) { self.instrument = instrument }
    func recordNanoseconds(_ duration: Int64) { instrument.record(Double(duration)) }
    func record(_ value: Int64) { instrument.record(Double(value)) }
    func record(_ value: Double) { instrument.record(value) }
}

final class GaugeBridge: MeterHandler, RecorderHandler, FloatingPointCounterHandler, Sendable {
    let instrument: GaugeInstrument
    init(_ instrument: GaugeInstrument) { self.instrument = instrument }
    func set(_ value: Int64) { instrument.set(Double(value)) }
    func set(_ value: Double) { instrument.set(value) }
    func increment(by amount: Double) { instrument.add(amount) }
    func decrement(by amount: Double) { instrument.add(-amount) }
    func record(_ value: Int64) { instrument.set(Double(value)) }
    func record(_ value: Double) { instrument.set(value) }
    func reset() { instrument.set(0) }
}
