import Synchronization

/// A node's clock: the system's real-time clock plus the node's correction, the "cluster time"
/// the node stamps its batches, markers and queue checks with and measures its queries'
/// windows by (docs/operations.md, "Clock skew"). The correction is 0 until the node measures
/// that its clock is off the cluster's median by more than the threshold
/// (``ClockCorrection``); heartbeats always carry the raw clock, so the offsets it is computed
/// from never fold the correction back in.
///
/// One per node (its recorder's): several nodes in one process each keep their own.
package final class ClusterClock: Sendable {
    private let correction = Atomic<Int64>(0)

    package init(correctionMilliseconds: Int64 = 0) {
        correction.store(correctionMilliseconds, ordering: .relaxed)
    }

    /// Milliseconds added to the system clock (0: none).
    package var correctionMilliseconds: Int64 { correction.load(ordering: .relaxed) }

    package func setCorrection(milliseconds: Int64) {
        correction.store(milliseconds, ordering: .relaxed)
    }

    /// Unix milliseconds now, in cluster time.
    package func milliseconds() -> Int64 {
        NodeRecorder.wallClockMilliseconds() + correction.load(ordering: .relaxed)
    }

    /// The unix second now, in cluster time.
    package func second() -> Int64 {
        let ms = milliseconds()
        return ms >= 0 ? ms / 1000 : (ms - 999) / 1000
    }
}

/// The rule a node corrects its clock by: the median of {0 (itself)} ∪ {the measured offsets
/// of its live peers} (a peer's raw clock minus this node's), applied only when its magnitude
/// exceeds `threshold`, so the noise of a LAN never moves it. Every node applying it to the
/// same clocks lands on the same cluster time, the median clock: one skewed node among
/// several corrects itself to the others, and the others do not move.
package enum ClockCorrection {
    /// Corrections of at most this many milliseconds are not applied (2 s).
    package static let defaultThresholdMilliseconds: Int64 = 2000

    /// The correction (ms) for these peer offsets (ms); 0 within the threshold, and always 0
    /// when the threshold is 0 (correction turned off).
    package static func correction(peerOffsets: [Int64], thresholdMilliseconds: Int64 = defaultThresholdMilliseconds) -> Int64 {
        guard thresholdMilliseconds > 0 else { return 0 }
        let sorted = ([0] + peerOffsets).sorted()
        let mid = sorted.count / 2
        // An even count (this node and an odd number of peers): the mean of the middle two, so
        // two nodes meet halfway rather than each moving all the way to the other.
        let median = sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
        return abs(median) > thresholdMilliseconds ? median : 0
    }
}
