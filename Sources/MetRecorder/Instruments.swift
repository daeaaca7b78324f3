import MetStore
import MetValues
import Synchronization

/// How many batches in a row an instrument had nothing to report (touched only by the batch
/// taker, under the recorder's `taking` lock).
final class IdleCounter: @unchecked Sendable {  // read and written only by the one batch taker at a time
    var batches = 0

    /// Notes one batch; returns `reported` for the caller's convenience.
    @discardableResult
    func note(_ reported: Bool) -> Bool {
        batches = reported ? 0 : batches + 1
        return reported
    }
}

/// A count series for one label set: an atomic delta, swapped out at every batch.
public final class CountInstrument: Sendable {
    let series: String
    let labels: LabelSet
    @usableFromInline let delta = Atomic<Int64>(0)

    init(series: String, labels: LabelSet) {
        self.series = series
        self.labels = labels
    }

    /// Adds `n` events (saturating is left to the store; the delta wraps only past 9.2e18).
    @inlinable public func add(_ n: Int64 = 1) { delta.wrappingAdd(n, ordering: .relaxed) }

    let idle = IdleCounter()

    func drain(into entries: inout [DeltaBatch.Entry]) {
        let n = delta.exchange(0, ordering: .relaxed)
        if idle.note(n != 0) { entries.append(.init(series: series, labels: labels, value: .count(n))) }
    }

    func isEmpty() -> Bool { delta.load(ordering: .relaxed) == 0 }
}

/// A sketch series for one label set.
public final class SketchInstrument: Sendable {
    let series: String
    let labels: LabelSet
    let sketch = Mutex(Sketch())

    init(series: String, labels: LabelSet) {
        self.series = series
        self.labels = labels
    }

    /// Records one observation; NaN and infinities are refused (returns `false`).
    @discardableResult
    public func record(_ value: Double) -> Bool { sketch.withLock { $0.add(value) } }

    let idle = IdleCounter()

    func drain(into entries: inout [DeltaBatch.Entry]) {
        let taken: Sketch? = sketch.withLock { s in
            guard !s.isEmpty else { return nil }
            defer { s.reset() }
            return s
        }
        if idle.note(taken != nil), let taken { entries.append(.init(series: series, labels: labels, value: .sketch(taken))) }
    }

    func isEmpty() -> Bool { sketch.withLock { $0.isEmpty } }
}

/// A gauge series for one label set: the level set last, sampled at every batch while it is
/// not zero or was set since the previous batch (so a level set to 0 is reported too).
public final class GaugeInstrument: Sendable {
    let series: String
    let labels: LabelSet
    let state = Mutex<(value: Double, max: Double, touched: Bool)>((0, -.infinity, false))

    init(series: String, labels: LabelSet) {
        self.series = series
        self.labels = labels
    }

    /// Sets the level; non-finite levels are refused.
    public func set(_ value: Double) {
        guard value.isFinite else { return }
        state.withLock {
            $0.value = value
            $0.max = Swift.max($0.max, value)
            $0.touched = true
        }
    }

    /// Moves the level by `delta`.
    public func add(_ delta: Double) {
        guard delta.isFinite else { return }
        state.withLock {
            $0.value += delta
            $0.max = Swift.max($0.max, $0.value)
            $0.touched = true
        }
    }

    func drain(into entries: inout [DeltaBatch.Entry]) {
        let sample: Gauge? = state.withLock { s in
            guard s.touched || s.value != 0 else { return nil }
            let g = Gauge(last: s.value, max: Swift.max(s.max, s.value), sum: s.value, samples: 1)
            s.max = s.value
            s.touched = false
            return g
        }
        if idle.note(sample != nil), let sample { entries.append(.init(series: series, labels: labels, value: .gauge(sample))) }
    }

    let idle = IdleCounter()

    func isEmpty() -> Bool { state.withLock { !$0.touched && $0.value == 0 } }
}
