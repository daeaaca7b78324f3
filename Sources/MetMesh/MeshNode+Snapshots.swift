import MetUV
import MetWire

/// A snapshot on its way to a peer (loop thread only): the whole store for a catching-up peer,
/// or one origin's data. Its chunks are taken from the store one at a time, as earlier ones
/// leave for the socket, so the sending node holds a window of chunks, never an encoded copy of
/// its store (DESIGN §6).
final class SnapshotStream {
    /// Chunks taken from the store and not yet written to the socket, at most.
    static let window = 2
    let source: any SnapshotSource
    let origin: PeerIdentity?
    let peer: String
    let started: UInt64
    var next = 0
    var queued = 0
    var bytes = 0
    var failed = false
    var ended = false

    init(source: any SnapshotSource, origin: PeerIdentity?, peer: String, started: UInt64) {
        self.source = source
        self.origin = origin
        self.peer = peer
        self.started = started
    }

    var kind: SnapshotKind { origin == nil ? .whole : .origin }
}

/// Resends and snapshots: a peer's missing batches from the retransmit window, a per-origin
/// snapshot beyond it, and a whole-store snapshot for a node catching up as it joins.
extension MeshNode {
    func resend(_ payload: [UInt8], to c: PeerConnection) {
        guard let request = try? ResendRequest.decode(payload) else { return c.close("malformed resend request") }
        guard request.incarnation == config.incarnation else { return }  // asked of an earlier life of this node
        let (from, to) = (request.range.lowerBound, request.range.upperBound)
        if let oldest = sent.first?.seq, from >= oldest {
            for batch in sent where batch.seq >= from && batch.seq <= to {
                c.send(Frame(type: .batch, payload: batch.payload))
            }
            return
        }
        // Beyond the retransmit window: a snapshot of this node's own data, then its watermark —
        // at most one per peer per resync interval (a flapping peer asks again and again, M7).
        let peer = c.peer?.node ?? "a peer"
        let now = UVTimer.now(loop)
        if let last = resyncs[peer], now - last < config.resyncIntervalMilliseconds {
            if resyncLines.allows(peer, now: now) {
                host.log("\(peer) missed batches \(from)...\(to) again; its next snapshot of this node's data may go \(seconds(last + config.resyncIntervalMilliseconds - now)) from now (one per \(seconds(config.resyncIntervalMilliseconds)))")
            }
            return
        }
        resyncs[peer] = now
        let stream = startStream(of: me, to: c)
        host.log("\(stream.peer) missed batches \(from)...\(to), beyond the retransmit window; sending a snapshot of this node's data (\(stream.source.chunkCount) chunks)")
        pump(stream, to: c)
    }

    /// Asks `peer` for its whole store (catch-up); it answers with chunks and a `snapshotEnd`.
    package func requestSnapshot(from peer: String) {
        assertOnLoop()
        connections[peer]?.send(Frame(type: .snapshotRequest, payload: []))
    }

    /// A `snapshotRequest`: empty, the whole store (catch-up); otherwise encoded watermarks naming
    /// origins, each answered with this replica's data of that origin (anti-entropy, catch-up,
    /// a gap in an origin the asker cannot reach).
    func serveSnapshot(_ payload: [UInt8], to c: PeerConnection) {
        guard payload.isEmpty else {
            guard let origins = try? WatermarksCodec.decode(payload), origins.count <= 64 else {
                return c.close("malformed snapshot request")
            }
            // Streams of one connection interleave their chunks; each end follows its own.
            for origin in origins.keys { pump(startStream(of: origin, to: c), to: c) }
            return
        }
        let stream = startStream(of: nil, to: c)
        host.log("sending \(stream.peer) a snapshot of the whole store (\(stream.source.chunkCount) chunks of up to \(config.snapshotChunkBytes) bytes)")
        pump(stream, to: c)
    }

    /// Plans a snapshot of `origin`'s data (nil: the whole store) for the peer of `c`.
    func startStream(of origin: PeerIdentity?, to c: PeerConnection) -> SnapshotStream {
        SnapshotStream(source: host.planSnapshot(of: origin, chunkBytes: config.snapshotChunkBytes), origin: origin,
                       peer: c.peer?.node ?? "a peer", started: UVTimer.now(loop))
    }

    /// Takes the stream's next chunks from the store while fewer than ``SnapshotStream/window``
    /// are waiting for the socket; each one written takes the next. After the last chunk, the end.
    func pump(_ stream: SnapshotStream, to c: PeerConnection) {
        while !stream.failed, stream.queued < SnapshotStream.window, stream.next < stream.source.chunkCount {
            let chunk = stream.source.chunk(stream.next)
            stream.next += 1
            stream.queued += 1
            stream.bytes += chunk.count
            c.send(Frame(type: .snapshotChunk, payload: chunk)) { [weak self] written in
                stream.queued -= 1
                guard written else {
                    if !stream.failed { self?.host.log("the snapshot of \(stream.origin.map { "\($0.node)'s data" } ?? "the whole store") for \(stream.peer) stopped at chunk \(stream.next) of \(stream.source.chunkCount): its connection closed") }
                    stream.failed = true
                    return
                }
                self?.pump(stream, to: c)
            }
        }
        guard !stream.failed, !stream.ended, stream.next == stream.source.chunkCount else { return }
        stream.ended = true
        c.send(Frame(type: .snapshotEnd, payload: SnapshotEnd(kind: stream.kind, watermarks: stream.source.watermarks).encoded()))
        guard stream.kind == .whole else { return }
        host.log("sent \(stream.peer) the whole store: \(stream.source.chunkCount) chunks, \(stream.bytes) bytes in \(UVTimer.now(loop) - stream.started) ms")
    }

    func snapshotEnded(_ payload: [UInt8], from c: PeerConnection, _ identity: PeerIdentity) {
        guard let end = try? SnapshotEnd.decode(payload) else {
            host.log("malformed snapshot end from \(identity.node); closing its connection")
            return c.close(nil)
        }
        do {
            try host.merge(watermarks: end.watermarks, from: identity)
        } catch {
            return host.log("snapshot watermarks from \(identity.node) refused: \(error)")
        }
        host.log("merged a snapshot of \(end.kind == .whole ? "the whole store" : "some origins' data") of \(identity.node)")
        catchUp.merged(end.kind, from: identity.node)
        stepCatchUp()
    }
}
