import MetValues

/// What the points of a series hold, which decides how they merge (DESIGN §3).
public enum SeriesKind: String, Sendable, Codable, CaseIterable {
    /// Events per interval: add up over time and labels.
    case count
    /// A level: last/max/average over time, summed across labels.
    case gauge
    /// A quantile sketch of observations (e.g. execution times in ns).
    case sketch
}

/// One value of a point, of the series' kind.
package enum PointValue: Sendable, Equatable {
    case count(Int64)
    case gauge(Gauge)
    case sketch(Sketch)

    package var kind: SeriesKind {
        switch self {
        case .count: .count
        case .gauge: .gauge
        case .sketch: .sketch
        }
    }
}

/// The job states of `oban_jobs`, in the order grouped results list them (DESIGN §4).
public enum JobState: String, Sendable, CaseIterable, Codable {
    case available, scheduled, executing, retryable, completed, discarded, cancelled, suspended
}

/// The series every node knows from the start (DESIGN §4). Others are registered on first use.
package enum StandardSeries {
    package static let all: [(name: String, kind: SeriesKind)] = [
        ("exec_time", .sketch), ("wait_time", .sketch), ("exec_count", .count), ("executing", .gauge), ("full_count", .gauge),
        ("inserted", .count), ("fetched", .count), ("staged", .count), ("pruned", .count), ("rescued", .count),
        ("transitions", .count),
    ]
}
