import MetStore

/// How a job execution ended, and the job state it leaves behind (DESIGN §4).
public enum JobOutcome: Int, Sendable, CaseIterable {
    case completed = 0, retryable, discarded, cancelled
    /// Snoozed: the job goes back to `scheduled`.
    case snoozed

    /// Number of outcomes (a constant, cheaper on the hot path than `allCases.count`).
    public static let count = 5

    /// The `state` label of the execution's `exec_time` / `wait_time` points.
    public var state: JobState {
        switch self {
        case .completed: .completed
        case .retryable: .retryable
        case .discarded: .discarded
        case .cancelled: .cancelled
        case .snoozed: .scheduled
        }
    }
}

/// Engine operations recorded as counts (DESIGN §4).
public enum EngineOperation: String, Sendable, CaseIterable {
    case inserted, fetched, staged, pruned, rescued
}
