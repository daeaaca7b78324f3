import MetStore
import MetValues
import Synchronization

/// This node's own job series as `/metrics` exposes them (docs/metrics.md): counts summed since
/// the process started (Prometheus counters: monotonic, reset by a restart), sketches as
/// cumulative count and sum plus a sketch of the last one or two ``windowSeconds`` windows for
/// quantiles, gauges at their last level. Fed with every batch this node takes of its own
/// events, so every event is counted exactly once by exactly one node: scraping every node and
/// summing is exact. At most ``maxLabelSets`` label sets per series are kept; what would add
/// more is counted in ``dropped``.
package final class OwnJobTotals: Sendable {
    package static let maxLabelSets = 2_000
    package static let windowSeconds: Int64 = 30
    /// Not metrics: markers are annotations (a label set each), and `full_count` comes from the
    /// keyframe, not from the history its leader writes into its batches.
    static let skipped: Set<String> = ["markers", "full_count"]

    package struct Key: Hashable, Sendable {
        package var series: String
        package var labels: LabelSet
    }

    package struct SketchTotals: Sendable {
        package var count: UInt64 = 0
        package var sum: Double = 0
        /// Observations of the current window and the one before it.
        package var current = Sketch()
        package var previous = Sketch()
        /// The current window's start (unix seconds, a multiple of ``windowSeconds``).
        package var windowStart: Int64 = 0

        /// The last one or two windows together.
        package var recent: Sketch {
            var s = previous
            s.merge(current)
            return s
        }
    }

    package struct State: Sendable {
        package var counts: [Key: Int64] = [:]
        package var sketches: [Key: SketchTotals] = [:]
        package var gauges: [Key: Double] = [:]
        /// Per series: label sets not kept because the series had ``maxLabelSets`` already.
        package var dropped: [String: Int] = [:]
        var perSeries: [String: Int] = [:]
        /// The latest batch's second.
        package var now: Int64 = 0
    }

    private let state = Mutex(State())

    package init() {}

    /// The totals as of the latest batch, windows rolled forward to `now`.
    package func read(now: Int64) -> State {
        state.withLock { s in
            for key in Array(s.sketches.keys) { Self.roll(&s.sketches[key]!, to: now) }
            return s
        }
    }

    /// Adds one of this node's own batches.
    package func add(_ batch: DeltaBatch) {
        state.withLock { s in
            s.now = max(s.now, batch.timestamp)
            for entry in batch.entries where !Self.skipped.contains(entry.series) {
                let key = Key(series: entry.series, labels: entry.labels)
                guard Self.admit(key, entry.value.kind, &s) else { continue }
                switch entry.value {
                case .count(let n): s.counts[key, default: 0] += n
                case .gauge(let g): s.gauges[key] = g.last
                case .sketch(let sketch):
                    var t = s.sketches[key] ?? SketchTotals()
                    Self.roll(&t, to: batch.timestamp)
                    t.count += sketch.count
                    t.sum += sketch.sum
                    t.current.merge(sketch)
                    s.sketches[key] = t
                }
            }
        }
    }

    /// Whether `key` is kept: known already, or its series is under the cap.
    private static func admit(_ key: Key, _ kind: SeriesKind, _ s: inout State) -> Bool {
        let known: Bool = switch kind {
        case .count: s.counts[key] != nil
        case .gauge: s.gauges[key] != nil
        case .sketch: s.sketches[key] != nil
        }
        if known { return true }
        guard s.perSeries[key.series, default: 0] < maxLabelSets else {
            s.dropped[key.series, default: 0] += 1
            return false
        }
        s.perSeries[key.series, default: 0] += 1
        return true
    }

    /// Moves a sketch's windows forward so that the current one holds `now`.
    static func roll(_ t: inout SketchTotals, to now: Int64) {
        let start = now - ((now % windowSeconds) + windowSeconds) % windowSeconds
        guard start > t.windowStart else { return }
        t.previous = start - t.windowStart == windowSeconds ? t.current : Sketch()
        t.current = Sketch()
        t.windowStart = start
    }
}
