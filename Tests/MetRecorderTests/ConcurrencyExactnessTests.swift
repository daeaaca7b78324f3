import Metrics
import MetRecorder
import MetStore
import MetValues
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Many threads record while another takes batches: the batches, summed, are exactly what was
/// recorded (counts), and within the sketch's 1 % bound (quantiles). Nothing lost, nothing twice.
@Suite struct ConcurrencyExactnessTests {
    /// What one recording thread did, tallied independently of the recorder.
    struct Tally: Sendable {
        var counts: [SeriesKey: Int64] = [:]
        var values: [SeriesKey: [Double]] = [:]
        /// Starts minus stops per handle (keyed by its `executing` series).
        var level: [SeriesKey: Int64] = [:]

        mutating func merge(_ other: Tally) {
            counts.merge(other.counts, uniquingKeysWith: +)
            values.merge(other.values, uniquingKeysWith: +)
            level.merge(other.level, uniquingKeysWith: +)
        }
    }

    final class Coordination: Sendable {
        let activeRecorders: Atomic<Int>
        let batchesTaken = Atomic<Int>(0)
        init(recorders: Int) { activeRecorders = Atomic(recorders) }
    }

    static let threads = 6
    static let iterations = 4_000
    static let sharedHandles = [("q0", "W0"), ("q0", "W1"), ("q1", "W0")]

    /// One recording thread: a seeded mix of job starts/stops (handles and strings), engine
    /// operations, transitions, swift-metrics counters and timers.
    static func record(thread t: Int, into recorder: NodeRecorder, _ coordination: Coordination, waitMidway: Bool = true) -> Tally {
        var rng = SeededRandom(seed: 0xC0FFEE &+ UInt64(t) &* 7919)
        var tally = Tally()
        let node = recorder.origin.node
        let factory = RecorderMetricsFactory(recorder: recorder)
        let keys = sharedHandles + [("p\(t)", "Wa"), ("p\(t)", "Wb")]
        let handles = keys.map { recorder.handle(queue: $0.0, worker: $0.1) }
        var inFlight = [Int](repeating: 0, count: keys.count)
        let counters = (0..<3).map { Counter(label: "http_requests", dimensions: [("route", "r\($0)")], factory: factory) }
        let timer = CoreMetrics.Timer(label: "db_query", dimensions: [("db", "main")], factory: factory)

        func randomNs() -> Int64 { Int64(1 + rng.below(999_999)) << Int64(rng.below(14)) }
        func levelKey(_ k: Int) -> SeriesKey {
            SeriesKey(series: "executing", labels: levelLabels(node: node, queue: keys[k].0, worker: keys[k].1))
        }
        func start(_ k: Int) {
            if rng.below(2) == 0 { handles[k].start() } else { recorder.jobStart(queue: keys[k].0, worker: keys[k].1) }
            inFlight[k] += 1
            tally.level[levelKey(k), default: 0] += 1
        }
        func stop(_ k: Int) {
            let outcome = JobOutcome.allCases[rng.below(JobOutcome.allCases.count)]
            let exec = randomNs(), wait = randomNs()
            let (q, w) = keys[k]
            switch rng.below(4) {
            case 0: handles[k].stop(outcome, execNs: exec, waitNs: wait)
            case 1: recorder.jobStop(queue: q, worker: w, outcome: outcome, execNs: exec, waitNs: wait)
            case 2: handles[k].exception(outcome, execNs: exec, waitNs: wait)
            default: recorder.jobException(queue: q, worker: w, outcome: outcome, execNs: exec, waitNs: wait)
            }
            let labels = jobLabels(node: node, queue: q, worker: w, state: outcome.state.rawValue)
            tally.values[SeriesKey(series: "exec_time", labels: labels), default: []].append(Double(exec))
            tally.values[SeriesKey(series: "wait_time", labels: labels), default: []].append(Double(wait))
            tally.counts[SeriesKey(series: "exec_count", labels: labels), default: 0] += 1
            inFlight[k] -= 1
            tally.level[levelKey(k), default: 0] -= 1
        }

        for i in 0..<iterations {
            if waitMidway, i == iterations / 2 {
                // Makes sure batches are taken while this thread is mid-way (a condition, not a sleep).
                let seen = coordination.batchesTaken.load(ordering: .acquiring)
                while coordination.batchesTaken.load(ordering: .acquiring) < seen + 2 { sched_yield() }
            }
            switch rng.below(100) {
            case 0..<30:
                start(rng.below(keys.count))
            case 30..<60:
                let first = rng.below(keys.count)
                if let k = (0..<keys.count).map({ (first + $0) % keys.count }).first(where: { inFlight[$0] > 0 }) {
                    stop(k)
                } else {
                    start(first)
                }
            case 60..<75:
                let op = EngineOperation.allCases[rng.below(EngineOperation.allCases.count)]
                let queue = rng.below(10) == 0 ? "fresh-\(t)-\(i % 8)" : ["q0", "q1"][rng.below(2)]
                let state: JobState? = rng.below(3) == 0 ? nil : JobState.allCases[rng.below(JobState.allCases.count)]
                let worker: String? = rng.below(2) == 0 ? nil : "W\(rng.below(2))"
                let n = Int64(1 + rng.below(5))
                recorder.record(op, queue: queue, state: state, worker: worker, count: n)
                var labels = ["node": node, "queue": queue]
                labels["state"] = state?.rawValue
                labels["worker"] = worker
                tally.counts[SeriesKey(series: op.rawValue, labels: LabelSet(labels)), default: 0] += n
            case 75..<85:
                let queue = ["q0", "q1"][rng.below(2)]
                let old = JobState.allCases[rng.below(JobState.allCases.count)]
                let new = JobState.allCases[rng.below(JobState.allCases.count)]
                let worker: String? = rng.below(2) == 0 ? nil : "W\(rng.below(2))"
                let n = Int64(1 + rng.below(3))
                recorder.transition(queue: queue, worker: worker, from: old, to: new, count: n)
                var labels = ["node": node, "queue": queue, "state": new.rawValue, "old_state": old.rawValue]
                labels["worker"] = worker
                tally.counts[SeriesKey(series: "transitions", labels: LabelSet(labels)), default: 0] += n
            case 85..<93:
                let r = rng.below(3)
                let n = 1 + rng.below(3)
                counters[r].increment(by: n)
                tally.counts[SeriesKey(series: "http_requests", labels: LabelSet(["node": node, "route": "r\(r)"])), default: 0] += Int64(n)
            default:
                let v = randomNs()
                timer.recordNanoseconds(v)
                tally.values[SeriesKey(series: "db_query", labels: LabelSet(["node": node, "db": "main"])), default: []].append(Double(v))
            }
        }
        return tally
    }

    @Test("batches taken concurrently add up exactly to what the threads recorded", arguments: [nil, 1, 64] as [Int?])
    func batchesAddUp(stripes: Int?) async throws {
        let recorder = NodeRecorder(origin: Origin(node: "n1", incarnation: 42), stripes: stripes)
        let coordination = Coordination(recorders: Self.threads)
        let tallies = Shared<[Tally]>([])
        let batches = Shared<[DeltaBatch]>([])

        var bodies: [@Sendable () -> Void] = (0..<Self.threads).map { t in
            {
                let tally = Self.record(thread: t, into: recorder, coordination)
                tallies.update { $0.append(tally) }
                coordination.activeRecorders.subtract(1, ordering: .releasing)
            }
        }
        bodies.append {
            var i = 0
            while coordination.activeRecorders.load(ordering: .acquiring) > 0 {
                let batch = recorder.takeBatch(timestamp: testNow - 100 + Int64(min(i, 100)))
                batches.update { $0.append(batch) }
                coordination.batchesTaken.add(1, ordering: .releasing)
                i += 1
            }
        }
        await runOnThreads(bodies)
        let all = batches.snapshot + [recorder.takeBatch(timestamp: testNow)]

        var expected = Tally()
        for t in tallies.snapshot { expected.merge(t) }
        #expect(tallies.snapshot.count == Self.threads)

        // Numbered 1...k with no gap, all of this origin.
        #expect(all.map(\.seq) == Array(1...UInt64(all.count)))
        #expect(all.allSatisfy { $0.origin == recorder.origin })
        #expect(all.filter { !$0.entries.isEmpty }.count >= 2, "batches were taken while recording")

        let totals = BatchTotals(all)
        #expect(totals.duplicatesWithinBatch == 0)

        // Counts: exactly, key by key, and no key that was never recorded.
        #expect(totals.counts == expected.counts)

        // Sketches: count, sum, min, max exact; quantiles within 1 % of the exact ones.
        #expect(Set(totals.sketches.keys) == Set(expected.values.keys))
        for (key, values) in expected.values {
            guard let sketch = totals.sketches[key] else { continue }
            let sorted = values.sorted()
            #expect(sketch.count == UInt64(values.count), "\(key)")
            #expect(sketch.sum == values.reduce(0, +), "\(key)")
            #expect(sketch.min == sorted.first && sketch.max == sorted.last, "\(key)")
            for q in [0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1] {
                let approx = try #require(sketch.quantile(q))
                let exact = exactQuantile(sorted, q)
                #expect(withinRelative(approx, exact), "\(key) q\(q): \(approx) vs \(exact)")
            }
        }

        // executing: the last sample per handle is starts − stops (absent means never non-zero).
        let gaugeKeys = Set(totals.lastGauge.keys)
        #expect(gaugeKeys.isSubset(of: Set(expected.level.keys)))
        for (key, level) in expected.level {
            #expect((totals.lastGauge[key]?.last ?? 0) == Double(level), "\(key)")
        }
        #expect(expected.level.values.contains { $0 != 0 }, "some jobs are still executing at the end")

        try checkStore(all, expected: expected)
    }

    /// The same batches applied in order to a store answer `latest` / `timeslice` with the totals.
    func checkStore(_ batches: [DeltaBatch], expected: Tally) throws {
        let store = SeriesStore()
        for b in batches {
            #expect(store.apply(b, now: testNow) == .applied(entries: b.entries.count, rejected: 0), "seq \(b.seq)")
        }
        #expect(store.watermark(of: batches[0].origin) == UInt64(batches.count))

        for series in ["inserted", "fetched", "staged", "pruned", "rescued", "transitions", "http_requests"] {
            let total = expected.counts.filter { $0.key.series == series }.values.reduce(0, +)
            let sel = Selection(series: series, lookback: 300)
            #expect(try store.latest(sel, now: testNow)["all"] == Double(total), "\(series)")
            let slices = try store.timeslice(sel, by: 10, op: .sum, now: testNow)
            #expect(slices.compactMap(\.value).reduce(0, +) == Double(total), "\(series) timeslice")
        }

        // Transitions grouped by state: every state listed, each with its exact total.
        let byState = try store.latest(Selection(series: "transitions", lookback: 300, group: "state"), now: testNow)
        for s in JobState.allCases {
            let total = expected.counts.filter { $0.key.series == "transitions" && $0.key.labels["state"] == s.rawValue }.values.reduce(0, +)
            #expect(byState[s.rawValue] == Double(total), "transitions state=\(s)")
        }

        // exec_time: observation count and sum exactly, p50 of one (queue, worker) within 1 %.
        let execValues = expected.values.filter { $0.key.series == "exec_time" }
        let execAll = Selection(series: "exec_time", lookback: 300)
        #expect(try store.latest(execAll, op: .count, now: testNow)["all"] == Double(execValues.values.map(\.count).reduce(0, +)))
        #expect(try store.latest(execAll, op: .sum, now: testNow)["all"] == execValues.values.map { $0.reduce(0, +) }.reduce(0, +))
        let q0w0 = execValues.filter { $0.key.labels["queue"] == "q0" && $0.key.labels["worker"] == "W0" }.values.flatMap { $0 }.sorted()
        let sel = Selection(series: "exec_time", lookback: 300, filters: [LabelFilter("queue", ["q0"]), LabelFilter("worker", ["W0"])])
        let p50 = try #require(try store.latest(sel, op: .quantile(0.5), now: testNow)["all"])
        #expect(withinRelative(p50, exactQuantile(q0w0, 0.5)), "store p50 \(p50)")

        // executing: the levels of every handle add up to the jobs still executing.
        let executing = expected.level.values.reduce(0, +)
        #expect(try store.latest(Selection(series: "executing", lookback: 300), now: testNow)["all"] == Double(executing))
    }
}
