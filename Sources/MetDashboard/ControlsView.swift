/// The controls as a plain `GET` form, so that every view is a URL and the form works
/// without script (the page's script only submits it on change).
package enum ControlsView {
    /// Most values a filter lists.
    package static let maxChoices = 200

    package static func render(_ c: DashboardControls, choices: FilterChoices) -> String {
        var out = "<form class=\"controls\" method=\"get\" action=\"/\" id=\"controls\">"
        out += "<fieldset class=\"seg\"><legend>Range</legend>"
        for r in DashboardControls.Range.allCases {
            out += "<label><input type=\"radio\" name=\"range\" value=\"\(r.rawValue)\"\(r == c.range ? " checked" : "")><span>\(r.title)</span></label>"
        }
        out += "</fieldset>"
        out += "<label class=\"sel\">Group by <select name=\"group\">"
        for g in DashboardControls.groupLabels {
            out += "<option value=\"\(g)\"\(g == c.group ? " selected" : "")>\(g)</option>"
        }
        out += "</select></label>"
        out += "<label class=\"sel\">Operation <select name=\"op\"><option value=\"\"\(c.op == nil ? " selected" : "")>auto (sum; p50, p95, p99)</option>"
        for o in DashboardControls.Operation.allCases {
            out += "<option value=\"\(o.rawValue)\"\(o == c.op ? " selected" : "")>\(o.rawValue)</option>"
        }
        out += "</select></label>"
        for label in DashboardControls.filterLabels {
            let selected = c.filters[label] ?? []
            var values = choices[label]
            for v in selected where !values.contains(v) { values.append(v) }
            let summary = selected.isEmpty ? "all" : selected.count == 1 ? selected[0] : "\(selected.count) selected"
            out += "<details class=\"filter\"><summary>\(label): <b>\(HTML.escape(summary))</b></summary><div class=\"opts\">"
            if values.isEmpty { out += "<span class=\"none\">none seen in this range</span>" }
            // A label with thousands of values (a worker per tenant) would make the page huge:
            // the selected ones and the first others are listed, the rest can be put in the URL.
            let listed = selected + values.filter { !selected.contains($0) }.prefix(max(0, maxChoices - selected.count))
            for v in listed {
                out += "<label><input type=\"checkbox\" name=\"\(label)\" value=\"\(HTML.escape(v))\"\(selected.contains(v) ? " checked" : "")>\(HTML.escape(v))</label>"
            }
            if values.count > listed.count {
                out += "<span class=\"none\">\(values.count - listed.count) more: add ?\(label)=NAME to the URL</span>"
            }
            out += "</div></details>"
        }
        out += "<button type=\"submit\" class=\"apply\">Apply</button><a class=\"reset\" href=\"/\">Reset</a></form>"
        return out
    }
}
