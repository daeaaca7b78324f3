import Logging
import MetMesh
import Synchronization

/// Catch-up as a node joins (DESIGN §6, RELIABILITY H11): it asks the first peer it connects
/// to for the whole store, merges it, and only then reports itself ready in `/api/cluster`.
/// If that peer goes away first, the next connected peer is asked. A node with no seeds (the
/// first of a cluster) is ready at once; one whose seeds stay unreachable for `patience` is
/// ready with what it has, and says so.
final class CatchUp: Sendable {
    private struct State {
        var ready: Bool
        var asked: String?
        var since = ContinuousClock.now
    }

    private let state: Mutex<State>
    private let logger: Logger
    let patience: Duration

    init(ready: Bool, patience: Duration = .seconds(5), logger: Logger) {
        state = Mutex(State(ready: ready))
        self.patience = patience
        self.logger = logger
    }

    var isReady: Bool { state.withLock { $0.ready } }

    /// A peer connected (loop thread): ask it, unless ready or already asking someone else. The
    /// peer asked is asked again on a new connection: the snapshot it was sending went with the
    /// old one (replaced by a simultaneous dial, which reports no one down).
    func established(_ peer: String, mesh: MeshNode) {
        let ask = state.withLock { s -> Bool? in
            guard !s.ready, s.asked == nil || s.asked == peer else { return nil }
            defer { (s.asked, s.since) = (peer, .now) }
            return s.asked == peer
        }
        guard let again = ask else { return }
        logger.notice("catching up: asking \(peer) for its whole store\(again ? " again, on its new connection" : "")")
        mesh.requestSnapshot(from: peer)
    }

    /// A peer went down (loop thread): if it was the one asked, ask another connected peer.
    func down(_ peer: String, mesh: MeshNode) {
        let retry = state.withLock { s -> Bool in
            guard !s.ready, s.asked == peer else { return false }
            s.asked = nil
            return true
        }
        guard retry else { return }
        logger.warning("catching up: \(peer) went away before its snapshot was complete")
        if let next = mesh.connectedPeers.first { established(next, mesh: mesh) }
    }

    /// A snapshot was merged completely (loop thread).
    func merged(_ kind: MeshNode.SnapshotKind, from peer: String) {
        guard kind == .whole else { return }
        let done = state.withLock { s -> Duration? in
            guard !s.ready, s.asked == peer else { return nil }
            s.ready = true
            return .now - s.since
        }
        if let done { logger.notice("caught up from \(peer) in \(done); ready") }
    }

    /// Called every broadcast tick: a node no peer has answered for `patience` is ready alone.
    func tick() {
        let alone = state.withLock { s -> Bool in
            guard !s.ready, s.asked == nil, ContinuousClock.now - s.since >= patience else { return false }
            s.ready = true
            return true
        }
        if alone { logger.warning("no peer reachable to catch up from within \(patience); ready with this node's own data") }
    }
}
