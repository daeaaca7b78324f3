import CMallocStats
import CoreMetrics
import Foundation
import MetRecorder
import MetStore

/// `recorder.*` figures (DESIGN §8), with swift-metrics' own cost (no-op backend) as the peer.
enum RecorderBench {
    static let ops = 5_000_000

    /// Execution times cycled through the loop (a small table: the loop measures the recorder).
    static let times: [Int64] = {
        var rng = SplitMix64(seed: 21)
        return (0..<1024).map { _ in Int64(rng.lognormal()) }
    }()

    static func recorder() -> NodeRecorder { NodeRecorder(origin: Origin(node: "bench", incarnation: 1)) }

    static func handleLoop(_ h: JobHandle, _ n: Int) {
        let t = times
        for i in 0..<n {
            let x = t[i & 1023]
            h.stop(.completed, execNs: x, waitNs: x >> 3)
        }
    }

    static func handle() {
        let r = recorder()
        let h = r.handle(queue: "default", worker: "MyApp.Worker")
        handleLoop(h, 100_000)  // warm: pages exist, as in steady state
        let ns = bestNsPerOp(ops: ops) { handleLoop(h, ops) }
        // The same shape through swift-metrics with a no-op backend: two timers and a meter.
        let factory = NOOPMetricsHandler.instance
        let exec = CoreMetrics.Timer(label: "exec_time", dimensions: [("queue", "default")], factory: factory)
        let wait = CoreMetrics.Timer(label: "wait_time", dimensions: [("queue", "default")], factory: factory)
        let executing = Meter(label: "executing", dimensions: [("queue", "default")], factory: factory)
        let t = times
        let peer = bestNsPerOp(ops: ops) {
            for i in 0..<ops {
                let x = t[i & 1023]
                exec.recordNanoseconds(x)
                wait.recordNanoseconds(x >> 3)
                executing.decrement(by: 1)
            }
        }
        report("recorder.handle_ns", ns, "ns", peer: peer, note: "job_stop through a handle (two sketches, one gauge); peer swift-metrics no-op backend, same calls")
        blackHole(r.takeBatch(timestamp: 0))

        // The counter must see allocations at all, or a 0 below would mean nothing.
        let probe = met_allocation_count()
        blackHole([Int](repeating: 7, count: 1000))
        precondition(met_allocation_count() > probe, "the allocation counter is not wrapping malloc")
        let before = met_allocation_count()
        handleLoop(h, 1_000_000)
        let allocations = met_allocation_count() - before
        report("recorder.handle_allocs", Double(allocations) / 1_000_000, "allocs/op", note: "\(allocations) allocations in 1e6 job_stop, after one batch was taken")
    }

    static func strings() {
        let r = recorder()
        let queues = (0..<8).map { "queue-\($0)" }
        let t = times
        for i in 0..<10_000 { r.jobStop(queue: queues[i & 7], worker: "MyApp.Worker", outcome: .completed, execNs: t[i & 1023], waitNs: 1) }
        let n = 2_000_000
        let ns = bestNsPerOp(ops: n) {
            for i in 0..<n {
                let x = t[i & 1023]
                r.jobStop(queue: queues[i & 7], worker: "MyApp.Worker", outcome: .completed, execNs: x, waitNs: x >> 3)
            }
        }
        report("recorder.strings_ns", ns, "ns", note: "job_stop by queue and worker strings (8 queues)")
    }

    /// Per-event cost with two threads recording at once (each its own handle, as two workers
    /// of one node would) against one thread alone.
    static func twoThreads() {
        let r = recorder()
        let handles = [r.handle(queue: "a", worker: "W"), r.handle(queue: "b", worker: "W")]
        for h in handles { handleLoop(h, 100_000) }
        let single = bestNsPerOp(ops: ops) { handleLoop(handles[0], ops) }
        let both = bestNsPerOp(ops: ops) {
            let group = DispatchGroup()
            for h in handles {
                group.enter()
                Thread.detachNewThread {
                    handleLoop(h, ops)
                    group.leave()
                }
            }
            group.wait()
        }
        report("recorder.two_threads_ratio", both / single, "x", note: "wall time of 2 threads × \(ops) job_stop each ÷ 1 thread × \(ops): per-event cost ratio")
    }
}
