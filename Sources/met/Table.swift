import Foundation

/// Plain-text tables of the API's answers, for `met query`.
enum Table {
    static func render(kind: String, json: Any) -> String {
        switch kind {
        case "latest":
            let dict = json as? [String: Any] ?? [:]
            return format(["label", "value"], dict.keys.sorted().map { [$0, text(dict[$0])] })
        case "timeslice":
            return rows(json, ["ts", "label", "value"])
        case "summary":
            return rows(json, ["ts", "label", "count", "sum", "min", "max", "p50", "p95", "p99"])
        case "series":
            let list = json as? [[String: Any]] ?? []
            return format(["series", "kind", "labels"], list.map { [text($0["series"]), text($0["kind"]), ($0["labels"] as? [String] ?? []).joined(separator: ",")] })
        case "labels":
            return ((json as? [String]) ?? []).joined(separator: "\n")
        case "checks":
            let list = json as? [[String: Any]] ?? []
            return format(["node", "queue", "limit", "paused", "running"], list.map {
                [text($0["node"]), text($0["queue"]), text($0["limit"]), text($0["paused"]), ($0["running"] as? [Any] ?? []).map(text).joined(separator: ",")]
            })
        case "cluster":
            let dict = json as? [String: Any] ?? [:]
            let members = dict["members"] as? [[String: Any]] ?? []
            let store = dict["store"] as? [String: Any] ?? [:]
            let lag = dict["loopLag"] as? [String: Any]
            let head = "cluster \(text(dict["cluster"])), node \(text(dict["node"])) at \(text(dict["address"])), ready \(text(dict["ready"]))"
                + "; store \(text(store["rows"])) rows in \(text(store["timelines"])) timelines of \(text(store["origins"])) origins"
                + "; loop lag over the last minute: max \(text(lag?["maxMs"])) ms, p99 \(text(lag?["p99Ms"])) ms"
            return head + "\n" + format(["member", "incarnation", "address", "status", "connected", "connection age s", "seq", "last batch age s", "lag s", "clock offset ms", "queued bytes"], members.map {
                [text($0["name"]), text($0["incarnation"]), text($0["address"]), text($0["status"]), text($0["connected"]), text($0["connectionAgeSeconds"]),
                 text($0["seq"]), text($0["lastBatchAge"]), text($0["lagSeconds"]), text($0["clockOffsetMs"]), text($0["queuedBytes"])]
            })
        default:
            return String(describing: json)
        }
    }

    static func rows(_ json: Any, _ columns: [String]) -> String {
        let list = json as? [[String: Any]] ?? []
        return format(columns, list.map { row in columns.map { text(row[$0]) } })
    }

    static func text(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return "-"
        case let n as NSNumber:
            // A JSON true/false comes back as an NSNumber of type "c".
            if String(cString: n.objCType) == "c" { return n.boolValue ? "yes" : "no" }
            let d = n.doubleValue
            return d == d.rounded() && abs(d) < 9e18 ? String(n.int64Value) : String(format: "%.3f", d)
        case let s as String: return s
        default: return String(describing: value!)
        }
    }

    static func format(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
