import MetPostgres
import MetStore

/// The leader's bookkeeping of decoded `oban_jobs` changes against its keyframe (logical mode,
/// docs/full-count.md). Pure: the leader feeds it the stream's transactions and the job states
/// it looks up, and reads the cumulative delta since the keyframe.
///
/// The rule: a decoded transaction belongs to the delta exactly when the keyframe's snapshot
/// does not see it. Transactions are kept until a keyframe's snapshot sees them (one decoded
/// before a count may still be invisible to it), and folded in commit order: a job's first
/// change since the keyframe moves it out of the group the keyframe's snapshot saw it in —
/// looked up by primary key inside the keyframe's own transaction, or carried by the stream —
/// and later changes out of the group the previous change left it in. Row locks order the
/// transactions that change one row, so commit order is the order of its changes.
package struct ChangeLog {
    package typealias Group = JobChangeStream.Group

    package struct Transaction {
        var xid: UInt64
        var changes: [JobChangeStream.Change]
        var needsRecount: Bool
    }

    package private(set) var snapshot: XidSnapshot
    /// Decoded transactions the snapshot does not see, in commit order.
    private var pending: [Transaction] = []
    /// How many of `pending` are folded into `delta`.
    private var folded = 0
    /// Each job changed by a folded transaction: its group after them (nil: deleted).
    private var jobs: [Int64: Group?] = [:]
    /// The change of every group since the snapshot (zeros removed).
    package private(set) var delta: [JobGroup: Int64] = [:]
    /// Changes whose job the snapshot did not have although the stream says it existed: a sign
    /// of something this bookkeeping does not model; the next keyframe corrects it.
    package private(set) var unexplained = 0
    /// Changes kept in `pending`, at most `maxPending`.
    private var pendingChanges = 0
    package let maxPending: Int

    package init(snapshot: XidSnapshot, maxPending: Int = 500_000) {
        self.snapshot = snapshot
        self.maxPending = maxPending
    }

    /// A transaction only a recount can explain (a truncation, a huge transaction) is pending:
    /// take a keyframe (whose snapshot will see it) as soon as possible.
    package var needsKeyframe: Bool { pending.contains(where: \.needsRecount) }

    /// Takes a committed transaction from the stream (32-bit id, widened against the snapshot);
    /// ignored when the snapshot sees it (the keyframe holds it already).
    package mutating func add(_ t: JobChangeStream.Transaction) {
        let xid = snapshot.widen(t.xid)
        guard !snapshot.sees(xid) else { return }
        var kept = Transaction(xid: xid, changes: t.changes, needsRecount: t.needsRecount)
        if pendingChanges + kept.changes.count > maxPending {
            kept.changes = []
            kept.needsRecount = true
        }
        pendingChanges += kept.changes.count
        pending.append(kept)
    }

    /// Jobs whose group at the snapshot must be looked up before the transactions not yet folded can be.
    package func lookupsNeeded() -> [Int64] {
        var seen = Set<Int64>()
        var ids: [Int64] = []
        for t in pending[folded...] {
            for c in t.changes where jobs[c.job] == nil && !seen.contains(c.job) {
                seen.insert(c.job)
                if !c.inserted && c.old == nil { ids.append(c.job) }
            }
        }
        return ids
    }

    /// Folds the pending transactions into `delta`; `atSnapshot` holds the group of every job
    /// ``lookupsNeeded()`` named that the snapshot saw (a job it did not see is absent).
    package mutating func fold(atSnapshot: [Int64: Group]) {
        for t in pending[folded...] {
            for c in t.changes {
                let before: Group?
                if let tracked = jobs[c.job] {
                    before = tracked
                } else if c.inserted {
                    before = nil
                } else if let old = c.old ?? atSnapshot[c.job] {
                    before = old
                } else {
                    before = nil
                    unexplained += 1
                }
                if let before { delta[JobGroup(state: before.state, queue: before.queue), default: 0] -= 1 }
                if let after = c.new { delta[JobGroup(state: after.state, queue: after.queue), default: 0] += 1 }
                jobs[c.job] = .some(c.new)
            }
        }
        folded = pending.count
        delta = delta.filter { $0.value != 0 }
    }

    /// A new keyframe under `snapshot`: forgets the transactions it sees and starts the delta
    /// again from it (the caller looks up and folds what is left).
    package mutating func rebase(on snapshot: XidSnapshot) {
        self.snapshot = snapshot
        pending.removeAll { snapshot.sees($0.xid) }
        pendingChanges = pending.reduce(0) { $0 + $1.changes.count }
        folded = 0
        jobs = [:]
        delta = [:]
        unexplained = 0
    }
}
