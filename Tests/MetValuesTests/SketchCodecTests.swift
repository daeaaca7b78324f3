// Encoding and decoding of Sketch: exact round trips, both bin layouts, and the size target of
// DESIGN §8 (`sketch.encoded_bytes_1e6` ≤ 900).
import PropertyBased
import Testing
@testable import MetValues

@Suite("Sketch codec")
struct SketchCodecTests {
    /// `m · 10^e` over the whole double range, both signs, with zeros.
    static let anyValue = zip(Gen.int(in: -999...999), Gen.int(in: -300...300)).map { (m: Int, e: Int) -> Double in
        Double("\(m)e\(e)")!
    }

    static func roundTrip(_ s: Sketch) throws -> Sketch { try Sketch(decoding: s.encoded()) }

    static func flags(_ bytes: [UInt8]) -> UInt8 { bytes[1] }

    @Test("decode(encode(s)) == s for random sketches")
    func randomRoundTrip() async {
        await propertyCheck(count: 300, input: Self.anyValue.array(of: 0...200)) { values in
            let s = Sketch(values)
            let bytes = s.encoded()
            let back = try Sketch(decoding: bytes)
            #expect(back == s)
            #expect(back.encoded() == bytes)
            #expect(back.sum.bitPattern == s.sum.bitPattern)
        }
    }

    @Test("round trip of special shapes", arguments: [
        ("empty", [Double]()),
        ("single", [12345.0]),
        ("single negative", [-7.5]),
        ("single zero", [0.0]),
        ("single -0.0", [-0.0]),
        ("single subnormal", [Double.leastNonzeroMagnitude]),
        ("single 1e300", [1e300]),
        ("two equal", [3.0, 3.0]),
        ("zeros", [0.0, 0.0, -0.0, Double.leastNormalMagnitude / 4]),
        ("negatives", [-1.0, -1e9, -3.5, -3.5]),
        ("outlier", DataSets.lognormal(1000) + [1e300]),
        ("pages", [1e-5, 1.0, 1e5, 1e10, 1e15, 1e-300, 1e300]),
        ("mixed", DataSets.mixedSigns(5000)),
        ("extremes", [Double.leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]),
    ] as [(String, [Double])])
    func specialShapes(_ name: String, _ values: [Double]) throws {
        let s = Sketch(values)
        let back = try Self.roundTrip(s)
        #expect(back == s, "\(name)")
        #expect(back.count == UInt64(values.count))
        #expect(back.min.bitPattern == s.min.bitPattern)
        #expect(back.max.bitPattern == s.max.bitPattern)
        #expect(back.zeroCount == s.zeroCount)
        #expect(back.quantiles(checkedQuantiles) == s.quantiles(checkedQuantiles))
    }

    @Test("a single value is encoded in ten bytes")
    func singleValueLayout() {
        let bytes = Sketch([5e7]).encoded()
        #expect(bytes.count == 10)
        #expect(bytes[0] == IndexMapping.formatID)
        #expect(Self.flags(bytes) == Sketch.Flag.single)
        #expect(Sketch().encoded() == [IndexMapping.formatID, 0, 0])
    }

    @Test("contiguous bins use the dense layout, scattered bins the sparse one")
    func layouts() throws {
        // Lognormal: hundreds of adjacent bins on the positive side.
        let dense = Sketch(DataSets.lognormal(10_000))
        let denseBytes = dense.encoded()
        #expect(Self.flags(denseBytes) & Sketch.Flag.positiveDense != 0)
        #expect(try Sketch(decoding: denseBytes) == dense)

        // A few values decades apart: gaps of hundreds of empty bins.
        let sparse = Sketch([1, 1e5, 1e10, 1e20, 1e40, 1e80])
        let sparseBytes = sparse.encoded()
        #expect(Self.flags(sparseBytes) & Sketch.Flag.positive != 0)
        #expect(Self.flags(sparseBytes) & Sketch.Flag.positiveDense == 0)
        #expect(try Sketch(decoding: sparseBytes) == sparse)

        // The same on the negative side, and both sides in one sketch with different layouts.
        let mixed = Sketch(DataSets.lognormal(10_000).map { -$0 } + [1, 1e10, 1e20, 1e40] + [0, 0])
        let mixedBytes = mixed.encoded()
        let f = Self.flags(mixedBytes)
        #expect(f & Sketch.Flag.negativeDense != 0)
        #expect(f & Sketch.Flag.positive != 0 && f & Sketch.Flag.positiveDense == 0)
        #expect(f & Sketch.Flag.zero != 0)
        #expect(try Sketch(decoding: mixedBytes) == mixed)

        let mirrored = Sketch([-1, -1e5, -1e10, -1e20] + DataSets.lognormal(10_000))
        let g = Self.flags(mirrored.encoded())
        #expect(g & Sketch.Flag.negative != 0 && g & Sketch.Flag.negativeDense == 0)
        #expect(g & Sketch.Flag.positiveDense != 0)
        #expect(try Self.roundTrip(mirrored) == mirrored)
    }

    @Test("the chosen layout is never longer than the other one")
    func layoutChoiceIsShortest() throws {
        for values in [[1.0, 1.03, 1.1, 1.2, 2, 3, 5, 8, 13, 21], [1.0, 1e3], DataSets.pareto(2000, seed: 8)] {
            let s = Sketch(values)
            BinLayout.with(s.positive) { layout in
                var denseW = ByteWriter()
                var sparseW = ByteWriter()
                var d = layout
                d.dense = true
                d.write(into: &denseW)
                var sp = layout
                sp.dense = false
                sp.write(into: &sparseW)
                #expect(min(denseW.count, sparseW.count) == (layout.dense ? denseW.count : sparseW.count))
            }
        }
    }

    @Test("bin counts past 2^32 round trip")
    func largeCounts() throws {
        var s = Sketch()
        s.add(1000, count: UInt64(UInt32.max))
        s.add(1000)
        s.add(-2, count: 1 << 40)
        s.add(0, count: 1 << 33)
        let back = try Self.roundTrip(s)
        #expect(back == s)
        #expect(back.positive.count(at: IndexMapping.index(of: 1000)) == 1 << 32)
        #expect(back.count == (1 << 32) + (1 << 40) + (1 << 33))
    }

    @Test("reset sketches and sketches with stale pages encode like fresh ones")
    func stalePages() throws {
        var s = Sketch(DataSets.lognormal(1000))
        s.reset()
        #expect(s.encoded() == Sketch().encoded())
        s.add(1)
        s.add(2)
        #expect(s.encoded() == Sketch([1, 2]).encoded())
    }

    @Test("decoding reads exactly one sketch from a stream")
    func streamed() throws {
        let sketches = [Sketch(DataSets.lognormal(300)), Sketch(), Sketch([4]), Sketch([-1, 0, 1])]
        var w = ByteWriter()
        for s in sketches { s.encode(into: &w) }
        w.writeByte(0xAB)
        let bytes = w.bytes
        var decoded: [Sketch] = []
        var tail: UInt8 = 0
        var failure: DecodeError?
        bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            do throws(DecodeError) {
                for _ in sketches { decoded.append(try Sketch.decode(from: &r)) }
                tail = try r.readByte()
                try r.expectEnd()
            } catch {
                failure = error
            }
        }
        #expect(failure == nil)
        #expect(decoded == sketches)
        #expect(tail == 0xAB)
        // The whole-buffer initializer refuses the trailing byte.
        #expect(throws: DecodeError.trailingBytes(1)) { try Sketch(decoding: Sketch([4]).encoded() + [0]) }
    }

    /// DESIGN §8 `sketch.encoded_bytes_1e6`: 1e6 lognormal values (median 50 ms in ns, σ = 1)
    /// encode in at most 900 bytes. Uses the full 1e6 values (about a second in debug builds).
    @Test("1e6 lognormal timings encode in <= 900 bytes")
    func encodedSize() throws {
        var rng = SplitMix64(seed: 1_000_000)
        var s = Sketch()
        for _ in 0..<1_000_000 { s.add(rng.lognormal(median: 5e7, sigma: 1).rounded()) }
        let bytes = s.encoded()
        #expect(bytes.count <= 900, "encoded size \(bytes.count)")
        #expect(Self.flags(bytes) & Sketch.Flag.positiveDense != 0)
        #expect(try Sketch(decoding: bytes) == s)
    }
}
