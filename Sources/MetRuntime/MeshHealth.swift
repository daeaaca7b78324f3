import MetMesh
import Synchronization

/// What the node's side of the mesh seam counts for `/metrics` (RELIABILITY O2): membership
/// transitions as ``ReplicaHost`` hears them, and the snapshot chunks (catch-up, resync and
/// handoff alike) this replica sent and merged. Any thread; a short lock per event.
package final class MeshHealth: Sendable {
    package struct Counts: Sendable, Equatable {
        /// Members that became `suspect`.
        package var suspicions = 0
        /// Suspects heard from again (directly or through a peer) before they went down.
        package var refutations = 0
        /// Members that went `down`.
        package var downs = 0
        /// Members that came back after being down.
        package var recoveries = 0
        /// Members that joined, restarted (a new incarnation) or were reaped.
        package var joins = 0
        package var restarts = 0
        package var reaps = 0
        /// Snapshots of one origin planned for a peer that missed batches (M7 resyncs).
        package var resyncs = 0
        /// Snapshots of the whole store planned (a joining peer's catch-up, a handoff).
        package var fullSnapshots = 0
        /// Snapshot and handoff chunks sent and merged, and their bytes.
        package var chunksSent = 0
        package var chunkBytesSent = 0
        package var chunksMerged = 0
        package var chunkBytesMerged = 0
    }

    private let state = Mutex(Counts())

    package init() {}

    package var counts: Counts { state.withLock { $0 } }

    func record(_ t: MemberTransition) {
        state.withLock { c in
            switch t.change {
            case .joined: c.joins += 1
            case .restarted: c.restarts += 1
            case .reaped: c.reaps += 1
            case .status(let old):
                switch (old, t.member.status) {
                case (_, .suspect): c.suspicions += 1
                case (_, .down): c.downs += 1
                case (.suspect, .alive), (.suspect, .indirect): c.refutations += 1
                case (.down, .alive), (.down, .indirect): c.recoveries += 1
                default: break
                }
            }
        }
    }

    func planned(wholeStore: Bool) {
        state.withLock { if wholeStore { $0.fullSnapshots += 1 } else { $0.resyncs += 1 } }
    }

    func sent(chunkBytes: Int) { state.withLock { $0.chunksSent += 1; $0.chunkBytesSent += chunkBytes } }
    func merged(chunkBytes: Int) { state.withLock { $0.chunksMerged += 1; $0.chunkBytesMerged += chunkBytes } }
}
