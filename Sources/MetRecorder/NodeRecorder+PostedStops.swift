import MetStore
import MetValues
import Synchronization

/// A job stop posted in bulk (`POST /api/events`): what ``NodeRecorder/jobStop(queue:worker:outcome:execNs:waitNs:)``
/// takes, as a value.
package struct PostedStop: Sendable {
    package var queue: String
    package var worker: String
    package var outcome: JobOutcome
    package var execNs: Int64
    package var waitNs: Int64

    package init(queue: String, worker: String, outcome: JobOutcome, execNs: Int64, waitNs: Int64) {
        self.queue = queue
        self.worker = worker
        self.outcome = outcome
        self.execNs = execNs
        self.waitNs = waitNs
    }
}

/// Stops recorded without a handle, summed by (queue, worker, outcome) until the next batch
/// takes them: nothing of them outlives that batch.
struct PendingStops: Sendable {
    struct Key: Hashable, Sendable {
        var queue: String
        var worker: String
        var outcome: JobOutcome
    }

    /// `exec_time` and `wait_time` of each key.
    var sums: [Key: (exec: Sketch, wait: Sketch)] = [:]

    mutating func merge(_ other: consuming PendingStops) {
        if sums.isEmpty {
            sums = other.sums
            return
        }
        for (key, pair) in other.sums {
            if var mine = sums.removeValue(forKey: key) {
                mine.exec.merge(pair.exec)
                mine.wait.merge(pair.wait)
                sums[key] = mine
            } else {
                sums[key] = pair
            }
        }
    }

    /// The batch entries of every key, as a handle's drain makes them (`JobHandle+Drain.swift`).
    func drain(node: String, into entries: inout [DeltaBatch.Entry]) {
        for (key, pair) in sums {
            let labels = NodeRecorder.executionLabels(node: node, queue: key.queue, worker: key.worker, outcome: key.outcome)
            if !pair.exec.isEmpty {
                entries.append(.init(series: "exec_time", labels: labels, value: .sketch(pair.exec)))
                entries.append(.init(series: "exec_count", labels: labels, value: .count(Int64(pair.exec.count))))
            }
            if !pair.wait.isEmpty {
                entries.append(.init(series: "wait_time", labels: labels, value: .sketch(pair.wait)))
            }
        }
    }
}

extension NodeRecorder {
    /// Records job stops posted in bulk. A stop of a (queue, worker) this process holds a handle
    /// of goes through it (its executing level drops); the others are summed apart and go out
    /// with the next batch, with no handle made for them: a burst of thousands of new queue
    /// names costs the recorder nothing once its batch is taken. The batch entries are the same
    /// either way (a stop of a handle-less queue and worker cannot move a level that is zero).
    package func recordStops(_ stops: [PostedStop]) {
        guard !stops.isEmpty else { return }
        let held: [HandleKey: JobHandle] = registry.withLock { r in
            var held: [HandleKey: JobHandle] = [:]
            guard !r.handles.isEmpty else { return held }
            for s in stops {
                let key = HandleKey(queue: s.queue, worker: s.worker)
                if let h = r.handles[key] { held[key] = h }
            }
            return held
        }
        var summed = PendingStops()
        for s in stops {
            if let h = held.isEmpty ? nil : held[HandleKey(queue: s.queue, worker: s.worker)] {
                h.stop(s.outcome, execNs: s.execNs, waitNs: s.waitNs)
                continue
            }
            let key = PendingStops.Key(queue: s.queue, worker: s.worker, outcome: s.outcome)
            Self.add(s, to: &summed.sums[key, default: (Sketch(), Sketch())])
        }
        guard !summed.sums.isEmpty else { return }
        pendingStops.withLock { $0.merge(summed) }
    }

    private static func add(_ stop: PostedStop, to pair: inout (exec: Sketch, wait: Sketch)) {
        pair.exec.add(Double(stop.execNs))
        pair.wait.add(Double(stop.waitNs))
    }

    /// Takes the stops summed since the last batch (the batch taker's).
    func takePendingStops() -> PendingStops {
        pendingStops.withLock { pending in
            defer { pending = PendingStops() }
            return pending
        }
    }
}
