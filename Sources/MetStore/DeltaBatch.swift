import MetValues

/// What one origin recorded between two broadcasts: numbered, stamped with the origin's
/// wall-clock second, ready to be applied by every replica exactly once (DESIGN §3).
package struct DeltaBatch: Sendable, Equatable {
    package struct Entry: Sendable, Equatable {
        package var series: String
        package var labels: LabelSet
        package var value: PointValue

        package init(series: String, labels: LabelSet, value: PointValue) {
            self.series = series
            self.labels = labels
            self.value = value
        }
    }

    package var origin: Origin
    /// 1 for the first batch of an incarnation, then +1 per batch.
    package var seq: UInt64
    /// Unix seconds at the origin when the batch was taken; every entry lands in this second.
    package var timestamp: Int64
    package var entries: [Entry]
    /// The origin's queue checks taken with this batch (latest per queue wins on every replica).
    package var checks: [QueueCheck]
    /// Jobs moved by transactions whose ids the origin recorded: `full_count` counts each by its
    /// transaction id (``FullCounts``). `entries` holds them too, as transitions, `inserted` or
    /// `pruned`, so the store's series see them like any other.
    package var moves: [RecordedMove]

    package init(origin: Origin, seq: UInt64, timestamp: Int64, entries: [Entry], checks: [QueueCheck] = [], moves: [RecordedMove] = []) {
        self.origin = origin
        self.seq = seq
        self.timestamp = timestamp
        self.entries = entries
        self.checks = checks
        self.moves = moves
    }
}

/// What became of a batch handed to ``SeriesStore/apply(_:now:enforcingSequence:)``.
package enum ApplyOutcome: Sendable, Equatable {
    /// Merged. `rejected` entries were refused (series of another kind, time out of range).
    case applied(entries: Int, rejected: Int)
    /// Already applied (its sequence number is at or below the origin's watermark): nothing changed.
    case duplicate
    /// Batches are missing before this one: nothing changed; `expected` is the next one needed.
    case gap(expected: UInt64)
}
