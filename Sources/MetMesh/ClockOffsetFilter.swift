/// A peer's clock offset from its heartbeats, robust to late delivery (RELIABILITY O4, L4).
///
/// A heartbeat carries its sender's wall clock; its stamp minus the receiver's clock is the
/// offset minus the time the heartbeat spent in flight and in queues. That delay is never
/// negative, so a heartbeat that waited (a loaded machine, a busy loop, a full socket) only ever
/// makes the peer look further behind. The estimate is therefore the largest of the last
/// ``window`` samples, the least delayed one, as NTP keeps its least-delayed sample. A real step of
/// the peer's clock shows fully once ``window`` newer samples have replaced the older ones.
package struct ClockOffsetFilter: Sendable, Equatable {
    /// Samples kept: at the default heartbeat of 1 s, the last 8 seconds.
    package static let window = 8

    private var samples: [Int64] = []
    private var next = 0

    package init() {}

    /// Adds one heartbeat's offset (its stamp minus this node's clock, ms); returns the estimate.
    @discardableResult
    package mutating func add(_ sample: Int64) -> Int64 {
        if samples.count < Self.window {
            samples.append(sample)
        } else {
            samples[next] = sample
        }
        next = (next + 1) % Self.window
        return estimate!
    }

    /// The current estimate (nil before the first sample).
    package var estimate: Int64? { samples.max() }
}
