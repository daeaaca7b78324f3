import Logging
import MetMesh
import MetRecorder
import MetStore
import MetWire

/// The node's side of the mesh seam (``MeshHost``): its replica, the ``Collector``, as the mesh
/// sees it — frames' payloads decoded and applied, snapshots planned and merged — and its log.
/// The mesh calls it on its loop thread; every call is a short hold of the collector's lock, and
/// large batches are decoded and merged off the loop by the ``BatchMerger``.
package final class ReplicaHost: MeshHost, Sendable {
    let collector: Collector
    let logger: Logger
    package let merger: BatchMerger
    /// What this seam counts for `/metrics`.
    package let health: MeshHealth

    package init(collector: Collector, logger: Logger, health: MeshHealth = MeshHealth()) {
        self.collector = collector
        self.logger = logger
        self.health = health
        merger = BatchMerger(collector: collector, logger: logger)
    }

    package func receivedBatch(_ payload: [UInt8], from peer: PeerIdentity) -> BatchReceipt {
        if payload.count >= BatchMerger.decodeOffLoopBytes {
            merger.receive(encoded: payload, from: peer.node)
            return .taken
        }
        guard let batch = try? BatchCodec.decode(payload) else { return .malformed }
        guard let gap = merger.receive(batch) else { return .taken }
        return .gap(origin: PeerIdentity(gap.origin), missing: gap.missing)
    }

    package func receivedCounts(_ payload: [UInt8], from peer: PeerIdentity) -> Bool {
        guard let message = try? CountCodec.decode(payload) else { return false }
        apply(message, from: peer)
        return true
    }

    package func receivedKeyframe(_ payload: [UInt8], from peer: PeerIdentity) -> Bool {
        guard let keyframe = try? KeyframeCodec.decode(payload) else { return false }
        apply(.keyframe(keyframe, nil), from: peer)
        return true
    }

    package func receivedMoves(_ payload: [UInt8], from peer: PeerIdentity) -> Bool {
        guard let sent = try? MovesCodec.decode(payload), PeerIdentity(sent.origin) == peer else { return false }
        merger.apply(sent)
        return true
    }

    /// Applies a count message at once when the collector is free and no batch waits to be
    /// merged; else after the merges queued before it (the loop never waits for the lock).
    func apply(_ message: CountMessage, from peer: PeerIdentity) {
        merger.apply(message) { [logger] took in
            if !took, case .keyframe(let keyframe, _) = message {
                logger.debug("ignored keyframe \(keyframe.term).\(keyframe.number) from \(peer.node): not newer than the current one")
            }
        }
    }

    package func heldCounts() -> [UInt8]? {
        collector.countMessage.map(CountCodec.encode)
    }

    package func watermarks() -> [PeerIdentity: UInt64] {
        Self.identities(collector.watermarks)
    }

    package func heldWatermarks() -> [PeerIdentity: UInt64] {
        Self.identities(collector.withStore { store in
            let held = store.originsWithData
            return store.watermarks.filter { held.contains($0.key) }
        })
    }

    package func planSnapshot(of origin: PeerIdentity?, chunkBytes: Int) -> any SnapshotSource {
        let only = origin.map { Origin(node: $0.node, incarnation: $0.incarnation) }
        health.planned(wholeStore: only == nil)
        return StoreSnapshotSource(collector: collector, plan: collector.withStore { $0.snapshotPlan(maxChunkBytes: chunkBytes, of: only) },
                                   health: health)
    }

    package func merge(chunk: [UInt8], from peer: PeerIdentity) throws {
        try collector.merge(chunk: chunk, now: collector.clock.second())
        health.merged(chunkBytes: chunk.count)
    }

    package func merge(watermarks: [UInt8], from peer: PeerIdentity) throws {
        try collector.merge(watermarks: watermarks, now: collector.clock.second())
    }

    package func membershipChanged(_ transition: MemberTransition) {
        health.record(transition)
        switch transition.member.status {
        case .down where transition.change != .joined: logger.warning("\(transition.description)")
        default: logger.notice("\(transition.description)")
        }
    }

    package func log(_ line: String) {
        logger.info("\(line)")
    }

    static func identities(_ marks: [Origin: UInt64]) -> [PeerIdentity: UInt64] {
        Dictionary(uniqueKeysWithValues: marks.map { (PeerIdentity($0.key), $0.value) })
    }
}

/// A snapshot of the collector's store being sent: planned at one instant, each chunk taken
/// from the store (under the collector's lock) when the mesh asks for it.
struct StoreSnapshotSource: SnapshotSource {
    let collector: Collector
    let plan: SnapshotPlan
    let health: MeshHealth

    var chunkCount: Int { plan.count }
    var watermarks: [UInt8] { plan.watermarks }
    func chunk(_ index: Int) -> [UInt8] {
        let bytes = collector.withStore { $0.snapshotChunk(index, of: plan) }
        health.sent(chunkBytes: bytes.count)
        return bytes
    }
}

extension PeerIdentity {
    /// The mesh's name for an origin.
    package init(_ origin: Origin) { self.init(node: origin.node, incarnation: origin.incarnation) }
}
