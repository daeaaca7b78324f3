/// What one node reported about one of its queues: its limit, whether it is paused, and the
/// ids of the jobs it is running. Replicated with the node's batches, kept 30 s by default.
public struct QueueCheck: Sendable, Equatable, Codable {
    public var node: String
    public var queue: String
    public var limit: Int
    public var paused: Bool
    public var running: [Int64]
    /// Unix seconds at the node when it was taken.
    public var timestamp: Int64
    /// The uuid of the queue's producer (Oban's), when the worker gave one.
    public var uuid: String?
    /// Unix seconds when the producer started, when the worker gave it.
    public var startedAt: Int64?

    public init(node: String, queue: String, limit: Int, paused: Bool, running: [Int64], timestamp: Int64,
                uuid: String? = nil, startedAt: Int64? = nil) {
        self.node = node
        self.queue = queue
        self.limit = limit
        self.paused = paused
        self.running = running
        self.timestamp = timestamp
        self.uuid = uuid
        self.startedAt = startedAt
    }
}

extension SeriesStore {
    /// The latest check of every (node, queue) no older than `retention` seconds, by node then queue.
    package func queueChecks(now: Int64, retention: Int = 30) -> [QueueCheck] {
        checks.values.filter { $0.timestamp >= now - Int64(retention) }
            .sorted { ($0.node, $0.queue) < ($1.node, $1.queue) }
    }

    func record(_ check: QueueCheck) {
        let key = "\(check.node)\u{1}\(check.queue)"
        if let old = checks[key], old.timestamp > check.timestamp { return }
        checks[key] = check
    }
}
