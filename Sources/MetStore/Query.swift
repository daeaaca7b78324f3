/// The query vocabulary of the store, behind the HTTP API of DESIGN §7.

/// Keep only series whose `label` is one of `values`. Several filters must all match.
public struct LabelFilter: Sendable, Equatable, Hashable {
    public var label: String
    public var values: [String]

    public init(_ label: String, _ values: [String]) {
        self.label = label
        self.values = values
    }

    /// Parses `label:v1,v2`.
    public init?(parsing text: Substring) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let label = String(text[..<colon])
        let values = text[text.index(after: colon)...].split(separator: ",").map(String.init)
        guard !label.isEmpty, !values.isEmpty else { return nil }
        self.init(label, values)
    }
}

/// How points combine within a time window.
///
/// - counts: `sum` (default) totals events; `max`/`avg` are over the stored buckets' totals
///   (labels summed first), i.e. the peak and mean events per bucket.
/// - gauges: per series `sum` (default) takes the last level, `max` the highest, `avg` the
///   mean; series are then added up.
/// - sketches: `pNN` (default p99 for timeslices) is a quantile of the merged sketch; `sum`,
///   `max`, `avg` and `count` are over the observations.
public enum QueryOp: Sendable, Equatable, Hashable, CustomStringConvertible {
    case sum, max, avg, count
    case quantile(Double)

    /// Parses `sum`, `max`, `avg`, `count` or `pNN` (`p50`, `p99`, `p99.9`).
    public init?(parsing text: String) {
        switch text {
        case "sum": self = .sum
        case "max": self = .max
        case "avg": self = .avg
        case "count": self = .count
        default:
            guard text.hasPrefix("p"), let n = Double(text.dropFirst()), n >= 0, n <= 100 else { return nil }
            self = .quantile(n / 100)
        }
    }

    public var description: String {
        switch self {
        case .sum: return "sum"
        case .max: return "max"
        case .avg: return "avg"
        case .count: return "count"
        case .quantile(let q):
            let pct = q * 100
            return pct == pct.rounded() ? "p\(Int(pct))" : "p\(pct)"
        }
    }
}

/// Why a query was refused.
public enum QueryError: Error, Equatable, CustomStringConvertible {
    case unknownSeries(String)
    case invalidOperation(op: String, kind: SeriesKind)
    case invalidParameter(String)
    /// The answer does not exist yet: `full_count` before this node has any keyframe (why, in words).
    case unavailable(String)

    public var description: String {
        switch self {
        case .unavailable(let why): why
        case .unknownSeries(let s): "unknown series '\(s)'"
        case .invalidOperation(let op, let kind): "operation '\(op)' does not apply to a \(kind.rawValue) series"
        case .invalidParameter(let p): p
        }
    }
}

/// Which points a query reads: one series, a time range, optional filters and grouping.
public struct Selection: Sendable, Equatable {
    public var series: String
    /// Seconds back from now (ignored when `since` is set).
    public var lookback: Int
    /// Absolute start, unix seconds.
    public var since: Int64?
    /// Absolute end, unix seconds (default: now): anchors a window so that charts drawn at
    /// different moments share their columns.
    public var until: Int64?
    /// Label to group by; `nil` puts everything under `"all"`.
    public var group: String?
    public var filters: [LabelFilter]

    public init(series: String, lookback: Int = 300, since: Int64? = nil, until: Int64? = nil, group: String? = nil,
                filters: [LabelFilter] = []) {
        self.series = series
        self.lookback = lookback
        self.since = since
        self.until = until
        self.group = group
        self.filters = filters
    }
}

/// One value of a timeslice: window start (unix seconds), group label, value (`nil` for an
/// empty window filled with ``Fill/null``).
public struct SliceRow: Sendable, Equatable, Codable {
    public var ts: Int64
    public var label: String
    public var value: Double?

    public init(ts: Int64, label: String, value: Double?) {
        self.ts = ts
        self.label = label
        self.value = value
    }

    enum CodingKeys: String, CodingKey { case ts, label, value }

    /// `value` is always present: a number, or `null` for a window filled with null.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ts, forKey: .ts)
        try c.encode(label, forKey: .label)
        try c.encode(value, forKey: .value)
    }
}

/// How a timeslice fills the windows where a group has no point, so that every group has the
/// same columns: `zero` (counts, gauges) or `null` (sketches: no observation is not 0 ns).
public enum Fill: String, Sendable, Equatable, CaseIterable {
    case zero, null
}

/// Distribution statistics of a sketch series in one window.
public struct SummaryRow: Sendable, Equatable, Codable {
    public var ts: Int64
    public var label: String
    public var count: UInt64
    public var sum: Double
    public var min: Double
    public var max: Double
    public var p50: Double
    public var p95: Double
    public var p99: Double
}

/// A series the store holds: its name, its kind and the label keys it has been seen with.
public struct SeriesDescription: Sendable, Equatable, Codable {
    public var series: String
    public var kind: SeriesKind
    public var labels: [String]

    public init(series: String, kind: SeriesKind, labels: [String]) {
        self.series = series
        self.kind = kind
        self.labels = labels
    }
}
