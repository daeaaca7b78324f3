import MetUV
import MetWire

/// What anti-entropy remembers between digests (loop thread only).
final class AntiEntropy {
    /// Origins this node is behind a peer on: since when (loop ms), the highest seq seen, and the
    /// peer (this incarnation of it) that has it.
    var behind: [PeerIdentity: (since: UInt64, target: UInt64, peer: PeerIdentity)] = [:]
    /// When each origin was last asked for (loop ms).
    var asked: [PeerIdentity: UInt64] = [:]
    /// Per peer: the hash of the last digest sent and when.
    var sent: [String: (hash: Int, at: UInt64)] = [:]
}

/// Anti-entropy between replicas (RELIABILITY C2, C4). An origin's own resends repair a replica
/// only while the origin lives and is connected: a node killed mid-broadcast leaves some
/// replicas with its last batch and some without, for good. So every few heartbeats each node
/// sends a peer its digest — its watermarks of the origins it still holds data of and is not
/// connected to — when the digest changed since the last one that peer got, or 30 s passed
/// (dead origins do not change, so an idle mesh sends little: B5). A node still behind a peer
/// on such an origin a digest period later asks that peer for its data of the origin (a
/// per-origin snapshot, merged idempotently, which raises the watermark), at most once per 5 s
/// per origin. If that peer goes away (or restarts) first, the lag is forgotten until another
/// digest shows it again.
extension MeshNode {
    var digestPeriodMilliseconds: UInt64 { UInt64(max(1, config.digestEveryBeats)) * config.timings.heartbeat }

    func antiEntropyBeat() {
        guard beats % max(1, config.digestEveryBeats) == 0, !connections.isEmpty else { return }
        let now = UVTimer.now(loop)
        repairBehindOrigins(now: now)
        let marks = host.heldWatermarks().filter { !isLive($0.key) && $0.key != me }
        guard !marks.isEmpty else { return }
        let payload = WatermarksCodec.encode(marks)
        let hash = payload.hashValue
        for (name, c) in connections where c.isEstablished && !blackholed.contains(name) {
            if let last = antiEntropy.sent[name], last.hash == hash, now - last.at < 30_000 { continue }
            antiEntropy.sent[name] = (hash, now)
            c.send(Frame(type: .digest, payload: payload))
        }
    }

    /// Connected with this very incarnation: its own batches and resends keep replicas whole.
    func isLive(_ origin: PeerIdentity) -> Bool {
        connections[origin.node]?.peer?.incarnation == origin.incarnation
    }

    func digestArrived(_ payload: [UInt8], from c: PeerConnection, _ identity: PeerIdentity) {
        guard let theirs = try? WatermarksCodec.decode(payload) else {
            host.log("malformed digest from \(identity.node); closing its connection")
            return c.close(nil)
        }
        let mine = host.watermarks()
        let now = UVTimer.now(loop)
        for (origin, seq) in theirs where origin != me && !isLive(origin) && seq > (mine[origin] ?? 0) {
            let known = antiEntropy.behind[origin]
            if let known, known.target >= seq { continue }
            antiEntropy.behind[origin] = (known?.since ?? now, seq, identity)
        }
    }

    /// Asks, per peer, for the origins this node has been behind on for a digest period.
    func repairBehindOrigins(now: UInt64) {
        guard !antiEntropy.behind.isEmpty else { return }
        let mine = host.watermarks()
        var wanted: [String: [PeerIdentity: UInt64]] = [:]
        for (origin, state) in antiEntropy.behind {
            let peer = state.peer
            if (mine[origin] ?? 0) >= state.target || isLive(origin) || connections[peer.node]?.peer?.incarnation != peer.incarnation {
                antiEntropy.behind[origin] = nil
                continue
            }
            guard now - state.since >= digestPeriodMilliseconds, now - (antiEntropy.asked[origin] ?? 0) >= 5000,
                  connections[peer.node]?.isEstablished == true, wanted[peer.node, default: [:]].count < 64 else { continue }
            antiEntropy.asked[origin] = now
            wanted[peer.node, default: [:]][origin] = mine[origin] ?? 0
        }
        for (peer, origins) in wanted {
            host.log("behind \(peer) on \(origins.count) origin(s) no longer connected (\(origins.keys.map(\.description).sorted().joined(separator: ", "))); asking it for their data")
            connections[peer]?.send(Frame(type: .snapshotRequest, payload: WatermarksCodec.encode(origins)))
        }
    }
}
