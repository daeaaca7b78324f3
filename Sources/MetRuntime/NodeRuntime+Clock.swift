import MetMesh
import MetRecorder

/// Clock skew (RELIABILITY L4, O4, F8): each node stamps its batches, markers and queue checks,
/// and measures its queries' windows, in cluster time, its system clock plus the correction of
/// ``ClockCorrection`` (docs/operations.md, "Clock skew"). Heartbeats carry the raw clock.
extension NodeRuntime {
    /// Recomputes this node's correction from the offsets its heartbeats measured (loop thread
    /// only; after every batch) and logs a correction once when it is applied, changes by more
    /// than the threshold, or is lifted.
    func correctClock() {
        let offsets = ClockCorrection.liveOffsets(peers: mesh.members.peers, offsets: mesh.peerClockOffsets)
        let threshold = Int64((config.clockCorrectionThreshold * 1000).rounded())
        let target = ClockCorrection.correction(peerOffsets: offsets, thresholdMilliseconds: threshold)
        let clock = recorder.clock
        let current = clock.correctionMilliseconds
        // Offsets move by a few ms between heartbeats: steps under 100 ms are not worth taking.
        guard (target == 0) != (current == 0) || abs(target - current) >= 100 else { return }
        clock.setCorrection(milliseconds: target)
        let logged = loggedCorrection.withLock { last -> Bool in
            guard (target == 0) != (last == 0) || abs(target - last) > max(threshold, 1000) else { return false }
            last = target
            return true
        }
        guard logged else { return }
        if target == 0 {
            logger.notice("clock correction lifted: this node's clock is within \(threshold) ms of the median of the live clocks; stamping and querying by the system clock again")
        } else {
            logger.warning("clock correction \(target > 0 ? "+" : "")\(target) ms: this node's clock is \(abs(target)) ms \(target > 0 ? "behind" : "ahead of") the median of its \(offsets.count) live peers' clocks and its own; its batches, markers, queue checks and queries are in cluster time (its clock \(target > 0 ? "+" : "")\(target) ms) until it is fixed (check NTP)")
        }
    }
}

extension ClockCorrection {
    /// The measured offsets of the peers a correction counts: every member not down (alive,
    /// suspect, alive (indirect)) with a measured offset. A clock's offset changes slowly, so a
    /// peer silent for a few seconds keeps its vote: leaving it out would move the median by half
    /// the spread whenever a connection blinks. A down peer (or one forgotten) is left out.
    package static func liveOffsets(peers: [Member], offsets: [String: Int64]) -> [Int64] {
        peers.filter { $0.status != .down }.compactMap { offsets[$0.name] }
    }
}
