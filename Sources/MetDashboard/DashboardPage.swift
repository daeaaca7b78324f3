/// The data of one dashboard page, already queried: what the renderer draws and nothing more.
/// The HTTP layer fills it from a node's replica (`MetHTTP.DashboardSource`); tests and
/// benchmarks fill it by hand. Values are plain numbers: counts, or durations in nanoseconds.
package struct DashboardPage: Sendable, Equatable {
    package var cluster: String
    package var node: String
    /// Unix seconds the page was computed at.
    package var now: Int64
    package var controls: DashboardControls
    /// The values each filter can take (label values seen in the range, plus those selected).
    package var choices: FilterChoices
    /// The columns every time chart shares.
    package var axis: TimeAxis
    /// Seconds between live refreshes (the broadcast interval).
    package var refreshSeconds: Double
    /// Jobs executed per column, by the group-by label (counts).
    package var executed: TimeChart
    package var jobCounts: JobCounts
    package var execTime: TimeChart
    package var waitTime: TimeChart
    package var histogram: Histogram
    package var executing: Executing
    package var clusterPanel: ClusterPanel
    package var checks: [QueueCheckRow]
    package var markers: [Marker]

    package init(
        cluster: String, node: String, now: Int64, controls: DashboardControls = DashboardControls(), choices: FilterChoices = FilterChoices(),
        axis: TimeAxis, refreshSeconds: Double = 1, executed: TimeChart, jobCounts: JobCounts, execTime: TimeChart, waitTime: TimeChart,
        histogram: Histogram, executing: Executing, clusterPanel: ClusterPanel, checks: [QueueCheckRow] = [], markers: [Marker] = []
    ) {
        self.cluster = cluster
        self.node = node
        self.now = now
        self.controls = controls
        self.choices = choices
        self.axis = axis
        self.refreshSeconds = refreshSeconds
        self.executed = executed
        self.jobCounts = jobCounts
        self.execTime = execTime
        self.waitTime = waitTime
        self.histogram = histogram
        self.executing = executing
        self.clusterPanel = clusterPanel
        self.checks = checks
        self.markers = markers
    }
}

/// The columns of the time charts: `columns` buckets of `step` seconds from `first` (unix
/// seconds, aligned to the step), the last one holding `now`.
package struct TimeAxis: Sendable, Equatable {
    package var first: Int64
    package var step: Int
    package var columns: Int

    package init(first: Int64, step: Int, columns: Int) {
        self.first = first
        self.step = max(1, step)
        self.columns = max(1, columns)
    }

    /// The axis of `columns` buckets of `step` seconds ending with the one that holds `now`.
    package init(endingAt now: Int64, step: Int, columns: Int) {
        let s = Int64(max(1, step))
        let last = now >= 0 ? now / s * s : ((now - s + 1) / s) * s
        self.init(first: last - Int64(max(1, columns) - 1) * s, step: step, columns: columns)
    }

    /// The end of the last column (exclusive).
    package var end: Int64 { first + Int64(columns) * Int64(step) }
    package var span: Int64 { end - first }
    /// The start of column `i`.
    package func start(_ i: Int) -> Int64 { first + Int64(i) * Int64(step) }
    /// The column holding `ts`, if any.
    package func column(of ts: Int64) -> Int? {
        guard ts >= first, ts < end else { return nil }
        return Int((ts - first) / Int64(step))
    }
}

/// What a chart's numbers are.
package enum ValueUnit: Sendable, Equatable {
    /// Jobs (integers).
    case jobs
    /// Durations in nanoseconds, shown in µs, ms or s by their range.
    case nanoseconds
}

/// One series of a time chart: a value per column of the axis (nil: nothing in that column).
package struct Series: Sendable, Equatable {
    package var label: String
    package var values: [Double?]

    package init(label: String, values: [Double?]) {
        self.label = label
        self.values = values
    }

    /// The sum of its values (nil counted as 0, non-finite values ignored).
    package var total: Double { values.reduce(0) { $0 + (($1.map { $0.isFinite ? $0 : 0 }) ?? 0) } }
}

/// A chart over the time axis.
package struct TimeChart: Sendable, Equatable {
    package enum Style: Sendable, Equatable {
        /// Bars per column, the series stacked in their order (first at the bottom).
        case stacked
        /// A line per series; gaps where a value is nil.
        case lines
    }

    package var id: String
    package var title: String
    /// What one value means, under the title (e.g. "jobs per 30 s, by state").
    package var subtitle: String
    package var style: Style
    package var unit: ValueUnit
    /// The group-by label the series are named after ("state", "queue", ...; "quantile").
    package var groupedBy: String
    package var series: [Series]
    /// Groups left out (too many to draw): their count, told under the chart.
    package var hiddenGroups: Int
    /// Said under the chart (e.g. which filters do not apply); nil for nothing.
    package var note: String?
    /// Said in the chart when it has nothing to draw.
    package var emptyMessage: String

    package init(
        id: String, title: String, subtitle: String, style: Style, unit: ValueUnit, groupedBy: String, series: [Series],
        hiddenGroups: Int = 0, note: String? = nil, emptyMessage: String = "No data in this range"
    ) {
        self.id = id
        self.title = title
        self.subtitle = subtitle
        self.style = style
        self.unit = unit
        self.groupedBy = groupedBy
        self.series = series
        self.hiddenGroups = hiddenGroups
        self.note = note
        self.emptyMessage = emptyMessage
    }
}

/// `full_count`: the job counts by state as served now, and their history.
package struct JobCounts: Sendable, Equatable {
    /// Count per state now (every job state), nil when this node has no keyframe yet.
    package var live: [(state: String, count: Double)]?
    /// Why there is no live count (e.g. "no keyframe yet (no database configured)").
    package var unavailable: String?
    /// Seconds since the keyframe the live counts start from.
    package var keyframeAge: Int64?
    /// Groups of that keyframe counted from the planner's estimate rather than exactly.
    package var estimatedGroups: Int
    package var history: TimeChart

    package init(live: [(state: String, count: Double)]?, unavailable: String? = nil, keyframeAge: Int64? = nil, estimatedGroups: Int = 0,
                 history: TimeChart) {
        self.live = live
        self.unavailable = unavailable
        self.keyframeAge = keyframeAge
        self.estimatedGroups = estimatedGroups
        self.history = history
    }

    package static func == (a: JobCounts, b: JobCounts) -> Bool {
        a.live?.map(\.state) == b.live?.map(\.state) && a.live?.map(\.count) == b.live?.map(\.count)
            && a.unavailable == b.unavailable && a.keyframeAge == b.keyframeAge && a.estimatedGroups == b.estimatedGroups
            && a.history == b.history
    }
}

/// The distribution of execution times over the selection: the sketch's bins, gathered into
/// display bins of equal width on a log axis.
package struct Histogram: Sendable, Equatable {
    package struct Bin: Sendable, Equatable {
        /// Nanoseconds, lower inclusive, upper exclusive.
        package var lower: Double
        package var upper: Double
        package var count: UInt64

        package init(lower: Double, upper: Double, count: UInt64) {
            self.lower = lower
            self.upper = upper
            self.count = count
        }
    }

    package var bins: [Bin]
    /// Values recorded as 0 ns (not drawn on the log axis; told under the chart).
    package var zeros: UInt64
    package var count: UInt64
    package var p50: Double?
    package var p95: Double?
    package var p99: Double?
    package var max: Double?

    package init(bins: [Bin] = [], zeros: UInt64 = 0, count: UInt64 = 0, p50: Double? = nil, p95: Double? = nil, p99: Double? = nil,
                 max: Double? = nil) {
        self.bins = bins
        self.zeros = zeros
        self.count = count
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
        self.max = max
    }
}

/// Jobs executing now, by queue or node (the latest `executing` levels).
package struct Executing: Sendable, Equatable {
    package var groupedBy: String
    package var rows: [(label: String, value: Double)]

    package init(groupedBy: String, rows: [(label: String, value: Double)]) {
        self.groupedBy = groupedBy
        self.rows = rows
    }

    package static func == (a: Executing, b: Executing) -> Bool {
        a.groupedBy == b.groupedBy && a.rows.map(\.label) == b.rows.map(\.label) && a.rows.map(\.value) == b.rows.map(\.value)
    }
}

/// A labelled moment (a deploy, an incident), drawn on every time chart.
package struct Marker: Sendable, Equatable {
    /// Unix seconds.
    package var ts: Int64
    package var label: String
    /// The nodes that recorded it (the same label at the same second on several nodes is one marker).
    package var nodes: [String]

    package init(ts: Int64, label: String, nodes: [String]) {
        self.ts = ts
        self.label = label
        self.nodes = nodes
    }
}

/// One queue of one node, from its latest queue check.
package struct QueueCheckRow: Sendable, Equatable {
    package var node: String
    package var queue: String
    package var limit: Int
    package var paused: Bool
    package var running: Int
    /// Seconds since the check was taken.
    package var age: Int64

    package init(node: String, queue: String, limit: Int, paused: Bool, running: Int, age: Int64) {
        self.node = node
        self.queue = queue
        self.limit = limit
        self.paused = paused
        self.running = running
        self.age = age
    }
}
