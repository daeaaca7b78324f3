import MetStore

/// `latest` of `full_count`, answered live from the keyframe and the deltas since (rather than
/// from stored levels, whose last value of a leader that died would linger within the lookback).
package enum FullCountQuery {
    /// Sums `counts` by the selection's group (`queue` or `state`; every job state is present
    /// when grouping by state) after its filters. Without a group everything is under `"all"`.
    package static func latest(_ counts: [JobGroup: Int64], _ sel: Selection) throws(QueryError) -> [String: Double] {
        for f in sel.filters where f.label != "queue" && f.label != "state" {
            throw .invalidParameter("full_count has the labels queue and state, not \(f.label)")
        }
        if let g = sel.group, g != "queue", g != "state" {
            throw .invalidParameter("full_count can be grouped by queue or state, not \(g)")
        }
        var out: [String: Double] = [:]
        if sel.group == "state" { for s in JobState.allCases { out[s.rawValue] = 0 } }
        if sel.group == nil { out["all"] = 0 }
        for (group, n) in counts {
            let keep = sel.filters.allSatisfy { f in f.values.contains(f.label == "queue" ? group.queue : group.state) }
            guard keep else { continue }
            let key = switch sel.group {
            case "queue": group.queue
            case "state": group.state
            default: "all"
            }
            out[key, default: 0] += Double(n)
        }
        return out
    }
}
