import Dispatch
import Foundation
import Logging
import MetMesh
import MetRecorder
import MetStore
import MetUV
import MetWire
import Synchronization

/// Merges peers' batches into the collector off the mesh's loop thread when they are large or
/// the collector is busy, so that neither a burst of new label sets nor a query or compaction
/// holding the collector's lock delays heartbeats, handshakes and the other frames (RELIABILITY
/// M4, L8; issues 12 and 17). A batch of at most ``inlineEntries`` entries is applied at once on
/// the loop when the lock is free and nothing waits here; otherwise it queues behind the
/// others, so each origin's batches are still applied in the order they arrived. A gap found by the
/// merger asks for a resend through the mesh, on its loop.
///
/// Bounded: beyond ``maxPendingEntries`` waiting, a batch is not queued; the next one applied
/// finds the gap and asks its origin again (from its retransmit window, or a snapshot).
package final class BatchMerger: Sendable {
    /// Batches this small are applied on the loop when nothing waits.
    package static let inlineEntries = 1024
    package static let maxPendingEntries = 2_000_000

    let collector: Collector
    let logger: Logger
    let queue = DispatchQueue(label: "met.batch-merger", qos: .utility)
    /// Entries queued and not yet applied; written on the loop (+) and on the queue (−).
    let pendingEntries = Atomic<Int>(0)
    let pendingBatches = Atomic<Int>(0)
    /// Where resend requests go: the mesh, once it exists.
    let mesh = Mutex<LoopBound<MeshNode>?>(nil)
    let dropLines = Mutex(LogLimiter(period: 60_000))

    package init(collector: Collector, logger: Logger) {
        self.collector = collector
        self.logger = logger
    }

    /// The mesh that resend requests go through (set once it is made).
    package func serve(_ mesh: LoopBound<MeshNode>) {
        self.mesh.withLock { $0 = mesh }
    }

    /// Applies `batch` now (small, nothing waiting: returns its gap, if any) or queues it (nil).
    package func receive(_ batch: DeltaBatch) -> Collector.Gap? {
        let size = batch.entries.count
        if size <= Self.inlineEntries, pendingBatches.load(ordering: .acquiring) == 0,
           case .done(let gap) = collector.tryReceive(batch, now: collector.clock.second()) {
            return gap
        }
        guard pendingEntries.load(ordering: .relaxed) + size <= Self.maxPendingEntries else {
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            if dropLines.withLock({ $0.allows(batch.origin.node, now: now) }) {
                logger.warning("batch \(batch.seq) of \(batch.origin.node) (\(size) entries) not queued: \(Self.maxPendingEntries) entries already wait to be merged; it will be asked for again (further lines suppressed for 60 s)")
            }
            return nil
        }
        pendingEntries.wrappingAdd(size, ordering: .relaxed)
        pendingBatches.wrappingAdd(1, ordering: .releasing)
        queue.async { [self] in
            let gap = collector.receive(batch, now: collector.clock.second())
            pendingEntries.wrappingSubtract(size, ordering: .relaxed)
            pendingBatches.wrappingSubtract(1, ordering: .releasing)
            if let gap, let mesh = mesh.withLock({ $0 }) {
                mesh.loop.execute { mesh.value.requestResend(from: PeerIdentity(gap.origin), gap.missing) }
            }
        }
        return nil
    }

    /// Batch frames at least this large are decoded by the merger too: decoding the batches
    /// of a burst of new label sets on the mesh's loop held its heartbeats, handshakes and
    /// `/api/cluster` for 300 ms and more (25 frames of 200 KB for 100,000 of them), and for
    /// about 100 ms once a burst came as batches of 4,095 entries (73 frames of 63 KB, just
    /// under the 64 KiB this was): one pass of the loop reads and decodes many frames of a peer.
    package static let decodeOffLoopBytes = 16 * 1024

    /// Decodes a large batch frame and applies it, after every batch queued before it. The
    /// frame was authenticated (its MAC) but is decoded only here: one that does not decode is
    /// logged and dropped, and the origin's next batch shows the gap, which is asked for again.
    package func receive(encoded payload: [UInt8], from peer: String) {
        let estimate = payload.count / 20  // at most this many entries: an entry takes 20 bytes or more
        guard pendingEntries.load(ordering: .relaxed) + estimate <= Self.maxPendingEntries else {
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            if dropLines.withLock({ $0.allows(peer, now: now) }) {
                logger.warning("a batch frame from \(peer) (\(payload.count) bytes) not queued: \(Self.maxPendingEntries) entries already wait to be merged; it will be asked for again (further lines suppressed for 60 s)")
            }
            return
        }
        pendingEntries.wrappingAdd(estimate, ordering: .relaxed)
        pendingBatches.wrappingAdd(1, ordering: .releasing)
        queue.async { [self] in
            defer {
                pendingEntries.wrappingSubtract(estimate, ordering: .relaxed)
                pendingBatches.wrappingSubtract(1, ordering: .releasing)
            }
            guard let batch = try? BatchCodec.decode(payload) else {
                logger.error("malformed batch frame from \(peer) (\(payload.count) bytes); dropped, its batch will be asked for again")
                return
            }
            let gap = collector.receive(batch, now: collector.clock.second())
            if let gap, let mesh = mesh.withLock({ $0 }) {
                mesh.loop.execute { mesh.value.requestResend(from: PeerIdentity(gap.origin), gap.missing) }
            }
        }
    }

    /// Applies the leader's count message now if the collector's lock is free and nothing
    /// waits here, else on the merger's queue after the batches before it; `done` gets whether
    /// it was taken. (A count message waiting on the loop for a burst's merges held heartbeats up.)
    package func apply(_ message: CountMessage, done: @escaping @Sendable (Bool) -> Void) {
        if pendingBatches.load(ordering: .acquiring) == 0, let took = collector.tryApply(message) { return done(took) }
        inTurn { [collector] in done(collector.apply(message)) }
    }

    /// Moves sent ahead of their batch: like a count message, at once when the collector is
    /// free and no batch waits, else in turn (whichever of them and their batch comes first,
    /// they count once).
    package func apply(_ moves: MovesAhead) {
        if pendingBatches.load(ordering: .acquiring) == 0, collector.tryApply(moves) != nil { return }
        inTurn { [collector] in collector.apply(moves) }
    }

    /// Runs `work` on the merger's queue after what is queued before it.
    private func inTurn(_ work: @escaping @Sendable () -> Void) {
        pendingBatches.wrappingAdd(1, ordering: .releasing)
        queue.async { [self] in
            work()
            pendingBatches.wrappingSubtract(1, ordering: .releasing)
        }
    }

    /// Waits until every queued batch is applied (tests, and before a handoff's snapshot).
    package func drain() {
        queue.sync {}
    }
}
