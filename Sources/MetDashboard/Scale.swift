#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The axes of the charts: a linear value axis from 0 with "nice" ticks, a log axis for
/// durations, and time ticks on round minutes and hours.
package struct LinearScale: Sendable, Equatable {
    /// The top of the axis (a multiple of `step`, at least the largest value).
    package var top: Double
    package var step: Double
    package var ticks: [Double]

    /// An axis from 0 to at least `maximum`, with about `count` ticks on 1, 2, 2.5 or 5 × 10ⁿ
    /// (1, 2 or 5 when `integers`). An empty, zero or non-finite maximum gives 0…1.
    package init(maximum: Double, count: Int = 4, integers: Bool = false) {
        guard maximum.isFinite, maximum > 0 else {
            top = 1
            step = integers ? 1 : 0.25
            ticks = integers ? [0, 1] : [0, 0.25, 0.5, 0.75, 1]
            return
        }
        let raw = maximum / Double(max(1, count))
        var magnitude = 1.0
        while magnitude * 10 <= raw, magnitude < 1e300 { magnitude *= 10 }
        while magnitude > raw, magnitude > 1e-300 { magnitude /= 10 }
        let residual = raw / magnitude
        let factors: [Double] = integers ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10]
        var s = magnitude * (factors.first { residual <= $0 } ?? 10)
        if integers { s = max(1, s.rounded(.up)) }
        var t = (maximum / s).rounded(.up) * s
        if !t.isFinite || t < maximum { t = maximum }  // beyond 1e308 the next tick would overflow
        step = s
        top = t
        var ticks: [Double] = []
        var k = 0.0
        while k * s <= t * (1 + 1e-9), ticks.count < 50 {
            ticks.append(k * s)
            k += 1
        }
        self.ticks = ticks
    }

    /// The y coordinate of `value` in a plot `height` tall (0 at the bottom), clamped to the plot.
    package func y(_ value: Double, height: Double) -> Double {
        guard value.isFinite, top > 0 else { return height }
        return height - min(max(value / top, 0), 1) * height
    }
}

/// A log₁₀ axis for positive values (the histogram's durations).
package struct LogScale: Sendable, Equatable {
    package var lower: Double
    package var upper: Double

    /// An axis covering `[lower, upper]`, widened to whole decades; degenerate input gives 1…10.
    package init(lower: Double, upper: Double) {
        var lo = lower.isFinite && lower > 0 ? lower : 1
        var hi = upper.isFinite && upper > lo ? upper : lo * 10
        lo = Self.pow10(Self.log10(lo).rounded(.down))
        hi = Self.pow10(Self.log10(hi).rounded(.up))
        if hi <= lo { hi = lo * 10 }
        self.lower = lo
        self.upper = hi.isFinite ? hi : Double.greatestFiniteMagnitude
    }

    /// The position of `value` from 0 (lower) to 1 (upper), clamped.
    package func position(_ value: Double) -> Double {
        guard value.isFinite, value > 0 else { return 0 }
        let span = Self.log10(upper) - Self.log10(lower)
        guard span > 0 else { return 0 }
        return min(max((Self.log10(value) - Self.log10(lower)) / span, 0), 1)
    }

    /// Decades (1, 10, 100 …) within the axis, about eight at most (every second, fifth …
    /// decade over a wide axis); with one or two decades also 2 and 5 times them.
    package var ticks: [Double] {
        var out: [Double] = []
        let decades = Int((Self.log10(upper) - Self.log10(lower)).rounded())
        let every = max(1, (decades + 7) / 8)
        var k = 0
        while k <= decades {
            let d = Self.pow10(Self.log10(lower).rounded() + Double(k))
            out.append(d)
            if decades <= 2 {
                for f in [2.0, 5.0] where d * f < upper { out.append(d * f) }
            }
            k += every
        }
        return out
    }

    static func log10(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return 0 }
        return Math.log10(x)
    }

    static func pow10(_ n: Double) -> Double { Math.pow10(n) }
}

/// Ticks of the time axis: round seconds, minutes or hours, about six across.
package enum TimeTicks {
    static let steps: [Int64] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]

    /// Tick times inside `[first, end)` and whether labels need seconds.
    package static func ticks(first: Int64, end: Int64, most: Int = 6) -> (times: [Int64], seconds: Bool) {
        let span = max(1, end - first)
        let step = steps.first { span / $0 <= Int64(most) } ?? 86400
        var t = (first + step - 1) / step * step
        if first < 0 { t = first }
        var out: [Int64] = []
        while t < end, out.count < 50 {
            out.append(t)
            t += step
        }
        return (out, step < 60)
    }
}

/// The C library's logarithm and power, named apart from the scales' own functions.
enum Math {
    static func log10(_ x: Double) -> Double {
        #if canImport(Glibc)
        Glibc.log10(x)
        #else
        Darwin.log10(x)
        #endif
    }

    static func pow10(_ x: Double) -> Double { pow(10, x) }
}
