import MetStore

/// `latest` of `full_count`, answered live from the keyframe and the deltas since (rather than
/// from stored levels, whose last value of a leader that died would linger within the lookback).
package enum FullCountQuery {
    /// Sums `counts` by the selection's group (`queue` or `state`; every job state is present
    /// when grouping by state) after its filters. Without a group everything is under `"all"`.
    package static func latest(_ counts: [JobGroup: Int64], _ sel: Selection) throws(QueryError) -> [String: Double] {
        try validate(sel)
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

    /// Refuses labels `full_count` does not have.
    package static func validate(_ sel: Selection) throws(QueryError) {
        for f in sel.filters where f.label != "queue" && f.label != "state" {
            throw .invalidParameter("full_count has the labels queue and state, not \(f.label)")
        }
        if let g = sel.group, g != "queue", g != "state" {
            throw .invalidParameter("full_count can be grouped by queue or state, not \(g)")
        }
    }

    /// The answer while there is no keyframe: every group it would list, null (never 0).
    package static func unavailable(_ sel: Selection) -> [String: Double?] {
        switch sel.group {
        case "state":
            let states = sel.filters.first { $0.label == "state" }?.values
            return Dictionary(uniqueKeysWithValues: JobState.allCases.map(\.rawValue).filter { states?.contains($0) ?? true }.map { ($0, nil) })
        case "queue":
            return Dictionary(uniqueKeysWithValues: (sel.filters.first { $0.label == "queue" }?.values ?? []).map { ($0, nil) })
        default:
            return ["all": nil]
        }
    }
}
