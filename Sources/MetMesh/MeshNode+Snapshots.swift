import MetStore
import MetUV
import MetValues
import MetWire

/// A snapshot on its way to a peer (loop thread only): the whole store for a catching-up peer,
/// or one origin's data. Its chunks are taken from the store one at a time, as earlier ones
/// leave for the socket, so the sending node holds a window of chunks, never an encoded copy of
/// its store (DESIGN §6).
final class SnapshotStream {
    /// Chunks taken from the store and not yet written to the socket, at most.
    static let window = 2
    let plan: SnapshotPlan
    let kind: MeshNode.SnapshotKind
    let peer: String
    let started: UInt64
    var next = 0
    var queued = 0
    var bytes = 0
    var failed = false
    var ended = false

    init(plan: SnapshotPlan, kind: MeshNode.SnapshotKind, peer: String, started: UInt64) {
        self.plan = plan
        self.kind = kind
        self.peer = peer
        self.started = started
    }
}

/// Resends and snapshots: a peer's missing batches from the retransmit window, a per-origin
/// snapshot beyond it, and a whole-store snapshot for a node catching up as it joins.
extension MeshNode {
    /// What a snapshot holds; the first byte of its `snapshotEnd` frame, before the watermarks.
    package enum SnapshotKind: UInt8, Sendable {
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
        let own = Origin(node: config.node, incarnation: config.incarnation)
        let stream = startStream(of: own, to: c)
        onLog("\(stream.peer) missed batches \(from)...\(to), beyond the retransmit window; sending a snapshot of this node's data (\(stream.plan.count) chunks)")
        pump(stream, to: c)
    }

    /// Asks `peer` for its whole store (catch-up); it answers with chunks and a `snapshotEnd`.
    package func requestSnapshot(from peer: String) {
        connections[peer]?.send(Frame(type: .snapshotRequest, payload: []))
    }

    /// A `snapshotRequest`: empty, the whole store (catch-up); otherwise encoded watermarks naming
    /// origins, each answered with this replica's data of that origin (anti-entropy repair).
    func serveSnapshot(_ payload: [UInt8], to c: PeerConnection) {
        guard payload.isEmpty else {
            guard let origins = try? StoreSnapshot.decode(watermarks: payload), origins.count <= 64 else {
                return c.close("malformed snapshot request")
            }
            // Streams of one connection interleave their chunks; each end follows its own.
            for origin in origins.keys { pump(startStream(of: origin, to: c), to: c) }
            return
        }
        let stream = startStream(of: nil, to: c)
        onLog("sending \(stream.peer) a snapshot of the whole store (\(stream.plan.count) chunks of up to \(config.snapshotChunkBytes) bytes)")
        pump(stream, to: c)
    }

    /// Plans a snapshot of `origin`'s data (nil: the whole store) for the peer of `c`.
    func startStream(of origin: Origin?, to c: PeerConnection) -> SnapshotStream {
        SnapshotStream(plan: snapshotPlan(config.snapshotChunkBytes, origin), kind: origin == nil ? .whole : .origin,
                              peer: c.peer?.node ?? "a peer", started: UVTimer.now(loop))
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
                    if !stream.failed { self?.onLog("the snapshot of \(stream.plan.origin.map { "\($0.node)'s data" } ?? "the whole store") for \(stream.peer) stopped at chunk \(stream.next) of \(stream.plan.count): its connection closed") }
                    stream.failed = true
                    return
                }
                self?.pump(stream, to: c)
            }
        }
        guard !stream.failed, !stream.ended, stream.next == stream.plan.count else { return }
        stream.ended = true
        c.send(Frame(type: .snapshotEnd, payload: [stream.kind.rawValue] + stream.plan.watermarks))
        guard stream.kind == .whole else { return }
        onLog("sent \(stream.peer) the whole store: \(stream.plan.count) chunks, \(stream.bytes) bytes in \(UVTimer.now(loop) - stream.started) ms")
    }

    func snapshotEnded(_ payload: [UInt8], from c: PeerConnection, _ identity: PeerIdentity) {
        guard let first = payload.first, let kind = SnapshotKind(rawValue: first) else {
            onLog("malformed snapshot end from \(identity.node); closing its connection")
            return c.close(nil)
        }
        onSnapshotEnd(kind, Array(payload.dropFirst()), identity)
    }
}
