import MetStore

/// A job move as recorded, with the worker label its entry gets.
struct PendingMove: Sendable {
    var move: RecordedMove
    var worker: String?
}

/// The moves recorded since the last batch, and how many of them were sent ahead of it.
struct MoveLog: Sendable {
    var pending: [PendingMove] = []
    var sentAhead = 0
}

extension NodeRecorder {
    /// Job `job` moved from `from` to `to` in a transaction that committed; `xid` is that
    /// transaction's `pg_current_xact_id()`. Recorded as a `transitions` count (or `inserted`
    /// when `from` is nil, `pruned` when `to` is nil), and carried with its transaction id, so
    /// that `full_count` counts it exactly once whenever it committed relative to a keyframe's
    /// count and whenever its batch arrives (docs/full-count.md). Record it after the commit.
    public func jobMoved(_ job: Int64, queue: String, worker: String? = nil, from: JobState?, to: JobState?, xid: UInt64) {
        guard from != nil || to != nil, from != to else { return }
        let recorded = PendingMove(move: RecordedMove(xid: xid, job: job, queue: queue, from: from, to: to), worker: worker)
        moveLog.withLock { $0.pending.append(recorded) }
    }

    /// The moves recorded since the last batch and not yet sent ahead of it (nil: none), to
    /// send every delta interval so that replicas count them before the batch comes
    /// (``MovesAhead``). The next batch carries them too.
    package func takeMovesAhead() -> MovesAhead? {
        taking.withLock { seq -> MovesAhead? in
            let moves = moveLog.withLock { log -> [RecordedMove] in
                defer { log.sentAhead = log.pending.count }
                return log.pending[log.sentAhead...].map(\.move)
            }
            return moves.isEmpty ? nil : MovesAhead(origin: origin, afterSeq: seq, moves: moves)
        }
    }

    /// Takes the moves recorded since the last batch and adds their entries (one per series and
    /// label set) to `entries`; called while taking a batch, so a move and its entry always
    /// travel in the same batch.
    func drainMoves(into entries: inout [DeltaBatch.Entry]) -> [RecordedMove] {
        let recorded = moveLog.withLock { log -> [PendingMove] in
            defer {
                log.pending.removeAll(keepingCapacity: true)
                log.sentAhead = 0
            }
            return log.pending
        }
        guard !recorded.isEmpty else { return [] }
        var folded: [Pair: Int64] = [:]
        var order: [Pair] = []
        for r in recorded {
            let m = r.move
            var pairs = [("node", origin.node), ("queue", m.queue)]
            let series: String
            switch (m.from, m.to) {
            case (let from?, let to?):
                series = "transitions"
                pairs += [("state", to.rawValue), ("old_state", from.rawValue)]
            case (nil, let to?):
                series = "inserted"
                pairs.append(("state", to.rawValue))
            case (let from?, nil):
                series = "pruned"
                pairs.append(("state", from.rawValue))
            case (nil, nil):
                continue
            }
            if let worker = r.worker { pairs.append(("worker", worker)) }
            let key = Pair(series: series, labels: LabelSet(pairs))
            if folded[key] == nil { order.append(key) }
            folded[key, default: 0] += 1
        }
        for key in order { entries.append(.init(series: key.series, labels: key.labels, value: .count(folded[key]!))) }
        return recorded.map(\.move)
    }

    struct Pair: Hashable {
        var series: String
        var labels: LabelSet
    }
}
