/// Text of numbers, times, durations and sizes as the page shows them. No Foundation: fixed
/// decimals are computed here, and a non-finite number never reaches the page.
package enum Format {
    /// `v` with at most `decimals` decimals, trailing zeros dropped ("12.5", "100", "-0.25").
    /// Non-finite values give "0"; magnitudes of 1e15 and more use Swift's shortest form.
    package static func fixed(_ v: Double, _ decimals: Int) -> String {
        guard v.isFinite else { return "0" }
        var scale: Int64 = 1
        for _ in 0..<max(0, decimals) { scale *= 10 }
        let scaled = (abs(v) * Double(scale)).rounded()
        if abs(v) >= 1e15 || scaled >= 9e18 { return "\(v)" }
        let total = Int64(scaled)
        if total == 0 { return "0" }
        let (whole, frac) = (total / scale, total % scale)
        var text = (v < 0 ? "-" : "") + String(whole)
        if frac > 0 {
            var digits = String(frac)
            digits = String(repeating: "0", count: max(0, decimals - digits.count)) + digits
            while digits.last == "0" { digits.removeLast() }
            text += "." + digits
        }
        return text
    }

    /// An SVG coordinate: two decimals at most.
    package static func coord(_ v: Double) -> String { fixed(v, 2) }

    /// An integer with thousands separated by commas ("1,234,567").
    package static func integer(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        if abs(v) >= 1e15 { return "\(v)" }
        let n = Int64(v.rounded())
        let digits = Array(String(abs(n)))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out += "," }
            out.append(d)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// A count in a tick label: "950", "1.5k", "12k", "3.2M".
    package static func compact(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1e9 { return fixed(v / 1e9, a >= 1e10 ? 0 : 1) + "G" }
        if a >= 1e6 { return fixed(v / 1e6, a >= 1e7 ? 0 : 1) + "M" }
        if a >= 1e4 { return fixed(v / 1e3, a >= 1e5 ? 0 : 1) + "k" }
        return fixed(v, 2)
    }

    /// A value of `unit` with its unit, for titles and tables: counts exact, durations with
    /// four significant digits in their own best unit.
    package static func value(_ v: Double, _ unit: ValueUnit) -> String {
        switch unit {
        case .jobs: integer(v)
        case .nanoseconds: duration(v)
        }
    }

    /// A duration in nanoseconds in the unit that suits it, four significant digits.
    package static func duration(_ ns: Double) -> String {
        let unit = DurationUnit.suiting(ns)
        let x = ns / unit.nanoseconds
        let decimals = abs(x) >= 1000 ? 0 : abs(x) >= 100 ? 1 : abs(x) >= 10 ? 2 : 3
        return fixed(x, decimals) + " " + unit.symbol
    }

    /// A civil date and time of unix seconds, in UTC.
    package static func civil(_ ts: Int64) -> (year: Int64, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let days = ts >= 0 ? ts / 86400 : (ts - 86399) / 86400
        let secs = Int(ts - days * 86400)
        // Howard Hinnant's days-to-civil.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
    }

    private static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// "14:05" (seconds too when `seconds`), UTC.
    package static func clock(_ ts: Int64, seconds: Bool = true) -> String {
        let c = civil(ts)
        return two(c.hour) + ":" + two(c.minute) + (seconds ? ":" + two(c.second) : "")
    }

    /// "2026-12-05 14:05:09 UTC".
    package static func timestamp(_ ts: Int64) -> String {
        let c = civil(ts)
        return "\(c.year)-\(two(c.month))-\(two(c.day)) \(clock(ts)) UTC"
    }

    /// An age or a span of seconds: "4 s", "12 min", "2 h 05 min".
    package static func age(_ seconds: Int64) -> String {
        let s = max(0, seconds)
        if s < 120 { return "\(s) s" }
        if s < 7200 { return "\(s / 60) min" }
        return "\(s / 3600) h \(two(Int(s % 3600 / 60))) min"
    }

    /// Bytes in binary units: "812 B", "4.2 KiB", "18.6 MiB".
    package static func bytes(_ n: Int) -> String {
        let v = Double(n)
        if n >= 1 << 30 { return fixed(v / Double(1 << 30), 1) + " GiB" }
        if n >= 1 << 20 { return fixed(v / Double(1 << 20), 1) + " MiB" }
        if n >= 1 << 10 { return fixed(v / Double(1 << 10), 1) + " KiB" }
        return "\(n) B"
    }
}

/// The unit durations are shown in.
package enum DurationUnit: Sendable, Equatable {
    case microseconds, milliseconds, seconds

    package var nanoseconds: Double {
        switch self {
        case .microseconds: 1e3
        case .milliseconds: 1e6
        case .seconds: 1e9
        }
    }

    package var symbol: String {
        switch self {
        case .microseconds: "µs"
        case .milliseconds: "ms"
        case .seconds: "s"
        }
    }

    /// µs below a millisecond, ms below a second, s from there.
    package static func suiting(_ ns: Double) -> DurationUnit {
        let a = abs(ns)
        if !(a >= 1e6) { return .microseconds }
        if a < 1e9 { return .milliseconds }
        return .seconds
    }
}
