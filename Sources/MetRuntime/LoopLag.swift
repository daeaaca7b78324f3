import MetUV
import Synchronization

/// The mesh loop's lag (RELIABILITY L8): a repeating libuv timer on the loop, every
/// ``periodMilliseconds``, notes how much later than its period it fired; the last minute's
/// samples give the max and the 99th percentile. A blocking call on the loop (a slow merge, a
/// stalled callback) shows here as lag. Written on the loop's thread, read from any.
package final class LoopLag: Sendable {
    package static let periodMilliseconds: UInt64 = 100
    /// Seconds of samples kept.
    package static let windowSeconds = 60

    /// The last minute's lag, in milliseconds.
    package struct Reading: Sendable, Equatable, Codable {
        package var maxMs: Double
        package var p99Ms: Double
        /// The latest sample.
        package var lastMs: Double
        /// Samples in the window.
        package var samples: Int
    }

    private struct Window {
        var samples: [(at: ContinuousClock.Instant, lagMs: Double)] = []
        var last: ContinuousClock.Instant?
    }

    private let window = Mutex(Window())

    package init() {}

    /// Starts the timer; call on `loop`'s thread. It stops with the loop.
    package func start(on loop: UVLoop) throws(UVError) -> UVTimer {
        try UVTimer(loop: loop, every: Self.periodMilliseconds) { [self] in tick(now: .now) }
    }

    func tick(now: ContinuousClock.Instant) {
        window.withLock { w in
            if let last = w.last {
                let elapsed = Double((now - last) / .microseconds(1)) / 1000
                w.samples.append((now, max(0, elapsed - Double(Self.periodMilliseconds))))
            }
            w.last = now
            let cutoff = now - .seconds(Self.windowSeconds)
            if let first = w.samples.firstIndex(where: { $0.at >= cutoff }), first > 0 { w.samples.removeFirst(first) }
        }
    }

    /// The lag over the last minute (nil before two ticks).
    package var reading: Reading? {
        let lags = window.withLock { w in
            let cutoff = ContinuousClock.now - .seconds(Self.windowSeconds)
            return w.samples.filter { $0.at >= cutoff }.map(\.lagMs)
        }
        guard let last = lags.last else { return nil }
        let sorted = lags.sorted()
        let p99 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
        return Reading(maxMs: sorted.last!, p99Ms: p99, lastMs: last, samples: sorted.count)
    }
}
