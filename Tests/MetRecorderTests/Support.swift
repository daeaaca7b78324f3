import Dispatch
import Foundation
import MetRecorder
import MetStore
import MetValues
import Synchronization
import MetTestSupport

/// The shared seeded generator (MetTestSupport).
typealias SeededRandom = SplitMix64

/// A fixed "now" for the tests: unix seconds.
let testNow: Int64 = 1_750_000_000

/// One series of one label set.
struct SeriesKey: Hashable, CustomStringConvertible {
    var series: String
    var labels: LabelSet
    var description: String { "\(series)\(labels)" }
}

/// The labels of a job handle's series.
func jobLabels(node: String, queue: String, worker: String, state: String) -> LabelSet {
    LabelSet(["node": node, "queue": queue, "worker": worker, "state": state])
}

/// The labels of the `executing` level of a (queue, worker).
func levelLabels(node: String, queue: String, worker: String) -> LabelSet {
    LabelSet(["node": node, "queue": queue, "worker": worker])
}

/// Runs every body on its own `Thread` and returns once all of them have returned (no sleeps:
/// a dispatch group counts them down and resumes the awaiting test).
func runOnThreads(_ bodies: [@Sendable () -> Void]) async {
    let group = DispatchGroup()
    for _ in bodies { group.enter() }
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        group.notify(queue: .global()) { done.resume() }
        for body in bodies {
            let thread = Thread {
                body()
                group.leave()
            }
            thread.start()
        }
    }
}

/// A value shared between threads behind a lock.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func update<R>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
    var snapshot: Value { value.withLock { $0 } }
}

/// What a set of batches adds up to, per series and label set.
struct BatchTotals {
    var counts: [SeriesKey: Int64] = [:]
    var sketches: [SeriesKey: Sketch] = [:]
    /// The last gauge sample of each series (batches are folded in order).
    var lastGauge: [SeriesKey: MetValues.Gauge] = [:]
    /// Entries that appear more than once for the same key within one batch.
    var duplicatesWithinBatch = 0

    init(_ batches: [DeltaBatch]) {
        for batch in batches {
            var seen = Set<SeriesKey>()
            for e in batch.entries {
                let key = SeriesKey(series: e.series, labels: e.labels)
                if !seen.insert(key).inserted { duplicatesWithinBatch += 1 }
                switch e.value {
                case .count(let n): counts[key, default: 0] += n
                case .sketch(let s): sketches[key, default: Sketch()].merge(s)
                case .gauge(let g): lastGauge[key] = g
                }
            }
        }
    }
}

/// The entries of one batch, by key (at most one per key is expected).
func entriesByKey(_ batch: DeltaBatch) -> [SeriesKey: PointValue] {
    var result: [SeriesKey: PointValue] = [:]
    for e in batch.entries { result[SeriesKey(series: e.series, labels: e.labels)] = e.value }
    return result
}

/// The exact value at rank ⌊q·(n − 1)⌋ of sorted values: what `Sketch.quantile` approximates.
func exactQuantile(_ sorted: [Double], _ q: Double) -> Double {
    sorted[Int((q * Double(sorted.count - 1)).rounded(.down))]
}

/// `true` when `approx` is within `tolerance` (relative) of `exact`.
func withinRelative(_ approx: Double, _ exact: Double, _ tolerance: Double = 0.01) -> Bool {
    abs(approx - exact) <= tolerance * abs(exact) + 1e-9
}

extension PointValue {
    var countValue: Int64? { if case .count(let n) = self { n } else { nil } }
    var sketchValue: Sketch? { if case .sketch(let s) = self { s } else { nil } }
    var gaugeValue: MetValues.Gauge? { if case .gauge(let g) = self { g } else { nil } }
}
