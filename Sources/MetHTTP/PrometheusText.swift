import Foundation

/// The Prometheus text exposition format, version 0.0.4 (docs/metrics.md): one `# HELP` and
/// `# TYPE` line per family, then its samples, every sample of a family together. Names are
/// sanitised to `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names to `[a-zA-Z_][a-zA-Z0-9_]*`, label
/// values escaped (backslash, double quote, newline).
struct PrometheusText {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    enum Kind: String { case counter, gauge, summary }

    private(set) var text = ""
    private var declared: Set<String> = []

    /// Starts a family; a family already written is not declared twice (its samples would be split).
    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        let name = Self.metricName(name)
        precondition(!declared.contains(name), "family \(name) written twice")
        declared.insert(name)
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        text += Self.metricName(name)
        if !labels.isEmpty {
            text += "{" + labels.map { "\(Self.labelName($0.0))=\"\(Self.escapeValue($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + Self.format(value) + "\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Int) { sample(name, labels, Double(value)) }

    /// A family with one sample and no labels.
    mutating func single(_ name: String, _ kind: Kind, _ help: String, _ value: Double) {
        family(name, kind, help)
        sample(name, [], value)
    }

    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    static func metricName(_ s: String) -> String { sanitise(s, colon: true) }
    static func labelName(_ s: String) -> String { sanitise(s, colon: false) }

    private static func sanitise(_ s: String, colon: Bool) -> String {
        var out = ""
        for (i, c) in s.unicodeScalars.enumerated() {
            let ok = (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || (colon && c == ":") || (i > 0 && c >= "0" && c <= "9")
            out.unicodeScalars.append(ok ? c : "_")
        }
        return out.isEmpty ? "_" : out
    }

    static func escapeValue(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func escapeHelp(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}
