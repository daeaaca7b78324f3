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

/// How the leader keeps `full_count` right between its keyframes (docs/full-count.md).
package enum CountMode: UInt8, Sendable, Codable {
    /// Keyframes under a snapshot; between them transitions recorded with their transaction ids
    /// (counted when the keyframe's snapshot does not see them), the leader's recounts of jobs
    /// with ids above the keyframe's `idBound`, and unrecorded changes at the next keyframe.
    case snapshots = 1
    /// The leader decodes every change of `oban_jobs` from the WAL (logical decoding): its
    /// deltas alone move the counts; recorded transitions do not.
    case logical = 2
}

/// The leader's count of jobs per (state, queue), taken from Postgres (DESIGN §3, §5).
///
/// `snapshot` is the MVCC snapshot the count ran under: a transition made by a transaction it
/// sees is in the count, any other is not. `watermarks` holds, for each origin, the last batch
/// the leader had applied when it counted: the rule for deltas recorded without a transaction
/// id. Keyframes are ordered by `(term, number)`; a replica ignores any keyframe not newer than
/// its own, so a deposed leader that still believes it leads can never make the counts flicker.
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

    /// The lease term of the leader that took it: new at every acquisition of the lease.
    package var term: Int64
    /// Keyframes taken so far in this term (1, 2, ...); never goes back within a term.
    package var number: UInt64
    package var leader: Origin
    /// Unix seconds at the leader when it counted.
    package var timestamp: Int64
    package var counts: [Count]
    package var watermarks: [Origin: UInt64]
    /// The snapshot the count ran under; nil from a leader of an older version (then every
    /// delta follows the watermark rule).
    package var snapshot: XidSnapshot?
    package var mode: CountMode
    /// `.snapshots`: the largest job id the count saw; the leader's deltas recount the jobs above it.
    package var idBound: Int64
    /// Why the leader counts by snapshots although logical decoding was allowed (nil otherwise).
    package var note: String?

    package init(term: Int64, number: UInt64, leader: Origin, timestamp: Int64, counts: [Count], watermarks: [Origin: UInt64],
                 snapshot: XidSnapshot? = nil, mode: CountMode = .snapshots, idBound: Int64 = 0, note: String? = nil) {
        self.term = term
        self.number = number
        self.leader = leader
        self.timestamp = timestamp
        self.counts = counts
        self.watermarks = watermarks
        self.snapshot = snapshot
        self.mode = mode
        self.idBound = idBound
        self.note = note
    }

    /// Whether this keyframe supersedes `other` (a newer term, or a later keyframe of the same term).
    package func isNewer(than other: Keyframe?) -> Bool {
        guard let other else { return true }
        return (term, number) > (other.term, other.number)
    }
}

/// The leader's change of `full_count` since its keyframe `(term, number)`, cumulative: each
/// revision replaces the ones before, so receiving one twice, late or out of order changes nothing.
package struct CountDelta: Sendable, Equatable {
    package var term: Int64
    package var number: UInt64
    /// 1, 2, ... within the keyframe.
    package var revision: UInt64
    /// Unix milliseconds at the leader when it was made.
    package var timestampMs: Int64
    /// `.snapshots`: the snapshot the jobs above the keyframe's `idBound` were recounted under.
    package var snapshot: XidSnapshot?
    /// Per group, jobs to add to the keyframe's count (groups that did not change are absent).
    package var groups: [JobGroup: Int64]

    package init(term: Int64, number: UInt64, revision: UInt64, timestampMs: Int64, snapshot: XidSnapshot? = nil, groups: [JobGroup: Int64]) {
        self.term = term
        self.number = number
        self.revision = revision
        self.timestampMs = timestampMs
        self.snapshot = snapshot
        self.groups = groups
    }

    /// Whether it belongs to `keyframe`.
    package func belongs(to keyframe: Keyframe?) -> Bool { keyframe.map { $0.term == term && $0.number == number } ?? false }
}

/// What the leader sends of `full_count`: a keyframe (with its latest delta), or a new delta.
package enum CountMessage: Sendable, Equatable {
    case keyframe(Keyframe, CountDelta?)
    case delta(CountDelta)
}
