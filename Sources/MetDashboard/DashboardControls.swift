/// What the dashboard shows, read from and written to the page's URL so a view can be
/// bookmarked and shared: `?range=2h&group=queue&queue=default&queue=mailers&state=completed&op=p99`.
package struct DashboardControls: Sendable, Equatable {
    /// How far back the charts go.
    package enum Range: String, Sendable, CaseIterable {
        case fiveMinutes = "5m", thirtyMinutes = "30m", twoHours = "2h", retention = "all"

        /// Seconds, `retention` being the store's whole retention.
        package func seconds(retention: Int) -> Int {
            switch self {
            case .fiveMinutes: 300
            case .thirtyMinutes: 1800
            case .twoHours: 7200
            case .retention: retention
            }
        }

        package var title: String {
            switch self {
            case .fiveMinutes: "5 min"
            case .thirtyMinutes: "30 min"
            case .twoHours: "2 h"
            case .retention: "Whole retention"
            }
        }
    }

    /// The statistic of the charts. `nil` (auto): counts summed, times as p50, p95 and p99 lines.
    package enum Operation: String, Sendable, CaseIterable {
        case sum, max, p50, p95, p99
    }

    /// Labels the charts can be grouped by.
    package static let groupLabels = ["state", "queue", "worker", "node"]
    /// Labels that can be filtered on, in the order the form shows them.
    package static let filterLabels = ["queue", "worker", "node", "state"]

    package var range: Range
    package var group: String
    /// Values kept per label (a label absent or empty keeps everything).
    package var filters: [String: [String]]
    package var op: Operation?

    package init(range: Range = .thirtyMinutes, group: String = "state", filters: [String: [String]] = [:], op: Operation? = nil) {
        self.range = range
        self.group = group
        self.filters = filters.filter { !$0.value.isEmpty }
        self.op = op
    }

    /// Why a URL's controls were refused.
    package struct Invalid: Error, Equatable, CustomStringConvertible {
        package var description: String
    }

    /// Reads the controls from a URL's query parameters, in order. Unknown names are ignored
    /// (a bookmark from another version still opens); a known name with a bad value is refused.
    package init(query: [(name: String, value: String)]) throws(Invalid) {
        self.init()
        var filters: [String: [String]] = [:]
        for (name, value) in query where !value.isEmpty {
            switch name {
            case "range":
                guard let r = Range(rawValue: value) else {
                    throw Invalid(description: "range must be one of \(Range.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(value)\"")
                }
                range = r
            case "group":
                guard Self.groupLabels.contains(value) else {
                    throw Invalid(description: "group must be one of \(Self.groupLabels.joined(separator: ", ")), not \"\(value)\"")
                }
                group = value
            case "op":
                guard let o = Operation(rawValue: value) else {
                    throw Invalid(description: "op must be one of \(Operation.allCases.map(\.rawValue).joined(separator: ", ")) (or absent for auto), not \"\(value)\"")
                }
                op = o
            case _ where Self.filterLabels.contains(name):
                guard value.utf8.count <= 200 else { throw Invalid(description: "a \(name) filter value is longer than 200 bytes") }
                // `queue=a,b` works as well as `queue=a&queue=b`.
                for v in value.split(separator: ",") where !(filters[name]?.contains(String(v)) ?? false) {
                    filters[name, default: []].append(String(v))
                }
            default:
                continue
            }
        }
        self.filters = filters
    }

    /// The query string of these controls (without the `?`); defaults are left out.
    package var queryString: String {
        var items: [(String, String)] = []
        if range != .thirtyMinutes { items.append(("range", range.rawValue)) }
        if group != "state" { items.append(("group", group)) }
        for label in Self.filterLabels {
            for v in filters[label] ?? [] { items.append((label, v)) }
        }
        if let op { items.append(("op", op.rawValue)) }
        return items.map { "\(URLQuery.escape($0.0))=\(URLQuery.escape($0.1))" }.joined(separator: "&")
    }

    /// These controls with `range` changed (for links).
    package func with(range: Range) -> DashboardControls {
        var c = self
        c.range = range
        return c
    }

    /// The filters that apply to a series with `labels`: a filter on a label the series does not
    /// have is left out (and said in the chart's note).
    package func filters(for labels: Set<String>) -> (kept: [String: [String]], ignored: [String]) {
        var kept: [String: [String]] = [:]
        var ignored: [String] = []
        for label in Self.filterLabels {
            guard let values = filters[label], !values.isEmpty else { continue }
            if labels.contains(label) { kept[label] = values } else { ignored.append(label) }
        }
        return (kept, ignored)
    }
}

/// Percent-encoding of query parameters (RFC 3986 unreserved characters stay as they are), and
/// the decoding of a raw query string as an HTML form sends it (`+` is a space).
package enum URLQuery {
    /// `a=1&b=x+y&b=%C3%A9` → `[("a", "1"), ("b", "x y"), ("b", "é")]`, in order.
    package static func parse(_ query: String?) -> [(name: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&").compactMap { part in
            guard !part.isEmpty else { return nil }
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (decode(pieces[0]), pieces.count > 1 ? decode(pieces[1]) : "")
        }
    }

    /// Percent-decoding with `+` as a space; a malformed escape is kept as it is.
    package static func decode(_ s: Substring) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%"), it.count >= 2, let hi = hex(it[it.startIndex]), let lo = hex(it[it.startIndex + 1]) {
                bytes.append(hi << 4 | lo)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    package static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%"
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b & 15)]))
            }
        }
        return out
    }
}
