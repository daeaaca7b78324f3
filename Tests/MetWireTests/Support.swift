import MetRecorder
import MetStore
import MetValues

/// Deterministic random numbers (SplitMix64) for reproducible inputs.
struct WireRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

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
