import MetWire

/// The node a mesh serves, seen from the mesh: its replica (batches and keyframes in; snapshots
/// out and in, as bytes the store encodes and decodes), and where the mesh reports what happened.
/// The mesh moves frames and knows no store type; the node implements every requirement — there
/// are no defaults, so a node that forgets one does not compile. Every call comes on the mesh's
/// loop thread and should be short (a locked merge, a chunk taken from the store).
package protocol MeshHost: AnyObject {
    /// A `batch` frame's payload, from its origin, from a peer relaying it, or resent: apply it
    /// (duplicates are ignored by sequence number) and say whether a gap opened before it.
    func receivedBatch(_ payload: [UInt8], from peer: PeerIdentity) -> BatchReceipt
    /// A `counts` frame's payload (``CountCodec``: the leader's keyframe with its snapshot, or a
    /// delta since it): take it if newer than what this replica holds. False: malformed.
    func receivedCounts(_ payload: [UInt8], from peer: PeerIdentity) -> Bool
    /// A `keyframe` frame's payload (``KeyframeCodec``), from a leader of the previous version.
    /// False: malformed.
    func receivedKeyframe(_ payload: [UInt8], from peer: PeerIdentity) -> Bool
    /// A `moves` frame's payload (``MovesCodec``): job moves `peer` recorded, sent ahead of its
    /// next batch; count them until that batch comes. False: malformed.
    func receivedMoves(_ payload: [UInt8], from peer: PeerIdentity) -> Bool
    /// The leader's latest keyframe (and delta) this replica holds, as a `counts` payload, for a
    /// peer that just connected: it has counts at once, even while no leader can take new ones.
    func heldCounts() -> [UInt8]?

    /// The watermark (last batch applied) of every origin this replica has applied batches of.
    func watermarks() -> [PeerIdentity: UInt64]
    /// The watermarks of the origins this replica still holds data of: what a digest offers.
    func heldWatermarks() -> [PeerIdentity: UInt64]
    /// Plans a snapshot of the store, or of one origin's data, in chunks of about `chunkBytes`,
    /// with its watermarks taken at the same instant; its chunks are taken as they are sent.
    func planSnapshot(of origin: PeerIdentity?, chunkBytes: Int) -> any SnapshotSource
    /// Merges one chunk of a snapshot or handoff from `peer` (idempotent).
    func merge(chunk: [UInt8], from peer: PeerIdentity) throws
    /// Ends a snapshot or handoff whose every chunk was merged: raises the watermarks it carries.
    func merge(watermarks: [UInt8], from peer: PeerIdentity) throws

    /// A member's status changed (joined, restarted, suspect, down, alive again...): log it
    /// (its ``MemberTransition/description`` is the line) and act on it.
    func membershipChanged(_ transition: MemberTransition)
    /// One line for the log (never contains the secret).
    func log(_ line: String)
}

/// What a replica made of a batch.
package enum BatchReceipt: Sendable, Equatable {
    /// Applied, or a duplicate, or held until the batches before it arrive (no new gap).
    case taken
    /// Held: `origin` must resend these batches first (asked once per gap).
    case gap(origin: PeerIdentity, missing: ClosedRange<UInt64>)
    /// Not a batch: the connection it came on is closed.
    case malformed
}

/// A snapshot being sent: its chunk count and watermarks fixed when it was planned, each chunk
/// taken from the store when asked for (so the sender never holds an encoded copy of its store).
package protocol SnapshotSource {
    var chunkCount: Int { get }
    /// The bytes a snapshot's end carries, merged by the receiver after every chunk.
    var watermarks: [UInt8] { get }
    func chunk(_ index: Int) -> [UInt8]
}
