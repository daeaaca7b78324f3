import MetStore
import MetValues

/// What only the batch taker touches of a handle (every call below runs under the recorder's
/// `taking` lock): the label sets of its entries, built the first time they are needed, and how
/// many batches in a row it has had nothing to report.
final class TakerState: @unchecked Sendable {  // touched only by the one batch taker at a time (NodeRecorder.taking)
    /// By outcome: `node, queue, state, worker` for exec_time, wait_time and exec_count.
    var outcomeLabels: [LabelSet?] = Array(repeating: nil, count: JobOutcome.count)
    /// `node, queue, worker` for the executing level.
    var levelLabels: LabelSet?
    var idleBatches = 0
}

extension JobHandle {
    /// Drains every stripe into batch entries (called by the recorder, one taker at a time):
    /// per outcome an `exec_time` and a `wait_time` sketch and the `exec_count` of the jobs
    /// they hold, and the `executing` level. Returns whether there was anything to report.
    /// `freedPairs` counts the idle outcome pairs freed on the way.
    @discardableResult
    func drain(into entries: inout [DeltaBatch.Entry], freedPairs: inout Int) -> Bool {
        let n = JobOutcome.count
        var sums: [Sketch] = []  // made on the first non-empty sketch: most handles are idle most seconds
        var running: Int64 = 0
        for i in 0...mask {
            let bits = slots[i].load(ordering: .acquiring)
            guard bits != 0 else { continue }
            // Guaranteed without a retain: this handle retains every stripe in its slots.
            Unmanaged<Stripe>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)._withUnsafeGuaranteedRef { stripe in
                stripe.lock()
                for i in 0..<n {
                    guard let pair = stripe.outcomes[i] else { continue }
                    if pair[0].isEmpty && pair[1].isEmpty {
                        // Idle for a whole interval: its pages go (the next job of this outcome
                        // here makes them again), so a burst's handles shrink a second later.
                        stripe.freePair(i)
                        freedPairs += 1
                        continue
                    }
                    for k in 0..<2 where !pair[k].isEmpty {  // k 0: exec_time, summed at i; 1: wait_time, at n + i
                        if sums.isEmpty { sums = [Sketch](repeating: Sketch(), count: 2 * n) }
                        sums[k * n + i].merge(pair[k])
                        pair[k].reset()  // keeps its pages: refilling allocates nothing
                    }
                }
                running &+= stripe.running.pointee
                stripe.running.pointee = 0
                stripe.unlock()
            }
        }
        if !sums.isEmpty {
            for outcome in JobOutcome.allCases {
                let exec = sums[outcome.rawValue]
                let wait = sums[n + outcome.rawValue]
                guard !exec.isEmpty || !wait.isEmpty else { continue }
                let labels = outcomeLabels(outcome)
                if !exec.isEmpty {
                    entries.append(.init(series: "exec_time", labels: labels, value: .sketch(exec)))
                    entries.append(.init(series: "exec_count", labels: labels, value: .count(Int64(exec.count))))
                }
                if !wait.isEmpty {
                    entries.append(.init(series: "wait_time", labels: labels, value: .sketch(wait)))
                }
            }
        }
        // The executing level is reported while it is not zero, and once more when it drops to
        // zero. A stop whose start this process never saw (a job begun before a restart, a
        // client posting only stops) must not take it below zero, where it would stay.
        let sample: Int64? = level.withLock { level in
            level.current = Swift.max(0, level.current &+ running)
            defer { level.reported = level.current }
            return level.current != 0 || level.reported != 0 ? level.current : nil
        }
        if let sample {
            let labels = taker.levelLabels ?? NodeRecorder.levelLabels(node: node, queue: queue, worker: worker)
            taker.levelLabels = labels
            entries.append(.init(series: "executing", labels: labels, value: .gauge(Gauge(Double(sample)))))
        }
        let busy = !sums.isEmpty || sample != nil
        taker.idleBatches = busy ? 0 : taker.idleBatches + 1
        return busy
    }

    private func outcomeLabels(_ outcome: JobOutcome) -> LabelSet {
        if let labels = taker.outcomeLabels[outcome.rawValue] { return labels }
        let labels = NodeRecorder.executionLabels(node: node, queue: queue, worker: worker, outcome: outcome)
        taker.outcomeLabels[outcome.rawValue] = labels
        return labels
    }

    /// True when nothing waits in any stripe and the executing level is zero: dropping the
    /// handle now loses nothing (the caller makes sure no thread can still reach it).
    func isEmpty() -> Bool {
        for i in 0...mask {
            let bits = slots[i].load(ordering: .acquiring)
            guard bits != 0 else { continue }
            // Guaranteed without a retain: this handle retains every stripe in its slots.
            let empty = Unmanaged<Stripe>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)._withUnsafeGuaranteedRef { stripe in
                stripe.lock()
                defer { stripe.unlock() }
                return stripe.running.pointee == 0
                    && (0..<JobOutcome.count).allSatisfy { i in stripe.outcomes[i].map { $0[0].isEmpty && $0[1].isEmpty } ?? true }
            }
            if !empty { return false }
        }
        return level.withLock { $0.current == 0 && $0.reported == 0 }
    }
}

extension JobHandle {
    /// Stripes allocated so far: one per thread slot that has recorded (for tests and benchmarks).
    package var allocatedStripes: Int { (0...mask).filter { slots[$0].load(ordering: .acquiring) != 0 }.count }

    /// Outcome sketch pairs held over all stripes (for tests).
    package var allocatedOutcomePairs: Int {
        (0...mask).reduce(0) { total, i in
            let bits = slots[i].load(ordering: .acquiring)
            guard bits != 0 else { return total }
            // Guaranteed without a retain: this handle retains every stripe in its slots.
            return total + Unmanaged<Stripe>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)._withUnsafeGuaranteedRef { stripe in
                stripe.lock()
                defer { stripe.unlock() }
                return (0..<JobOutcome.count).filter { stripe.outcomes[$0] != nil }.count
            }
        }
    }
}
