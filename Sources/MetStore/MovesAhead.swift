/// Job moves a node recorded since its last batch, sent ahead of that batch every delta
/// interval (0.25 s) so that replicas count them without waiting up to a broadcast interval
/// (1 s) for the batch (docs/full-count.md, snapshots mode). The batch that follows still
/// carries the same moves: a replica counts the moves ahead only until it records batch
/// `afterSeq + 1` of `origin`, and ignores them if that batch came first. Best effort: lost or
/// refused, they change nothing but how soon the moves count.
package struct MovesAhead: Sendable, Equatable {
    package var origin: Origin
    /// The origin's last batch taken before these moves: they travel in batch `afterSeq + 1`.
    package var afterSeq: UInt64
    package var moves: [RecordedMove]

    package init(origin: Origin, afterSeq: UInt64, moves: [RecordedMove]) {
        self.origin = origin
        self.afterSeq = afterSeq
        self.moves = moves
    }
}
