import Foundation
import Logging
import MetRuntime
import MetStore
import MetUV
import MetValues
import Synchronization

/// `loop.lag_p99_ms_queries` (issue 12): how late a mesh loop's timer fires while 4 clients run
/// `timeslice.ms_10k_2h`'s query back to back and compaction runs, on the 10k-series store.
///
/// The loop does what a node's mesh loop does with the collector: every 100 ms it hands a peer's
/// batch (50 entries of existing series, as a busy peer sends) to a `BatchMerger`, as the node's
/// `ReplicaHost` does (applied at once when the collector's lock is free, else queued); a 5 ms
/// timer records its own lateness. The peer is the same loop
/// over the same store with nothing else running, in the same run.
enum LoopLagBench {
    /// A loop's timer lateness samples (ms), kept on the loop's thread until the run ends.
    final class Probe: @unchecked Sendable {  // `samples`, `last` and the timers are touched on the loop's thread only until `stop` returns.
        var samples: [Double] = []
        var last: UInt64 = 0
        var timers: [UVTimer] = []
        var seq: UInt64 = 0
    }

    /// What the load's threads share with the bench thread.
    final class Load: Sendable {
        let stop = Atomic<Bool>(false)
        let queries = Atomic<Int>(0)
        let compactions = Atomic<Int>(0)
    }

    static let seconds = 15.0

    static func run() {
        let store = SeriesStore()
        try! Datasets.loadTimeslice10k(into: store)
        let collector = Collector(store: store)
        let quiet = measure(collector, queries: 0, compaction: false)
        let (loaded, queriesRun, compactions) = measureLoaded(collector)
        report("loop.lag_p99_ms_queries", percentile(loaded, 0.99), "ms", peer: percentile(quiet, 0.99),
               note: "5 ms timer on a loop merging a 50-entry batch every 100 ms; \(queriesRun) timeslice queries by 4 threads and \(compactions) compaction passes in \(Int(seconds)) s; max \(format(loaded.max() ?? 0)) ms, p50 \(format(percentile(loaded, 0.5))) ms; peer = the same loop alone")
    }

    static func measureLoaded(_ collector: Collector) -> ([Double], Int, Int) {
        let load = Load()
        let done = DispatchGroup()
        let selection = Selection(series: "exec_time", lookback: 7200, group: "queue")
        for _ in 0..<4 {
            done.enter()
            Thread.detachNewThread {
                while !load.stop.load(ordering: .relaxed) {
                    _ = try! collector.timeslice(selection, by: 60, op: .quantile(0.99), now: Datasets.now)
                    load.queries.wrappingAdd(1, ordering: .relaxed)
                }
                done.leave()
            }
        }
        done.enter()
        Task.detached {
            while !load.stop.load(ordering: .relaxed) {
                await collector.compact(now: Datasets.now)
                load.compactions.wrappingAdd(1, ordering: .relaxed)
            }
            done.leave()
        }
        let samples = measure(collector, queries: 4, compaction: true)
        load.stop.store(true, ordering: .relaxed)
        done.wait()
        return (samples, load.queries.load(ordering: .relaxed), load.compactions.load(ordering: .relaxed))
    }

    /// Runs the loop for `seconds`: the batch timer and the 5 ms probe; returns the lateness samples.
    static func measure(_ collector: Collector, queries: Int, compaction: Bool) -> [Double] {
        let loop = try! UVLoop()
        defer { loop.shutdown() }
        let probe = Probe()
        let merger = BatchMerger(collector: collector, logger: Logger(label: "bench"))
        let origin = Origin(node: "peer-\(queries)-\(compaction)", incarnation: 1)
        let started = DispatchSemaphore(value: 0)
        loop.execute {
            probe.last = UVTimer.now(loop)
            probe.timers.append(try! UVTimer(loop: loop, every: 5) {
                let now = UVTimer.now(loop)
                probe.samples.append(Double(now > probe.last + 5 ? now - probe.last - 5 : 0))
                probe.last = now
            })
            probe.timers.append(try! UVTimer(loop: loop, every: 100) {
                probe.seq += 1
                _ = merger.receive(batch(origin, seq: probe.seq))
            })
            started.signal()
        }
        started.wait()
        Thread.sleep(forTimeInterval: seconds)
        let finished = DispatchSemaphore(value: 0)
        loop.execute {
            for t in probe.timers { t.close() }
            finished.signal()
        }
        finished.wait()
        return probe.samples  // the timers are closed: the loop no longer touches it
    }

    /// A busy peer's batch: 50 `exec_time` sketches and counts of series the store already holds.
    static func batch(_ origin: Origin, seq: UInt64) -> DeltaBatch {
        var entries: [DeltaBatch.Entry] = []
        for i in 0..<25 {
            let labels = LabelSet(["node": "n1", "queue": "q\(i % 20 + 1)", "worker": "Worker\(i + 1)", "state": "completed"])
            entries.append(.init(series: "exec_time", labels: labels, value: .sketch(Sketch([Double(1_000_000 + i * 1000)]))))
            entries.append(.init(series: "exec_count", labels: labels, value: .count(1)))
        }
        return DeltaBatch(origin: origin, seq: seq, timestamp: Datasets.now - 1, entries: entries)
    }

    static func percentile(_ samples: [Double], _ p: Double) -> Double {
        guard !samples.isEmpty else { return 0 }
        let sorted = samples.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
    }
}
