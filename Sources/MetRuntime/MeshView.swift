import MetMesh
import MetUV
import Synchronization

/// What `/api/cluster` shows of the mesh (members, links, clock offsets, who is leaving, ready),
/// published by the mesh's loop every ``periodMilliseconds``, so that a request reads it
/// without waiting for the loop, or for a thread to resume it on: while a burst is merged the
/// loop, and Swift's cooperative pool, can be late by hundreds of milliseconds (issue 17). The
/// reading is a period old at most, or as late as the loop is (its lag is in the same answer).
package final class MeshView: Sendable {
    package static let periodMilliseconds: UInt64 = 25

    package struct Reading: Sendable {
        package var members: Membership
        package var links: [String: PeerLink]
        package var clockOffsets: [String: Int64]
        package var leaving: Set<String>
        package var isReady: Bool
    }

    private let latest = Mutex<Reading?>(nil)

    package init() {}

    /// Publishes at once and then every period; call on `loop`'s thread. It stops with the loop.
    package func start(on loop: UVLoop, mesh: LoopBound<MeshNode>) throws(UVError) -> UVTimer {
        publish(mesh.value)
        return try UVTimer(loop: loop, every: Self.periodMilliseconds) { [self] in publish(mesh.value) }
    }

    private func publish(_ mesh: MeshNode) {
        let reading = Reading(members: mesh.members, links: mesh.links, clockOffsets: mesh.peerClockOffsets,
                              leaving: mesh.leavingPeers, isReady: mesh.isReady)
        latest.withLock { $0 = reading }
    }

    /// The last reading the loop published (nil before the first).
    package var reading: Reading? { latest.withLock { $0 } }
}
