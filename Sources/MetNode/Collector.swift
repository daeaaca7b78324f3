import MetStore
import Foundation

/// The replica collector: this node's copy of the whole cluster's metrics. Batches from every
/// origin (this node's own included) are applied in sequence order, exactly once; a batch that
/// arrives early waits in a buffer until the ones before it arrive, and the caller is told which
/// range to ask the origin for (DESIGN §3).
public final class Collector: @unchecked Sendable {  // `store`, `early` and `asked` are touched only while `lock` is held.
    private let lock = NSLock()
    private let store: SeriesStore
    /// Batches that arrived ahead of their origin's next one, by origin then seq.
    private var early: [Origin: [UInt64: DeltaBatch]] = [:]
    /// The last gap reported per origin (its first missing seq), so it is asked for once.
    private var asked: [Origin: UInt64] = [:]

    /// A sequence gap: `origin` must resend `missing` (inclusive).
    public struct Gap: Sendable, Equatable {
        public var origin: Origin
        public var missing: ClosedRange<UInt64>

        public init(origin: Origin, missing: ClosedRange<UInt64>) {
            self.origin = origin
            self.missing = missing
        }
    }

    /// Most early batches kept per origin before the oldest are dropped (and asked for again).
    public let maxEarly: Int
    public init(store: sending SeriesStore = SeriesStore(), maxEarly: Int = 600) {
        self.maxEarly = maxEarly
        self.store = store
    }

    /// Applies a batch (and any early ones it unblocks). Returns the gap to ask for, if any.
    @discardableResult
    public func receive(_ batch: DeltaBatch, now: Int64) -> Gap? {
        lock.lock()
        defer { lock.unlock() }
        switch store.apply(batch, now: now) {
        case .duplicate:
            return nil
        case .applied:
            var next = batch.seq + 1
            while let ready = early[batch.origin]?.removeValue(forKey: next) {
                store.apply(ready, now: now)
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

    /// Forgets the gap reported for `origin`, so the next early batch asks again (after a timeout).
    public func retryGaps() {
        lock.lock()
        defer { lock.unlock() }
        asked.removeAll()
    }

    /// Runs `body` with the store, under the collector's lock (keep it short).
    public func withStore<R>(_ body: (SeriesStore) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(store)
    }
}
