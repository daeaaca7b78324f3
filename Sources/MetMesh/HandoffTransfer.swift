import MetWire

/// The sending side of one handoff transfer as a pure state machine (RELIABILITY H4): which
/// index to send next within the in-flight window, what an acknowledgement changes, and where
/// to resume after the connection dropped. Indices `0..<count` are store chunks; index `count`
/// is the end (the watermarks), so the transfer is done when `count + 1` are acknowledged.
package struct HandoffTransfer: Sendable, Equatable {
    /// Random per transfer: acknowledgements of another transfer are never taken for this one's.
    package let id: UInt64
    /// The successor's name and incarnation.
    package let successor: String
    package let incarnation: UInt64
    /// Store chunks (the end frame not included).
    package let count: Int
    /// Most indices sent but not yet acknowledged.
    package let window: Int
    /// Indices acknowledged, from the start: the successor merged `0..<acknowledged`.
    package private(set) var acknowledged = 0
    /// The next index to send.
    package private(set) var next = 0
    /// Indices sent again after a dropped connection (the cost of resuming; ≤ one window each time).
    package private(set) var resent = 0
    private var highestSent = -1

    package init(id: UInt64, successor: String, incarnation: UInt64, count: Int, window: Int = 4) {
        self.id = id
        self.successor = successor
        self.incarnation = incarnation
        self.count = count
        self.window = max(1, window)
    }

    /// Chunks and end together.
    package var total: Int { count + 1 }
    package var isDone: Bool { acknowledged == total }
    /// Sent and not yet acknowledged.
    package var inFlight: Int { next - acknowledged }

    /// The next index to send, if the window allows; it counts as sent.
    package mutating func takeNext() -> Int? {
        guard next < total, inFlight < window else { return nil }
        let index = next
        if index <= highestSent { resent += 1 }
        highestSent = max(highestSent, index)
        next += 1
        return index
    }

    /// The successor merged `index`. On one connection frames arrive in order, so everything
    /// before it is merged too. Returns whether this was progress; an acknowledgement of an
    /// index not yet sent, or already acknowledged, changes nothing.
    @discardableResult
    package mutating func acknowledge(_ index: Int) -> Bool {
        guard index >= acknowledged, index < next else { return false }
        acknowledged = index + 1
        return true
    }

    /// The connection dropped: what was in flight may be lost, so the next connection starts at
    /// the first unacknowledged index.
    package mutating func resume() {
        next = acknowledged
    }

    /// Quarters of the transfer acknowledged so far (0...4), for progress lines.
    package var quarters: Int { acknowledged * 4 / total }

    /// The deterministic successor: among `candidates` (live, connected, not leaving), the first
    /// name after `me` in sorted order, wrapping around. In a rolling restart each node hands to
    /// its neighbour on the ring, so no single node receives every store.
    package static func successor(of me: String, among candidates: some Sequence<String>) -> String? {
        let sorted = candidates.filter { $0 != me }.sorted()
        return sorted.first { $0 > me } ?? sorted.first
    }
}
