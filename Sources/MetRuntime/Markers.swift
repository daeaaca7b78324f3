import MetRecorder
import MetStore

/// Markers: labelled moments (a deploy, an incident) that every time chart draws. A marker is
/// the recording node's own data, a count of 1 in the series `markers` with the labels `node`,
/// `label` and `at` (the unix second it marks), so it travels with the node's next batch,
/// replicates, survives handoff and compaction like any point, and is gone when its point
/// leaves the retention. The second is a label because a batch puts all its points in the
/// second it was taken: compaction coarsens the point's bucket (to 5, 30, 60 s) but never
/// the marker's time.
package enum Markers {
    package static let series = "markers"
    /// Longest label, in UTF-8 bytes.
    package static let maxLabelBytes = 200
    /// How far ahead of this node's clock a marker may be.
    package static let maxAheadSeconds: Int64 = 60

    /// Checks a marker and returns its second (`at`, or `now` when nil).
    package static func validate(label: String, at: Int64?, now: Int64, retention: Int) throws(MarkerError) -> Int64 {
        guard !label.allSatisfy(\.isWhitespace) else { throw .invalid("label must not be empty") }
        guard label.utf8.count <= maxLabelBytes else {
            throw .invalid("label is \(label.utf8.count) bytes; at most \(maxLabelBytes) are allowed")
        }
        guard !label.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalid("label must not contain control characters (newlines, tabs)")
        }
        let ts = at ?? now
        guard ts <= now + maxAheadSeconds else {
            throw .invalid("at (\(ts)) is \(ts - now) s in the future; at most \(maxAheadSeconds) s ahead is allowed")
        }
        guard ts > now - Int64(retention) else {
            throw .invalid("at (\(ts)) is \(now - ts) s ago, beyond the retention of \(retention) s")
        }
        return ts
    }

    /// Records a marker as `recorder`'s node's own; it goes out with the next batch.
    @discardableResult
    package static func record(label: String, at: Int64?, into recorder: NodeRecorder, now: Int64, retention: Int) throws(MarkerError) -> MarkerRecord {
        let ts = try validate(label: label, at: at, now: now, retention: retention)
        let node = recorder.origin.node
        recorder.counter(series, labels: LabelSet([("node", node), ("label", label), ("at", String(ts))])).add(1)
        return MarkerRecord(ts: ts, label: label, node: node)
    }

    /// The markers this replica holds whose second is at or after `since`, by time then node.
    package static func list(_ collector: Collector, since: Int64) -> [MarkerRecord] {
        let sets = collector.withStore { $0.labelSets(of: series) }
        var seen = Set<MarkerRecord>()
        for s in sets {
            guard s.total > 0, let label = s.labels["label"], let at = s.labels["at"].flatMap({ Int64($0) }), at >= since else { continue }
            seen.insert(MarkerRecord(ts: at, label: label, node: s.labels["node"] ?? s.origin.node))
        }
        return seen.sorted { ($0.ts, $0.node, $0.label) < ($1.ts, $1.node, $1.label) }
    }
}

/// A marker as `GET /api/markers` lists it: the second it marks, its label, the node that recorded it.
public struct MarkerRecord: Sendable, Codable, Hashable {
    public var ts: Int64
    public var label: String
    public var node: String

    public init(ts: Int64, label: String, node: String) {
        self.ts = ts
        self.label = label
        self.node = node
    }
}

/// Why a marker was refused.
public enum MarkerError: Error, Equatable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let why): why
        }
    }
}
