/// A level sampled over time, such as the number of jobs executing now.
///
/// One gauge point summarises the samples of one origin in one time bucket: the last sample,
/// the largest, and their sum and number (for the average). Across time the samples combine
/// (``combine(later:)``: last of the later, max of both, sums added); across labels the levels
/// add up (queries sum each series' chosen statistic).
public struct Gauge: Sendable, Equatable, Hashable {
    public var last: Double
    public var max: Double
    public var sum: Double
    public var samples: UInt32

    /// A single sample.
    public init(_ value: Double) {
        last = value
        max = value
        sum = value
        samples = 1
    }

    public init(last: Double, max: Double, sum: Double, samples: UInt32) {
        self.last = last
        self.max = max
        self.sum = sum
        self.samples = samples
    }

    /// Mean of the samples.
    @inlinable public var average: Double { samples > 0 ? sum / Double(samples) : last }

    /// Folds in samples taken after these.
    public mutating func combine(later: Gauge) {
        last = later.last
        max = Swift.max(max, later.max)
        sum += later.sum
        let (n, overflow) = samples.addingReportingOverflow(later.samples)
        samples = overflow ? .max : n
    }

    public func encode(into w: inout ByteWriter) {
        w.writeDouble(last)
        if samples == 1 {
            w.writeVarint(1)
        } else {
            w.writeVarint(UInt64(samples))
            w.writeDouble(max)
            w.writeDouble(sum)
        }
    }

    public static func decode(from r: inout ByteReader) throws(DecodeError) -> Gauge {
        let last = try r.readDouble()
        guard last.isFinite else { throw .invalid("gauge value") }
        let n = try r.readVarint()
        guard n >= 1, n <= UInt64(UInt32.max) else { throw .invalid("gauge samples") }
        if n == 1 { return Gauge(last) }
        let max = try r.readDouble()
        let sum = try r.readDouble()
        guard max.isFinite, !sum.isNaN, max >= last else { throw .invalid("gauge summary") }
        return Gauge(last: last, max: max, sum: sum, samples: UInt32(n))
    }
}

/// Events per interval: adds up over time and across labels.
///
/// Additions saturate at the limits of `Int64` instead of trapping, so a corrupt or hostile
/// input can never crash a node.
public struct Count: Sendable, Equatable, Hashable {
    public var value: Int64

    public init(_ value: Int64 = 0) { self.value = value }

    @inlinable public mutating func add(_ n: Int64) {
        let (r, o) = value.addingReportingOverflow(n)
        value = o ? (n > 0 ? .max : .min) : r
    }

    public mutating func merge(_ other: Count) { add(other.value) }

    public func encode(into w: inout ByteWriter) { w.writeSignedVarint(value) }

    public static func decode(from r: inout ByteReader) throws(DecodeError) -> Count {
        Count(try r.readSignedVarint())
    }
}
