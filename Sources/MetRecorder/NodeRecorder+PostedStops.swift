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

/// Stops recorded without a handle, kept as their numbers until the next batch takes them:
/// nothing of them outlives that batch. They become sketches only then, so a burst of new
/// queue names waits as about 100 bytes a queue and worker, not as two one-value sketches
/// (a 64-bin page each, about 700 bytes a pair) that the heap would keep in pieces afterwards.
struct PendingStops: Sendable {
    struct Key: Hashable, Sendable {
        var queue: String
        var worker: String
        var outcome: JobOutcome
    }

    /// Each key once, in the order first seen, and its place there.
    var keys: [Key] = []
    var ids: [Key: Int32] = [:]
    /// Every stop: its key's place and its two times.
    var stops: [(key: Int32, execNs: Int64, waitNs: Int64)] = []

    var isEmpty: Bool { stops.isEmpty }

    mutating func add(_ stop: PostedStop) {
        let key = Key(queue: stop.queue, worker: stop.worker, outcome: stop.outcome)
        let next = Int32(keys.count)
        var id = next
        Self.read(&ids[key, default: next], into: &id)
        if id == next { keys.append(key) }
        stops.append((id, stop.execNs, stop.waitNs))
    }

    private static func read(_ value: inout Int32, into out: inout Int32) { out = value }

    /// Entries the stops make: three per key.
    var entryCount: Int { 3 * keys.count }

    /// The batch entries of every key, as a handle's drain makes them (`JobHandle+Drain.swift`).
    func drain(node: String, into entries: inout [DeltaBatch.Entry]) {
        guard !stops.isEmpty else { return }
        let grouped = grouping()
        appendEntries(ofKeys: 0..<keys.count, grouped, node: node, into: &entries)
    }

    /// The stops in key order (a counting sort): key `k`'s are `order[starts[k]..<starts[k + 1]]`.
    func grouping() -> (starts: [Int32], order: [Int32]) {
        var starts = [Int32](repeating: 0, count: keys.count + 1)
        for s in stops { starts[Int(s.key) + 1] += 1 }
        for k in 0..<keys.count { starts[k + 1] += starts[k] }
        var next = starts
        var order = [Int32](repeating: 0, count: stops.count)
        for (i, s) in stops.enumerated() {
            order[Int(next[Int(s.key)])] = Int32(i)
            next[Int(s.key)] += 1
        }
        return (starts, order)
    }

    /// The `exec_time` and `wait_time` sketches and the `exec_count` of keys `range`, made now.
    func appendEntries(ofKeys range: Range<Int>, _ grouped: (starts: [Int32], order: [Int32]), node: String,
                       into entries: inout [DeltaBatch.Entry]) {
        for k in range {
            let key = keys[k]
            var exec = Sketch()
            var wait = Sketch()
            for i in grouped.starts[k]..<grouped.starts[k + 1] {
                let s = stops[Int(grouped.order[Int(i)])]
                exec.add(Double(s.execNs))
                wait.add(Double(s.waitNs))
            }
            let labels = NodeRecorder.executionLabels(node: node, queue: key.queue, worker: key.worker, outcome: key.outcome)
            entries.append(.init(series: "exec_time", labels: labels, value: .sketch(exec)))
            entries.append(.init(series: "exec_count", labels: labels, value: .count(Int64(exec.count))))
            entries.append(.init(series: "wait_time", labels: labels, value: .sketch(wait)))
        }
    }
}

extension NodeRecorder {
    /// Records job stops posted in bulk. A stop of a (queue, worker) this process holds a handle
    /// of goes through it (its executing level drops); the others are kept apart and go out
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
        var pending = stops
        if !held.isEmpty {
            pending.removeAll { s in
                guard let h = held[HandleKey(queue: s.queue, worker: s.worker)] else { return false }
                h.stop(s.outcome, execNs: s.execNs, waitNs: s.waitNs)
                return true
            }
        }
        guard !pending.isEmpty else { return }
        pendingStops.withLock { p in
            for s in pending { p.add(s) }
        }
    }

    /// Takes the stops kept since the last batch (the batch taker's).
    func takePendingStops() -> PendingStops {
        pendingStops.withLock { pending in
            defer { pending = PendingStops() }
            return pending
        }
    }
}
