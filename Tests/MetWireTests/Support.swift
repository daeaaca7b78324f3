import MetRecorder
import MetStore
import MetValues
import MetTestSupport

/// The shared seeded generator (MetTestSupport).
typealias WireRandom = SplitMix64

/// A realistic batch taken from a real recorder: jobs on a few queues, engine ops, transitions,
/// gauges, queue checks.
func sampleBatch(seed: UInt64, queues: Int = 5, jobs: Int = 200) -> DeltaBatch {
    var rng = WireRandom(seed: seed)
    let recorder = NodeRecorder(origin: Origin(node: "worker-\(seed % 7)", incarnation: 1_700_000_000_123 + seed))
    for j in 0..<jobs {
        let q = "queue_\(Int(rng.next() % UInt64(queues)))"
        let h = recorder.handle(queue: q, worker: "MyApp.Workers.W\(Int(rng.next() % 4))")
        h.start()
        if j % 3 != 0 {
            let outcome = JobOutcome.allCases[Int(rng.next() % UInt64(JobOutcome.allCases.count))]
            h.stop(outcome, execNs: Int64(rng.next() % 900_000_000 + 1000), waitNs: Int64(rng.next() % 50_000_000))
        }
        recorder.record(.inserted, queue: q, state: .available, count: Int64(rng.next() % 3 + 1))
        recorder.transition(queue: q, from: .available, to: .executing)
    }
    recorder.queueCheck(queue: "queue_0", limit: 10, paused: false, running: [1001, 1002, 1010], timestamp: 1_800_000_000)
    return recorder.takeBatch(timestamp: 1_800_000_000)
}

/// `count` seeded corruptions of a valid encoding: half with 1–3 bytes flipped, half truncated.
func corruptions(of valid: [UInt8], seed: UInt64, count: Int = 3_000) -> [[UInt8]] {
    var rng = WireRandom(seed: seed)
    return (0..<count).map { _ in
        var bytes = valid
        if rng.next() % 2 == 0 {
            for _ in 0..<Int(rng.next() % 3 + 1) { bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
        } else {
            bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
        }
        return bytes
    }
}
