import MetUV
import MetWire

/// Performing ``CatchUp``: a starting node asks for the whole store, then for the origins it is
/// still behind on, and is ready once it holds what every connected peer holds (C6).
extension MeshNode {
    /// One step of the catch-up machine with the node's current view.
    func stepCatchUp() {
        guard !catchUp.isReady else { return }
        let connected = connections.compactMap { name, c in leaving[name] == nil ? c.peer : nil }
        let expected = membership.peers.filter { $0.status != .down && leaving[$0.name] == nil }.map(\.name)
        performCatchUp(catchUp.step(now: UVTimer.now(loop), local: host.watermarks(), connected: connected, expected: expected))
    }

    func performCatchUp(_ actions: [CatchUp.Action]) {
        for action in actions {
            switch action {
            case .requestWhole(let peer):
                requestSnapshot(from: peer)
            case .requestOrigins(let peer, let origins):
                connections[peer]?.send(Frame(type: .snapshotRequest, payload: WatermarksCodec.encode(origins)))
            case .ready:
                // Peers got this node's holdings saying "not ready": tell them again.
                let bytes = Frame(type: .holdings, payload: Holdings(ready: true, watermarks: host.watermarks()).encoded()).encoded()
                for c in connections.values { c.send(encoded: bytes) }
            case .log(let line):
                host.log(line)
            }
        }
    }
}
