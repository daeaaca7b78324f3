import MetStore
import MetUV
import MetValues
import MetWire

/// A whole-store snapshot on its way to a catching-up peer (loop thread only). Its chunks are
/// taken from the store one at a time, as earlier ones leave for the socket, so the answering
/// node holds a window of chunks, never an encoded copy of its whole store (DESIGN §6).
final class SnapshotStream {
    /// Chunks taken from the store and not yet written to the socket, at most.
    static let window = 2
    let plan: SnapshotPlan
    let peer: String
    let started: UInt64
    var next = 0
    var queued = 0
    var bytes = 0
    var failed = false
    var ended = false

    init(plan: SnapshotPlan, peer: String, started: UInt64) {
        self.plan = plan
        self.peer = peer
        self.started = started
    }
}

/// Resends and snapshots: a peer's missing batches from the retransmit window, a per-origin
/// snapshot beyond it, and a whole-store snapshot for a node catching up as it joins.
extension MeshNode {
    /// What a snapshot holds; the first byte of its `snapshotEnd` frame, before the watermarks.
    public enum SnapshotKind: UInt8, Sendable {
        /// This node's own data: the answer to a resend request beyond the retransmit window.
        case origin = 1
        /// The whole store: the answer to a `snapshotRequest` (catch-up).
        case whole = 2
    }

    func resend(_ payload: [UInt8], to c: PeerConnection) {
        guard payload.count <= 30, let (from, to, incarnation) = try? payload.withUnsafeBytes({ raw throws(DecodeError) in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            return (try r.readVarint(), try r.readVarint(), try r.readVarint())
        }), from <= to else { return c.close("malformed resend request") }
        guard incarnation == config.incarnation else { return }  // asked of an earlier life of this node
        if let oldest = sent.first?.seq, from >= oldest {
            for batch in sent where batch.seq >= from && batch.seq <= to {
                c.send(Frame(type: .batch, payload: BatchCodec.encode(batch)))
            }
            return
        }
        // Beyond the retransmit window: a snapshot of this origin's own data, then its watermark.
        let snapshot = ownSnapshot()
        snapshotsSent += 1
        onLog("\(c.peer?.node ?? "peer") missed batches \(from)...\(to), beyond the retransmit window; sending a snapshot of this node's data (\(snapshot.byteCount) bytes)")
        send(snapshot, kind: .origin, to: c)
    }

    /// Asks `peer` for its whole store (catch-up); it answers with chunks and a `snapshotEnd`.
    public func requestSnapshot(from peer: String) {
        connections[peer]?.send(Frame(type: .snapshotRequest, payload: []))
    }

    /// A `snapshotRequest`: empty, the whole store (catch-up); otherwise encoded watermarks naming
    /// origins, each answered with this replica's data of that origin (anti-entropy repair).
    func serveSnapshot(_ payload: [UInt8], to c: PeerConnection) {
        guard payload.isEmpty else {
            guard let origins = try? StoreSnapshot.decode(watermarks: payload), origins.count <= 64 else {
                return c.close("malformed snapshot request")
            }
            for origin in origins.keys {
                let snapshot = originSnapshot(origin)
                snapshotsSent += 1
                send(snapshot, kind: .origin, to: c)
            }
            return
        }
        let stream = SnapshotStream(plan: snapshotPlan(config.snapshotChunkBytes), peer: c.peer?.node ?? "a peer", started: UVTimer.now(loop))
        snapshotsSent += 1
        onLog("sending \(stream.peer) a snapshot of the whole store (\(stream.plan.count) chunks of up to \(config.snapshotChunkBytes) bytes)")
        pump(stream, to: c)
    }

    /// Takes the stream's next chunks from the store while fewer than ``SnapshotStream/window``
    /// are waiting for the socket; each one written takes the next. After the last chunk, the end.
    func pump(_ stream: SnapshotStream, to c: PeerConnection) {
        while !stream.failed, stream.queued < SnapshotStream.window, stream.next < stream.plan.count {
            let chunk = snapshotChunk(stream.next, stream.plan)
            stream.next += 1
            stream.queued += 1
            stream.bytes += chunk.count
            c.send(Frame(type: .snapshotChunk, payload: chunk)) { [weak self] written in
                stream.queued -= 1
                guard written else {
                    if !stream.failed { self?.onLog("the snapshot for \(stream.peer) stopped at chunk \(stream.next) of \(stream.plan.count): its connection closed") }
                    stream.failed = true
                    return
                }
                self?.pump(stream, to: c)
            }
        }
        guard !stream.failed, !stream.ended, stream.next == stream.plan.count else { return }
        stream.ended = true
        c.send(Frame(type: .snapshotEnd, payload: [SnapshotKind.whole.rawValue] + stream.plan.watermarks))
        onLog("sent \(stream.peer) the whole store: \(stream.plan.count) chunks, \(stream.bytes) bytes in \(UVTimer.now(loop) - stream.started) ms")
    }

    func send(_ snapshot: StoreSnapshot, kind: SnapshotKind, to c: PeerConnection) {
        for chunk in snapshot.chunks { c.send(Frame(type: .snapshotChunk, payload: chunk)) }
        c.send(Frame(type: .snapshotEnd, payload: [kind.rawValue] + snapshot.watermarks))
    }

    func snapshotEnded(_ payload: [UInt8], from c: PeerConnection, _ identity: PeerIdentity) {
        guard let first = payload.first, let kind = SnapshotKind(rawValue: first) else {
            onLog("malformed snapshot end from \(identity.node); closing its connection")
            return c.close(nil)
        }
        onSnapshotEnd(kind, Array(payload.dropFirst()), identity)
    }
}
