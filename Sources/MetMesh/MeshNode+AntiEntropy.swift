import MetStore
import MetUV
import MetWire

/// What anti-entropy remembers between digests (loop thread only).
final class AntiEntropy {
    /// Origins this node is behind a peer on: since when (loop ms) and the highest seq seen.
    var behind: [Origin: (since: UInt64, target: UInt64)] = [:]
    /// When each origin was last asked for (loop ms).
    var asked: [Origin: UInt64] = [:]
    var beats = 0
    /// Origin snapshots asked of peers (for tests and metrics).
    var repairs = 0
}

/// Anti-entropy between replicas (RELIABILITY C2, C4). An origin's own resends repair a replica
/// only while the origin lives and is connected: a node killed mid-broadcast leaves some
/// replicas with its last batch and some without, for good. So every few heartbeats each node
/// sends its peers a digest: its watermarks of the origins it is not connected to. A node that
/// stays behind a peer on such an origin for two digest periods asks that peer for its data of
/// the origin (a per-origin snapshot, merged idempotently), at most once per 5 s per origin.
extension MeshNode {
    /// Origin snapshots this node asked peers for.
    public var repairsRequested: Int { antiEntropy.repairs }

    func antiEntropyBeat() {
        antiEntropy.beats += 1
        guard antiEntropy.beats % max(1, digestEveryBeats) == 0, !connections.isEmpty else { return }
        let marks = localWatermarks().filter { !isLive($0.key) && $0.key != me }
        guard !marks.isEmpty else { return }
        let frame = Frame(type: .digest, payload: StoreSnapshot.encode(watermarks: marks))
        for c in connections.values { c.send(frame) }
    }

    var me: Origin { Origin(node: config.node, incarnation: config.incarnation) }

    /// Connected with this very incarnation: its own batches and resends keep replicas whole.
    func isLive(_ origin: Origin) -> Bool {
        connections[origin.node]?.peer?.incarnation == origin.incarnation
    }

    func digestArrived(_ payload: [UInt8], from c: PeerConnection, _ identity: PeerIdentity) {
        guard let theirs = try? StoreSnapshot.decode(watermarks: payload) else {
            onLog("malformed digest from \(identity.node); closing its connection")
            return c.close(nil)
        }
        let mine = localWatermarks()
        let now = UVTimer.now(loop)
        let patience = 2 * UInt64(max(1, digestEveryBeats)) * config.heartbeatMilliseconds
        for (origin, state) in antiEntropy.behind where (mine[origin] ?? 0) >= state.target { antiEntropy.behind[origin] = nil }
        var wanted: [Origin: UInt64] = [:]
        for (origin, seq) in theirs where origin != me && !isLive(origin) && seq > (mine[origin] ?? 0) {
            guard let known = antiEntropy.behind[origin] else {
                antiEntropy.behind[origin] = (now, seq)
                continue
            }
            antiEntropy.behind[origin] = (known.since, max(known.target, seq))
            guard now - known.since >= patience, now - (antiEntropy.asked[origin] ?? 0) >= 5000 else { continue }
            antiEntropy.asked[origin] = now
            wanted[origin] = mine[origin] ?? 0
            if wanted.count == 64 { break }
        }
        guard !wanted.isEmpty else { return }
        antiEntropy.repairs += wanted.count
        onLog("behind \(identity.node) on \(wanted.count) origin(s) no longer connected (\(wanted.keys.map { "\($0.node)#\($0.incarnation)" }.sorted().joined(separator: ", "))); asking it for their data")
        c.send(Frame(type: .snapshotRequest, payload: StoreSnapshot.encode(watermarks: wanted)))
    }
}
