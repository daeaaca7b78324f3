#if canImport(Glibc)
import Glibc
#endif
import MetStore

extension NodeRecorder {
    /// Takes a batch at every wall-clock boundary of `interval` (multiples of it since the epoch;
    /// default 1 s, DESIGN §7 `broadcastInterval`) and hands it to `deliver`, until the calling
    /// task is cancelled; then takes one last batch so that nothing recorded before the
    /// cancellation is left behind.
    ///
    /// A batch is stamped with the second its interval ended in (``BatchClock/stamp(endingAt:)``),
    /// so the events of a second land in that second whenever the previous batch was taken and
    /// however long `deliver` took: the schedule does not drift and skips no second. Only events
    /// recorded between a boundary and the moment the batch is actually taken (the timer's
    /// lateness, normally about a millisecond) land in the second before. Boundaries and stamps
    /// are in this node's cluster time (``clock``): a correction that changes while a batch is
    /// being gathered moves that batch's stamp with it.
    package func run(every interval: Duration = .seconds(1), deliver: (DeltaBatch) async -> Void) async {
        var schedule = BatchClock(intervalMs: interval.milliseconds)
        var correction = clock.correctionMilliseconds
        var boundary = schedule.next(after: clock.milliseconds())
        while !Task.isCancelled {
            let wait = boundary - clock.milliseconds()
            do {
                if wait > 0 { try await Task.sleep(for: .milliseconds(min(wait, schedule.intervalMs))) }
            } catch {
                break  // cancelled while waiting
            }
            let moved = clock.correctionMilliseconds - correction
            correction += moved
            if await deliverEach(takeParts(timestamp: BatchClock.stamp(endingAt: boundary + moved)), deliver) {
                FreeMemory.returnToSystemSoon()  // the burst's batches are freed now
            }
            boundary = schedule.next(after: clock.milliseconds())
        }
        _ = await deliverEach(takeParts(timestamp: clock.second()), deliver)
    }

    /// Delivers the batches of one interval in order; returns whether they were a burst (more
    /// than one batch: over ``maxBatchEntries`` entries). Once they are delivered and freed,
    /// the caller hands free memory back to the system, so a node's resident memory does not
    /// stay at the burst's peak.
    private func deliverEach(_ taken: consuming TakenBatches, _ deliver: (DeltaBatch) async -> Void) async -> Bool {
        // Each part is made when its turn comes and freed once delivered, not at the burst's end.
        for i in 0..<taken.count { await deliver(taken.part(i)) }
        return taken.count > 1
    }

    /// Unix seconds now, from the system's real-time clock.
    package static func wallClockSecond() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }

    /// Unix milliseconds now, from the system's real-time clock.
    package static func wallClockMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// The batch schedule's arithmetic, apart from any clock so it can be tested: boundaries are
/// multiples of the interval since the epoch, each taken once, in order.
package struct BatchClock: Sendable {
    package let intervalMs: Int64
    private var last: Int64?

    package init(intervalMs: Int64) { self.intervalMs = max(1, intervalMs) }

    /// How early a wake-up may be and still be taken for the last boundary (beyond: a clock step).
    package static let maxEarlyMilliseconds: Int64 = 1000

    /// The first boundary strictly after `nowMs`, and never one already returned (a wake-up a
    /// little early by the real-time clock must not take the same boundary twice). A clock
    /// that went back by more than ``maxEarlyMilliseconds`` (a step of the system clock, or of
    /// the node's correction) starts over from `nowMs`, rather than waiting out the step.
    package mutating func next(after nowMs: Int64) -> Int64 {
        var b = (nowMs / intervalMs + 1) * intervalMs
        if let last, b <= last, last - b < Self.maxEarlyMilliseconds { b = last + intervalMs }
        last = b
        return b
    }

    /// The unix second an interval ending at `boundaryMs` (exclusive) ended in: the last second
    /// its events were recorded in. For a 1 s interval ending at second s + 1, that is s.
    package static func stamp(endingAt boundaryMs: Int64) -> Int64 {
        (boundaryMs - 1).floorDivided(by: 1000)
    }
}

extension Int64 {
    fileprivate func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    fileprivate var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
