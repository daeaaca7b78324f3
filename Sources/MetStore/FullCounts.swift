/// `full_count` as a replica serves it (DESIGN §3, docs/full-count.md): the latest keyframe, plus
/// the leader's latest delta for it, plus — when the leader does not decode the WAL — the job
/// moves recorded by every node that the keyframe's count did not see. Pure and not
/// thread-safe; the collector owns it.
///
/// Which recorded deltas count:
/// - a move carrying its transaction id counts when the keyframe's snapshot does not see that
///   transaction; for a job above the keyframe's `idBound`, when the snapshot of the leader's
///   delta (which recounted those jobs) does not see it. Whenever the move committed and
///   whenever its batch arrives, it counts exactly once. Sent ahead of its batch
///   (``MovesAhead``), it counts by the same rule from then on, once: the batch takes its place.
/// - a delta without a transaction id (`transitions`, `inserted` or `pruned` with a `state`, as
///   `POST /api/events` records them) counts when its batch comes after the keyframe's
///   watermark of its origin.
/// - in `.logical` mode none: the leader's delta holds every change Postgres made.
package struct FullCounts: Sendable {
    package private(set) var keyframe: Keyframe?
    /// The newest delta of the current keyframe.
    package private(set) var delta: CountDelta?

    private struct Logged: Sendable {
        var seq: UInt64
        var timestamp: Int64
        /// Job-state deltas without a transaction id.
        var loose: [JobGroup: Int64]
        var moves: [RecordedMove]
    }

    /// Per origin, what its recent batches did to job states, oldest first.
    private var log: [Origin: [Logged]] = [:]
    private var loggedMoves: [Origin: Int] = [:]
    /// Per origin, moves sent ahead of its next batch (``MovesAhead``), oldest first.
    private var ahead: [Origin: [MovesAhead]] = [:]
    /// Per origin, the last batch recorded: moves sent ahead of it are no longer counted.
    private var recordedSeq: [Origin: UInt64] = [:]
    /// Batches kept per origin: several keyframe intervals, so a new term's keyframe with older
    /// watermarks still finds the batches after them.
    package let maxLoggedBatches: Int
    /// Moves kept per origin (each keyframe drops those its snapshot sees, so only moves since
    /// the last keyframe stay; this bounds memory when keyframes stop).
    package let maxLoggedMoves: Int

    package init(maxLoggedBatches: Int = 600, maxLoggedMoves: Int = 200_000) {
        self.maxLoggedBatches = maxLoggedBatches
        self.maxLoggedMoves = maxLoggedMoves
    }

    /// Takes `keyframe` if it is newer than the current one; `false` (and nothing changes) if not.
    /// Moves its snapshot sees are forgotten: every later keyframe's snapshot sees them too.
    @discardableResult
    package mutating func apply(_ keyframe: Keyframe) -> Bool {
        guard keyframe.isNewer(than: self.keyframe) else { return false }
        self.keyframe = keyframe
        delta = nil
        if let snapshot = keyframe.snapshot {
            for origin in Array(log.keys) {
                var kept = 0
                log[origin] = log[origin]!.compactMap { entry in
                    var e = entry
                    e.moves.removeAll { snapshot.sees($0.xid) }
                    kept += e.moves.count
                    return e.moves.isEmpty && e.loose.isEmpty ? nil : e
                }
                loggedMoves[origin] = kept
            }
            for origin in Array(ahead.keys) {
                let kept = ahead[origin]!.compactMap { sent -> MovesAhead? in
                    var s = sent
                    s.moves.removeAll { snapshot.sees($0.xid) }
                    return s.moves.isEmpty ? nil : s
                }
                ahead[origin] = kept.isEmpty ? nil : kept
            }
        }
        return true
    }

    /// Counts `sent` until its origin's next batch is recorded; `false` (nothing changes) if
    /// that batch was recorded already. Each origin keeps at most ``maxLoggedMoves`` moves ahead
    /// (the oldest go first), should its batches stop coming.
    @discardableResult
    package mutating func apply(_ sent: MovesAhead) -> Bool {
        guard !sent.moves.isEmpty, (recordedSeq[sent.origin] ?? 0) <= sent.afterSeq else { return false }
        var list = ahead[sent.origin, default: []]
        list.append(sent)
        var total = list.reduce(0) { $0 + $1.moves.count }
        while total > maxLoggedMoves, list.count > 1 { total -= list.removeFirst().moves.count }
        ahead[sent.origin] = list
        return true
    }

    /// Takes `delta` if it belongs to the current keyframe and is a newer revision than the one held.
    @discardableResult
    package mutating func apply(_ delta: CountDelta) -> Bool {
        guard delta.belongs(to: keyframe), delta.revision > (self.delta?.revision ?? 0) else { return false }
        self.delta = delta
        return true
    }

    /// Notes the job-state deltas of a batch just applied (each batch once, in order per origin).
    package mutating func record(_ batch: DeltaBatch) {
        recordedSeq[batch.origin] = max(recordedSeq[batch.origin] ?? 0, batch.seq)
        if let sent = ahead[batch.origin] {
            let kept = sent.filter { $0.afterSeq >= batch.seq }  // this batch carries the others' moves
            ahead[batch.origin] = kept.isEmpty ? nil : kept
        }
        var loose = Self.deltas(of: batch)
        for m in batch.moves { m.add(to: &loose, sign: -1) }  // the batch's entries hold its moves too
        loose = loose.filter { $0.value != 0 }
        guard !loose.isEmpty || !batch.moves.isEmpty else { return }
        var entries = log[batch.origin, default: []]
        var moves = loggedMoves[batch.origin, default: 0] + batch.moves.count
        entries.append(Logged(seq: batch.seq, timestamp: batch.timestamp, loose: loose, moves: batch.moves))
        while entries.count > maxLoggedBatches || (moves > maxLoggedMoves && entries.count > 1) {
            moves -= entries.removeFirst().moves.count
        }
        log[batch.origin] = entries
        loggedMoves[batch.origin] = moves
    }

    /// The current count of every group the keyframe or a later delta mentions (nil: no keyframe yet).
    package func current() -> [JobGroup: Int64]? {
        guard let keyframe else { return nil }
        var counts: [JobGroup: Int64] = [:]
        for c in keyframe.counts { counts[c.group, default: 0] += c.count }
        if let delta { for (group, d) in delta.groups { counts[group, default: 0] += d } }
        guard keyframe.mode != .logical else { return counts }
        for (origin, entries) in log {
            let mark = keyframe.watermarks[origin]
            for e in entries {
                // An origin the leader had not heard of: only what it stamped after the count moves it.
                let after = mark.map { e.seq > $0 } ?? (e.timestamp >= keyframe.timestamp)
                if after { for (group, d) in e.loose { counts[group, default: 0] += d } }
                for m in e.moves where isCounted(m, after: after) { m.add(to: &counts) }
            }
        }
        // Moves ahead of their batch: that batch comes after any keyframe's watermark.
        for sent in ahead.values.joined() {
            for m in sent.moves where isCounted(m, after: true) { m.add(to: &counts) }
        }
        return counts
    }

    /// Whether a recorded move is missing from the keyframe (and the leader's recount of new
    /// jobs); without a snapshot (a leader of an older version), whether its batch came after
    /// the keyframe's watermark.
    private func isCounted(_ m: RecordedMove, after: Bool) -> Bool {
        guard let keyframe, let snapshot = keyframe.snapshot else { return after }
        if let recount = delta?.snapshot, m.job > keyframe.idBound { return !recount.sees(m.xid) }
        return !snapshot.sees(m.xid)
    }

    /// The job-state deltas carried by one batch's entries.
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
