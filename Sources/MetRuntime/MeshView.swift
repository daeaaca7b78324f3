import Dispatch
import MetMesh
import MetUV
import Synchronization

/// What `/api/cluster` shows of the mesh (members, links, clock offsets, who is leaving, ready).
/// A request asks the loop for it and waits at most 20 ms; a loop that does not answer by then
/// (busy with a burst's merges) never holds the answer up further: the request takes the
/// reading the loop last published, which it does every ``periodMilliseconds`` (issue 17).
package final class MeshView: Sendable {
    package static let periodMilliseconds: UInt64 = 100

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

    @discardableResult
    private func publish(_ mesh: MeshNode) -> Reading {
        let reading = Reading(members: mesh.members, links: mesh.links, clockOffsets: mesh.peerClockOffsets,
                              leaving: mesh.leavingPeers, isReady: mesh.isReady)
        latest.withLock { $0 = reading }
        return reading
    }

    /// A reading taken on the loop now, if the loop answers within `patience`; else the last one
    /// it published (nil before the first). Fresh when the loop is free, never later than
    /// `patience` when it is not.
    package func read(_ mesh: LoopBound<MeshNode>, on loop: UVLoop, patience: Duration = .milliseconds(20)) async -> Reading? {
        let answered = Mutex(false)
        return await withCheckedContinuation { (done: CheckedContinuation<Reading?, Never>) in
            let finish: @Sendable (Reading?) -> Void = { reading in
                let first = answered.withLock { was in
                    defer { was = true }
                    return !was
                }
                if first { done.resume(returning: reading) }
            }
            let accepted = loop.execute { [self] in finish(publish(mesh.value)) }
            guard accepted else { return finish(reading) }
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(patience / .nanoseconds(1)))) { [self] in finish(reading) }
        }
    }

    /// The last reading the loop published (nil before the first).
    package var reading: Reading? { latest.withLock { $0 } }
}
