/// A job group of `full_count`: jobs of one state in one queue.
package struct JobGroup: Sendable, Hashable, Comparable, Codable {
    package var state: String
    package var queue: String

    package init(state: String, queue: String) {
        self.state = state
        self.queue = queue
    }

    package static func < (a: JobGroup, b: JobGroup) -> Bool { (a.queue, a.state) < (b.queue, b.state) }
}

/// The leader's count of jobs per (state, queue), taken from Postgres (DESIGN §3, §5).
///
/// `watermarks` holds, for each origin, the last batch the leader had applied when it counted:
/// the transitions of later batches are what move `full_count` on from these counts. Keyframes
/// are ordered by `(term, number)`; a replica ignores any keyframe not newer than its own, so a
/// deposed leader that still believes it leads can never make the counts flicker.
package struct Keyframe: Sendable, Equatable {
    package struct Count: Sendable, Equatable {
        package var group: JobGroup
        package var count: Int64
        /// A planner estimate (the group is larger than `estimateLimit`) rather than an exact count.
        package var estimated: Bool

        package init(group: JobGroup, count: Int64, estimated: Bool) {
            self.group = group
            self.count = count
            self.estimated = estimated
        }
    }

    /// The lease term of the leader that took it.
    package var term: Int64
    /// Keyframes taken so far by this leader in this term (1, 2, ...).
    package var number: UInt64
    package var leader: Origin
    /// Unix seconds at the leader when it counted.
    package var timestamp: Int64
    package var counts: [Count]
    package var watermarks: [Origin: UInt64]

    package init(term: Int64, number: UInt64, leader: Origin, timestamp: Int64, counts: [Count], watermarks: [Origin: UInt64]) {
        self.term = term
        self.number = number
        self.leader = leader
        self.timestamp = timestamp
        self.counts = counts
        self.watermarks = watermarks
    }

    /// Whether this keyframe supersedes `other` (a newer term, or a later keyframe of the same term).
    package func isNewer(than other: Keyframe?) -> Bool {
        guard let other else { return true }
        return (term, number) > (other.term, other.number)
    }
}

/// `full_count` as a replica serves it: the latest keyframe plus the job-state deltas of every
/// batch applied after the keyframe's watermark of its origin (DESIGN §3). Pure and not
/// thread-safe; the collector owns it.
///
/// Deltas per batch: a `transitions` count adds to its `state` and takes from its `old_state`;
/// `inserted` with a `state` adds to it; `pruned` with a `state` takes from it (pruned jobs are
/// deleted).
package struct FullCounts: Sendable {
    package private(set) var keyframe: Keyframe?
    /// Per origin, the job-state deltas of its recent batches, oldest first.
    private var log: [Origin: [(seq: UInt64, timestamp: Int64, deltas: [JobGroup: Int64])]] = [:]
    /// Batches kept per origin: several keyframe intervals, so a new term's keyframe with older
    /// watermarks still finds the batches after them.
    package let maxLoggedBatches: Int

    package init(maxLoggedBatches: Int = 600) { self.maxLoggedBatches = maxLoggedBatches }

    /// Takes `keyframe` if it is newer than the current one; `false` (and nothing changes) if not.
    @discardableResult
    package mutating func apply(_ keyframe: Keyframe) -> Bool {
        guard keyframe.isNewer(than: self.keyframe) else { return false }
        self.keyframe = keyframe
        return true
    }

    /// Notes the job-state deltas of a batch just applied (each batch once, in order per origin).
    package mutating func record(_ batch: DeltaBatch) {
        let deltas = Self.deltas(of: batch)
        guard !deltas.isEmpty else { return }
        var entries = log[batch.origin, default: []]
        entries.append((batch.seq, batch.timestamp, deltas))
        if entries.count > maxLoggedBatches { entries.removeFirst(entries.count - maxLoggedBatches) }
        log[batch.origin] = entries
    }

    /// The current count of every group the keyframe or a later delta mentions (nil: no keyframe yet).
    package func current() -> [JobGroup: Int64]? {
        guard let keyframe else { return nil }
        var counts: [JobGroup: Int64] = [:]
        for c in keyframe.counts { counts[c.group, default: 0] += c.count }
        for (origin, entries) in log {
            let mark = keyframe.watermarks[origin]
            for e in entries {
                // An origin the leader had not heard of: only what it stamped after the count moves it.
                let after = mark.map { e.seq > $0 } ?? (e.timestamp >= keyframe.timestamp)
                guard after else { continue }
                for (group, d) in e.deltas { counts[group, default: 0] += d }
            }
        }
        return counts
    }

    /// The job-state deltas carried by one batch.
    package static func deltas(of batch: DeltaBatch) -> [JobGroup: Int64] {
        var out: [JobGroup: Int64] = [:]
        for entry in batch.entries {
            guard case .count(let n) = entry.value, n != 0, let queue = entry.labels["queue"] else { continue }
            switch entry.series {
            case "transitions":
                guard let state = entry.labels["state"], let old = entry.labels["old_state"] else { continue }
                out[JobGroup(state: state, queue: queue), default: 0] += n
                out[JobGroup(state: old, queue: queue), default: 0] -= n
            case "inserted":
                if let state = entry.labels["state"] { out[JobGroup(state: state, queue: queue), default: 0] += n }
            case "pruned":
                if let state = entry.labels["state"] { out[JobGroup(state: state, queue: queue), default: 0] -= n }
            default:
                continue
            }
        }
        return out.filter { $0.value != 0 }
    }
}
