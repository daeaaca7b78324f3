import MetRecorder
import MetStore
import MetValues
import Foundation
import Synchronization

/// The replica collector: this node's copy of the whole cluster's metrics. Batches from every
/// origin (this node's own included) are applied in sequence order, exactly once; a batch that
/// arrives early waits in a buffer until the ones before it arrive, and the caller is told which
/// range to ask the origin for (DESIGN §3).
package final class Collector: @unchecked Sendable {  // every `var` and `store` are touched only while `lock` is held.
    private let lock = NSLock()
    private let store: SeriesStore
    /// Batches that arrived ahead of their origin's next one, by origin then seq.
    private var early: [Origin: [UInt64: DeltaBatch]] = [:]
    /// The last gap reported per origin (its first missing seq), so it is asked for once.
    private var asked: [Origin: UInt64] = [:]
    /// `full_count`: the latest keyframe plus the job-state deltas applied since.
    private var full = FullCounts()
    /// Why there is no `full_count` while there is no keyframe (set by the node as it learns more).
    private var noKeyframe = "no keyframe has reached this node yet"
    /// Per origin: the origin's timestamp of the last batch applied, and when it was applied here.
    private var lastApplied: [Origin: (stamped: Int64, at: Int64)] = [:]
    /// What ``storeSize()`` last counted, and when (a count passes over every timeline); its own
    /// lock, so reading it never waits for a merge.
    private let sizeCache = Mutex<(rows: Int, timelines: Int, origins: Int, at: ContinuousClock.Instant)?>(nil)
    /// The last ``StatusReading`` taken, for `/api/cluster` while a merge holds the lock.
    private let published = Mutex<StatusReading?>(nil)

    /// A sequence gap: `origin` must resend `missing` (inclusive).
    package struct Gap: Sendable, Equatable {
        package var origin: Origin
        package var missing: ClosedRange<UInt64>

        package init(origin: Origin, missing: ClosedRange<UInt64>) {
            self.origin = origin
            self.missing = missing
        }
    }

    /// Most early batches kept per origin before the oldest are dropped (and asked for again).
    package let maxEarly: Int
    /// The node's clock (its recorder's): queries without a `now` end at its cluster time.
    package let clock: ClusterClock
    package init(store: sending SeriesStore = SeriesStore(), maxEarly: Int = 600, clock: ClusterClock = ClusterClock()) {
        self.maxEarly = maxEarly
        self.store = store
        self.clock = clock
    }

    /// Entries of a batch applied per hold of the lock: a batch with many new label sets is
    /// merged in bounded steps, so queries, `/api/cluster` and snapshots interleave with it.
    package static let mergeSlice = 4096

    /// Applies a batch (and any early ones it unblocks). Returns the gap to ask for, if any.
    /// A batch of more than ``mergeSlice`` entries that is next in its origin's sequence is
    /// applied in slices (every entry of one timeline in the same slice, so a point still takes
    /// the batch once); its watermark is raised, and its moves and queue checks taken, with the
    /// last. A snapshot merged meanwhile is no problem: each point skips what a snapshot already
    /// brought (its sequence number), and a snapshot past the batch ends the slicing.
    @discardableResult
    package func receive(_ batch: DeltaBatch, now: Int64) -> Gap? {
        guard batch.entries.count > Self.mergeSlice else { return receiveWhole(batch, now: now) }
        let next = withStore { $0.watermark(of: batch.origin) + 1 }
        guard batch.seq == next else { return receiveWhole(batch, now: now) }  // a duplicate, or early
        for part in Self.slices(of: batch) {
            lock.lock()
            let taken = store.watermark(of: batch.origin) >= batch.seq
            if !taken { store.apply(part, now: now, enforcingSequence: false, raisingWatermark: false) }
            lock.unlock()
            if taken { return nil }  // a snapshot brought the whole batch
        }
        return receiveWhole(DeltaBatch(origin: batch.origin, seq: batch.seq, timestamp: batch.timestamp, entries: [],
                                       checks: batch.checks, moves: batch.moves), now: now, recording: batch)
    }

    /// A large batch's entries in parts of about ``mergeSlice``, by timeline.
    package static func slices(of batch: DeltaBatch) -> [DeltaBatch] {
        let count = (batch.entries.count + mergeSlice - 1) / mergeSlice
        var parts = [[DeltaBatch.Entry]](repeating: [], count: count)
        for e in batch.entries {
            var h = Hasher()
            h.combine(e.series)
            h.combine(e.labels.digest)
            parts[Int(UInt(bitPattern: h.finalize()) % UInt(count))].append(e)
        }
        return parts.map { DeltaBatch(origin: batch.origin, seq: batch.seq, timestamp: batch.timestamp, entries: $0) }
    }

    /// What ``tryReceive(_:now:)`` did.
    package enum TryReceive: Equatable {
        /// Applied (or held, or a duplicate), with the gap to ask for, if any.
        case done(Gap?)
        /// The lock was held elsewhere (a query's plan, a compaction slice): nothing was done.
        case busy
    }

    /// ``receive(_:now:)`` for a batch of at most ``mergeSlice`` entries, only if the lock is
    /// free at once: the mesh's loop never waits behind a query or a compaction.
    package func tryReceive(_ batch: DeltaBatch, now: Int64) -> TryReceive {
        guard batch.entries.count <= Self.mergeSlice, lock.try() else { return .busy }
        defer { lock.unlock() }
        return .done(receiveLocked(batch, now: now, recording: nil))
    }

    /// `recording`: the batch whose job-state deltas `full_count` notes (the whole of a sliced one).
    func receiveWhole(_ batch: DeltaBatch, now: Int64, recording: DeltaBatch? = nil) -> Gap? {
        lock.lock()
        defer { lock.unlock() }
        return receiveLocked(batch, now: now, recording: recording)
    }

    private func receiveLocked(_ batch: DeltaBatch, now: Int64, recording: DeltaBatch?) -> Gap? {
        switch store.apply(batch, now: now) {
        case .duplicate:
            return nil
        case .applied:
            lastApplied[batch.origin] = (batch.timestamp, now)
            full.record(recording ?? batch)
            var next = batch.seq + 1
            while let ready = early[batch.origin]?.removeValue(forKey: next) {
                store.apply(ready, now: now)
                lastApplied[batch.origin] = (ready.timestamp, now)
                full.record(ready)
                next += 1
            }
            early[batch.origin] = early[batch.origin].flatMap { $0.isEmpty ? nil : $0.filter { $0.key >= next } }
            return nil
        case .gap(let expected):
            var waiting = early[batch.origin, default: [:]]
            waiting[batch.seq] = batch
            if waiting.count > maxEarly, let oldest = waiting.keys.min() { waiting[oldest] = nil }
            early[batch.origin] = waiting
            guard asked[batch.origin] != expected else { return nil }
            asked[batch.origin] = expected
            let firstEarly = waiting.keys.min() ?? batch.seq
            return Gap(origin: batch.origin, missing: expected...(firstEarly - 1))
        }
    }

    /// Merges a snapshot (whole or per-origin) and then applies the early batches it unblocks:
    /// those at or below the snapshot's watermarks are duplicates now, the next ones apply.
    @discardableResult
    package func merge(_ snapshot: StoreSnapshot, now: Int64) throws(DecodeError) -> MergeStats {
        lock.lock()
        defer { lock.unlock() }
        let stats = try store.merge(snapshot, now: now)
        for origin in Array(early.keys) {
            var next = store.watermark(of: origin) + 1
            var waiting = early[origin] ?? [:]
            waiting = waiting.filter { $0.key >= next }
            while let ready = waiting.removeValue(forKey: next) {
                store.apply(ready, now: now)
                full.record(ready)
                next += 1
            }
            early[origin] = waiting.isEmpty ? nil : waiting
            asked[origin] = nil
        }
        return stats
    }

    /// Merges one chunk of a snapshot arriving piece by piece (its watermarks come last).
    @discardableResult
    package func merge(chunk: [UInt8], now: Int64) throws(DecodeError) -> MergeStats {
        lock.lock()
        defer { lock.unlock() }
        return try store.merge(chunk: chunk, now: now)
    }

    /// Ends a snapshot that arrived piece by piece: raises the watermarks, applies what they unblock.
    package func merge(watermarks: [UInt8], now: Int64) throws(DecodeError) {
        _ = try merge(StoreSnapshot(chunks: [], watermarks: watermarks), now: now)
    }

    /// Forgets the gap reported for `origin`, so the next early batch asks again (after a timeout).
    package func retryGaps() {
        lock.lock()
        defer { lock.unlock() }
        asked.removeAll()
    }

    /// Takes the leader's keyframe if it is newer (higher term, or later in the same term) than
    /// the current one, and a delta if it belongs to the current keyframe and is newer than the
    /// one held. Returns whether anything was taken.
    @discardableResult
    package func apply(_ message: CountMessage) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return applyLocked(message)
    }

    /// ``apply(_:)`` only if the lock is free at once (nil: it was held, nothing was done): the
    /// mesh's loop never waits behind a merge.
    package func tryApply(_ message: CountMessage) -> Bool? {
        guard lock.try() else { return nil }
        defer { lock.unlock() }
        return applyLocked(message)
    }

    /// Counts job moves sent ahead of their origin's next batch (``FullCounts/apply(_:)-MovesAhead``).
    @discardableResult
    package func apply(_ moves: MovesAhead) -> Bool {
        lock.withLock { full.apply(moves) }
    }

    /// ``apply(_:)-MovesAhead`` only if the lock is free at once (nil: it was held, nothing was done).
    package func tryApply(_ moves: MovesAhead) -> Bool? {
        guard lock.try() else { return nil }
        defer { lock.unlock() }
        return full.apply(moves)
    }

    private func applyLocked(_ message: CountMessage) -> Bool {
        switch message {
        case .keyframe(let keyframe, let delta):
            let took = full.apply(keyframe)
            if let delta { return full.apply(delta) || took }
            return took
        case .delta(let delta):
            return full.apply(delta)
        }
    }

    /// The latest keyframe, its latest delta, and `full_count` as served now (nil counts: no keyframe yet).
    package func fullCount() -> (keyframe: Keyframe?, delta: CountDelta?, counts: [JobGroup: Int64]?) {
        lock.lock()
        defer { lock.unlock() }
        return (full.keyframe, full.delta, full.current())
    }

    /// What this node holds of the leader's counts, to pass on to a peer that just connected (nil: nothing yet).
    package var countMessage: CountMessage? {
        lock.lock()
        defer { lock.unlock() }
        return full.keyframe.map { .keyframe($0, full.delta) }
    }

    /// Why `full_count` is unavailable while this node has no keyframe (words for an operator).
    package var noKeyframeReason: String {
        get { lock.withLock { noKeyframe } }
        set { lock.withLock { noKeyframe = newValue } }
    }

    /// The watermark of every origin (a keyframe's, taken just before the leader counts).
    package var watermarks: [Origin: UInt64] {
        lock.lock()
        defer { lock.unlock() }
        return store.watermarks
    }

    /// Per origin: the timestamp the origin gave its last applied batch, and when it was applied.
    package var lastBatches: [Origin: (stamped: Int64, at: Int64)] {
        lock.lock()
        defer { lock.unlock() }
        return lastApplied
    }

    /// Timelines compacted per hold of the lock: a compaction pass is many short holds, so the
    /// mesh loop's merges and the queries interleave with it.
    package static let compactionSlice = 2048

    /// Compacts the store a slice of timelines at a time, then the rollups, off the cooperative
    /// pool (``Blocking``): each slice may wait for the lock behind a burst's merges.
    package func compact(now: Int64) async {
        var start = 0
        while true {
            let from = start
            let more = await Blocking.run { [self] () -> Bool in
                withStore { store in
                    guard from < store.timelineCount else { return false }
                    _ = store.compact(now: now, timelines: from..<(from + Self.compactionSlice))
                    return true
                }
            }
            guard more else { break }
            start = from + Self.compactionSlice
        }
        await Blocking.run { [self] in compactRollupsLocked(now: now) }
    }

    private func compactRollupsLocked(now: Int64) {
        withStore {
            _ = $0.compactRollups(now: now)
            $0.refreshOriginsWithData()
        }
    }

    /// Points, timelines and origins with data in the store, as last counted (by the node
    /// every second, ``countSize()``); counted now if that is more than 5 s old.
    package func storeSize() -> (rows: Int, timelines: Int, origins: Int) {
        if let c = sizeCache.withLock({ $0 }), ContinuousClock.now - c.at < .seconds(5) { return (c.rows, c.timelines, c.origins) }
        return countSize()
    }

    /// Timelines whose points are counted per hold of the lock.
    static let countSlice = 16_384

    /// Counts the store's points a slice of timelines at a time (a burst of new label sets gives
    /// a store hundreds of thousands, and one pass over them all in one hold made `/api/cluster`
    /// and merges wait for it), and keeps the result for ``storeSize()``.
    @discardableResult
    package func countSize() -> (rows: Int, timelines: Int, origins: Int) {
        var rows = 0
        var start = 0
        while true {
            let (part, total) = withStore { ($0.pointCount(in: start..<(start + Self.countSlice)), $0.timelineCount) }
            rows += part
            start += Self.countSlice
            if start >= total { break }
        }
        let size = withStore { (rows: rows, timelines: $0.timelineCount, origins: $0.originsWithDataCount) }
        sizeCache.withLock { $0 = (size.rows, size.timelines, size.origins, .now) }
        return size
    }

    /// What `/api/cluster` shows of the replica: read in one hold of the lock when it is free,
    /// else as the last status read it. A burst of new label sets is merged slice by slice;
    /// waiting for the lock could mean waiting for several slices, since the lock is not fair,
    /// so a status may show the replica a little behind instead.
    package struct StatusReading: Sendable {
        package var watermarks: [Origin: UInt64]
        package var lastBatches: [Origin: (stamped: Int64, at: Int64)]
        package var keyframe: Keyframe?
        package var delta: CountDelta?
        package var counts: [JobGroup: Int64]?
        package var noKeyframeReason: String
        package var size: (rows: Int, timelines: Int, origins: Int)
        package var labelSetLimit: Int
        package var refusedEntries: [String: Int]
    }

    package func statusReading() -> StatusReading {
        let size = storeSize()  // counted by the node every second: read, not counted, here
        if lock.try() {
            defer { lock.unlock() }
            return publishLocked(size: size)
        }
        if var last = published.withLock({ $0 }) {
            last.size = size
            return last
        }
        lock.lock()
        defer { lock.unlock() }
        return publishLocked(size: size)
    }

    /// Takes a ``StatusReading`` and keeps it for ``statusReading()`` (the lock held).
    private func publishLocked(size: (rows: Int, timelines: Int, origins: Int)) -> StatusReading {
        let reading = StatusReading(watermarks: store.watermarks, lastBatches: lastApplied, keyframe: full.keyframe, delta: full.delta,
                                    counts: full.current(), noKeyframeReason: noKeyframe, size: size,
                                    labelSetLimit: store.maxLabelSets, refusedEntries: store.refusedLabelSets)
        published.withLock { $0 = reading }
        return reading
    }

    /// Runs `body` with the store, under the collector's lock (keep it short).
    package func withStore<R>(_ body: (SeriesStore) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(store)
    }
}
