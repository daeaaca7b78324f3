// Gauge (last/max/sum/samples across time) and Count (saturating sums).
import PropertyBased
import Testing
@testable import MetValues

@Suite("Gauge and Count")
struct GaugeCountTests {
    static func encoded(_ g: Gauge) -> [UInt8] {
        var w = ByteWriter()
        g.encode(into: &w)
        return w.bytes
    }

    static func decodeGauge(_ bytes: [UInt8]) throws(DecodeError) -> Gauge {
        var result: Result<Gauge, DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> Gauge in
                let g = try Gauge.decode(from: &r)
                try r.expectEnd()
                return g
            }
        }
        return try result.get()
    }

    static func encoded(_ c: Count) -> [UInt8] {
        var w = ByteWriter()
        c.encode(into: &w)
        return w.bytes
    }

    static func decodeCount(_ bytes: [UInt8]) throws(DecodeError) -> Count {
        var result: Result<Count, DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> Count in
                let c = try Count.decode(from: &r)
                try r.expectEnd()
                return c
            }
        }
        return try result.get()
    }

    // MARK: Gauge

    @Test("combine(later:) keeps the later last, the max of both, and adds sums and samples")
    func combine() {
        var g = Gauge(5)
        g.combine(later: Gauge(3))
        #expect(g == Gauge(last: 3, max: 5, sum: 8, samples: 2))
        g.combine(later: Gauge(last: 1, max: 9, sum: 20, samples: 4))
        #expect(g == Gauge(last: 1, max: 9, sum: 28, samples: 6))
        #expect(g.average == 28.0 / 6)
        #expect(Gauge(last: 4, max: 4, sum: 0, samples: 0).average == 4)
    }

    @Test("combining a sequence equals its statistics")
    func combineSequence() async {
        await propertyCheck(count: 200, input: Gen.int(in: -1000...1000).array(of: 1...50)) { samples in
            var g = Gauge(Double(samples[0]))
            for s in samples.dropFirst() { g.combine(later: Gauge(Double(s))) }
            #expect(g.last == Double(samples.last!))
            #expect(g.max == Double(samples.max()!))
            #expect(g.sum == Double(samples.reduce(0, +)))
            #expect(g.samples == UInt32(samples.count))
            // Grouping over time does not matter (combine is associative).
            let mid = samples.count / 2
            var left = Gauge(Double(samples[0]))
            for s in samples[1..<Swift.max(mid, 1)] { left.combine(later: Gauge(Double(s))) }
            if mid >= 1 && mid < samples.count {
                var right = Gauge(Double(samples[mid]))
                for s in samples[(mid + 1)...] { right.combine(later: Gauge(Double(s))) }
                left.combine(later: right)
                #expect(left == g)
            }
        }
    }

    @Test("gauges round trip", arguments: [
        Gauge(0), Gauge(-0.0), Gauge(42), Gauge(-1e300), Gauge(.greatestFiniteMagnitude),
        Gauge(last: 1, max: 9, sum: 28, samples: 6),
        Gauge(last: -5, max: -5, sum: -5e9, samples: .max),
        Gauge(last: 2, max: 3, sum: .infinity, samples: 2),
    ])
    func gaugeRoundTrip(_ g: Gauge) throws {
        let bytes = Self.encoded(g)
        let back = try Self.decodeGauge(bytes)
        #expect(back == g)
        #expect(back.last.bitPattern == g.last.bitPattern)
        #expect(back.sum.bitPattern == g.sum.bitPattern)
    }

    @Test("a single-sample gauge is nine bytes")
    func gaugeSingleSize() {
        #expect(Self.encoded(Gauge(7)).count == 9)
        #expect(Self.encoded(Gauge(last: 7, max: 8, sum: 15, samples: 2)).count == 25)
    }

    @Test("gauge decode refuses NaN, infinities and impossible summaries")
    func gaugeRefuses() {
        var bad: [(String, [UInt8])] = []
        for v in [Double.nan, .infinity, -.infinity] {
            bad.append(("last \(v)", Self.encoded(Gauge(v))))
            bad.append(("max \(v)", Self.encoded(Gauge(last: 1, max: v, sum: 2, samples: 2))))
        }
        bad.append(("sum NaN", Self.encoded(Gauge(last: 1, max: 1, sum: .nan, samples: 2))))
        bad.append(("zero samples", Self.encoded(Gauge(last: 1, max: 1, sum: 1, samples: 0))))
        bad.append(("max below last", Self.encoded(Gauge(last: 5, max: 1, sum: 6, samples: 2))))
        var tooMany = ByteWriter()
        tooMany.writeDouble(1)
        tooMany.writeVarint(UInt64(UInt32.max) + 1)
        tooMany.writeDouble(1)
        tooMany.writeDouble(1)
        bad.append(("samples past UInt32", tooMany.bytes))
        let valid = Self.encoded(Gauge(last: 1, max: 2, sum: 3, samples: 2))
        for n in 0..<valid.count { bad.append(("truncated to \(n)", Array(valid[..<n]))) }
        for (name, bytes) in bad {
            #expect(throws: DecodeError.self, "\(name)") { try Self.decodeGauge(bytes) }
        }
    }

    // MARK: Count

    @Test("count addition saturates at Int64.max and Int64.min")
    func saturation() {
        var c = Count(.max - 1)
        c.add(1)
        #expect(c.value == .max)
        c.add(1)
        #expect(c.value == .max)
        c.add(.max)
        #expect(c.value == .max)
        c.add(-1)
        #expect(c.value == .max - 1)

        var d = Count(.min + 1)
        d.add(-1)
        #expect(d.value == .min)
        d.add(.min)
        #expect(d.value == .min)
        d.add(1)
        #expect(d.value == .min + 1)

        var e = Count(.max)
        e.merge(Count(.min))
        #expect(e.value == -1)
        var f = Count(.max)
        f.merge(Count(.max))
        #expect(f.value == .max)
    }

    @Test("count addition is exact below the limits")
    func exactSums() async {
        await propertyCheck(count: 200, input: Gen.int64(in: -(1 << 40)...(1 << 40)).array(of: 0...100)) { xs in
            var c = Count()
            for x in xs { c.add(x) }
            #expect(c.value == xs.reduce(0, +))
        }
    }

    @Test("counts round trip", arguments: [Int64.min, .min + 1, -1, 0, 1, 63, 64, -64, -65, .max - 1, .max])
    func countRoundTrip(_ v: Int64) throws {
        let bytes = Self.encoded(Count(v))
        #expect(try Self.decodeCount(bytes) == Count(v))
        #expect(bytes.count <= 10)
    }

    @Test("count decode refuses truncated and overlong input")
    func countRefuses() {
        #expect(throws: DecodeError.truncated) { try Self.decodeCount([]) }
        #expect(throws: DecodeError.truncated) { try Self.decodeCount([0x80]) }
        #expect(throws: DecodeError.overlongVarint) { try Self.decodeCount([UInt8](repeating: 0x80, count: 11)) }
    }
}
