/// Escaping for text and attribute values: everything a user or a label can put on the page
/// goes through here (queue, worker and node names, marker labels, error messages).
package enum HTML {
    package static func escape(_ s: String) -> String {
        var needs = false
        for b in s.utf8 where b == UInt8(ascii: "&") || b == UInt8(ascii: "<") || b == UInt8(ascii: ">") || b == UInt8(ascii: "\"")
            || b == UInt8(ascii: "'")
        {
            needs = true
            break
        }
        guard needs else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 16)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

/// The Okabe–Ito palette, which readers with the common colour-vision deficiencies tell apart,
/// as CSS classes `c0`…`c7` (the stylesheet gives each its colour, and a lighter black in dark
/// mode); `cx` is the grey of "other". Job states keep one colour everywhere on the page.
package enum Palette {
    /// Blue, orange, bluish green, vermillion, sky blue, reddish purple, yellow, black.
    package static let colours = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"]
    /// Most groups a chart draws on its own; the rest are summed as "other" (or left out).
    package static let maxGroups = 7

    package static let stateSlots: [String: Int] = [
        "completed": 2, "retryable": 1, "discarded": 3, "cancelled": 5, "scheduled": 4, "snoozed": 4, "available": 0, "executing": 6, "suspended": 7,
    ]

    /// The colour class of each series: states by their fixed colour, quantiles by theirs,
    /// other groups in palette order, "other" grey.
    package static func classes(_ labels: [String], groupedBy: String) -> [String] {
        var next = 0
        return labels.map { label in
            if label == "other" { return "cx" }
            if groupedBy == "state", let slot = stateSlots[label] { return "c\(slot)" }
            if groupedBy == "quantile" {
                switch label {
                case "p50": return "c0"
                case "p95": return "c1"
                case "p99": return "c3"
                case "max": return "c7"
                default: break
                }
            }
            defer { next += 1 }
            return "c\(next % colours.count)"
        }
    }

    /// Dash patterns of lines, by series order, so that lines differ by more than colour.
    package static let dashes = ["", "7 4", "2 3", "10 3 2 3", "4 2", "1 2"]

    package static func dash(_ index: Int) -> String { dashes[index % dashes.count] }
}
