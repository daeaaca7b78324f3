// Compaction's fast paths for sketches: merging encoded sketches straight into one encoding
// (`Sketch.encodeMerged`), a side's bins added to a store page by page (`BinStore.add(sortedBins:)`,
// behind `merge(from:)`), and the encoder writing through a pointer. Each must give exactly what
// the plain path gives: the same bytes, the same bins, the byte format unchanged.
import Foundation
import Testing
@testable import MetValues

@Suite("Sketch encoded merge")
struct SketchEncodedMergeTests {
    /// A random sketch of one of many shapes: empty, one value of any kind, a count of 1 left by
    /// `remove` (encoded by its sum), lognormal timings of a few values, both signs over many
    /// decades with zeros, counts past 2³², bins spread over tens of pages.
    static func randomSketch(_ rng: inout SplitMix64) -> Sketch {
        switch rng.below(10) {
        case 0:
            return Sketch()
        case 1:
            let specials: [Double] = [0, -0.0, 12345, -7.5, Double.leastNonzeroMagnitude, -Double.leastNormalMagnitude / 2, 1e300, -1e-300, .greatestFiniteMagnitude]
            return Sketch([specials[rng.below(specials.count)]])
        case 2:
            var s = Sketch([rng.lognormal(median: 5e7, sigma: 1).rounded(), 3e9])
            s.remove(Sketch([3e9]))
            return s
        case 3, 4, 5:
            let median = [1e3, 5e7, 2e9][rng.below(3)]
            return Sketch((0..<(1 + rng.below(50))).map { _ in rng.lognormal(median: median, sigma: 1).rounded() })
        case 6:
            return Sketch((0..<(1 + rng.below(300))).map { _ in rng.lognormal(median: 5e7, sigma: 1).rounded() })
        case 7:
            return Sketch((0..<(1 + rng.below(80))).map { _ -> Double in
                let m = Double(rng.below(1999)) - 999
                return m * pow(10, Double(rng.below(600)) - 300)
            })
        case 8:
            var s = Sketch()
            s.add(rng.lognormal(median: 5e7, sigma: 1).rounded(), count: (1 << 32) + UInt64(rng.below(1000)))
            s.add(-1, count: 1 << 33)
            s.add(0, count: 3)
            return s
        default:
            // Tens of pages low or high: two of them merged span more pages than a sketch keeps.
            let base = rng.below(2) == 0 ? -300.0 : 10.0
            return Sketch((0..<(30 + rng.below(20))).map { k in pow(10, base + 0.6 * Double(k)) })
        }
    }

    /// The plain path: every part merged into an empty sketch with `merge(from:)`, then encoded.
    static func reference(_ parts: [[UInt8]]) throws -> [UInt8] {
        var s = Sketch()
        for p in parts {
            let result = p.withUnsafeBytes { raw in
                var r = ByteReader(raw)
                return Result { () throws(DecodeError) in try s.merge(from: &r) }
            }
            try result.get()
        }
        return s.encoded()
    }

    static func encodeMerged(_ parts: [[UInt8]], after prefix: [UInt8] = []) throws -> [UInt8] {
        var w = ByteWriter(appendingTo: prefix)
        let storage = parts.map { p in
            let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: p.count, alignment: 1)
            raw.copyBytes(from: p)
            return UnsafeRawBufferPointer(raw)
        }
        defer { for s in storage { s.deallocate() } }
        try storage.withUnsafeBufferPointer { try Sketch.encodeMerged($0, into: &w) }
        return w.bytes
    }

    @Test("an encoded merge writes the bytes of decode, merge and encode, for random parts")
    func equalsDecodeMergeEncode() throws {
        var rng = SplitMix64(seed: 12)
        var fallbacks = 0
        for _ in 0..<3000 {
            let parts = (0..<(1 + rng.below(6))).map { _ in Self.randomSketch(&rng).encoded() }
            let expected = try Self.reference(parts)
            #expect(try Self.encodeMerged(parts) == expected)
            // Appended after what the writer holds, leaving it alone.
            #expect(try Self.encodeMerged(parts, after: [1, 2, 3]) == [1, 2, 3] + expected)
            var pages = Set<Int32>()
            for p in parts { try Sketch(decoding: p).forEachBin { sign, index, _ in if sign > 0 { pages.insert(index >> 6) } } }
            if pages.count > BinStore.maxPages { fallbacks += 1 }
        }
        // The shapes above do reach the path where bins fold.
        #expect(fallbacks > 10)
    }

    @Test("merging a part with itself doubles every count, exactly")
    func selfMerge() throws {
        var rng = SplitMix64(seed: 13)
        for _ in 0..<300 {
            let s = Self.randomSketch(&rng)
            var doubled = s
            doubled.merge(s)
            let bytes = try Self.encodeMerged([s.encoded(), s.encoded()])
            let back = try Sketch(decoding: bytes)
            #expect(back.count == doubled.count)
            #expect(back.zeroCount == doubled.zeroCount)
            #expect(back.quantiles(checkedQuantiles) == doubled.quantiles(checkedQuantiles))
        }
    }

    @Test("a malformed part throws and writes nothing")
    func malformed() {
        var rng = SplitMix64(seed: 14)
        var refused = 0
        for _ in 0..<2000 {
            var bad = Sketch((0..<(2 + rng.below(40))).map { _ in rng.lognormal(median: 5e7, sigma: 1).rounded() }).encoded()
            let k = rng.below(bad.count)
            switch rng.below(3) {
            case 0: bad = Array(bad[..<k])
            case 1: bad[k] ^= UInt8(1 + rng.below(255))
            default: bad[k] = 0xff
            }
            let good = Sketch([1, 2, 3]).encoded()
            let expected = try? Self.reference([good, bad])
            var w = ByteWriter(appendingTo: [9])
            do {
                let storage = [good, bad].map { Data($0) }
                try storage[0].withUnsafeBytes { a in
                    try storage[1].withUnsafeBytes { b in
                        try [a, b].withUnsafeBufferPointer { try Sketch.encodeMerged($0, into: &w) }
                    }
                }
                // Accepted: then the plain path accepts it too and agrees.
                #expect(expected.map { [9] + $0 } == w.bytes)
            } catch {
                refused += 1
                #expect(w.bytes == [9])
                #expect(expected == nil)
            }
        }
        #expect(refused > 500)
    }

    @Test("adding a sorted run equals adding its bins one by one, at the page cap and past 2³²")
    func sortedRunEqualsAdds() {
        var rng = SplitMix64(seed: 15)
        for _ in 0..<500 {
            var start = BinStore()
            for _ in 0..<rng.below(200) { start.add(Int32(rng.below(9000)) - 4500, UInt64(1 + rng.below(5))) }
            let nearWrap = rng.below(4) == 0
            if nearWrap { start.add(Int32(rng.below(100)), UInt64(UInt32.max) - 2) }
            var bins = Set<Int32>()
            let spread = [100, 1000, 9000][rng.below(3)]
            for _ in 0..<rng.below(300) { bins.insert(Int32(rng.below(spread)) - Int32(spread / 2)) }
            let sorted = bins.sorted()
            let counts = sorted.map { _ -> UInt64 in rng.below(20) == 0 ? (1 << 32) + 5 : UInt64(1 + rng.below(1000)) }
            var expected = start
            for (b, c) in zip(sorted, counts) { expected.add(b, c) }
            var actual = start
            sorted.withUnsafeBufferPointer { b in
                counts.withUnsafeBufferPointer { c in actual.add(sortedBins: b.baseAddress!, counts: c.baseAddress!, sorted.count) }
            }
            #expect(actual == expected)
            #expect(actual.pageCount == expected.pageCount)
            // With small counts and no lane near 2³² the caller may promise no lane wraps: the
            // unchecked adds agree.
            guard !nearWrap else { continue }
            let small = counts.map { $0 & 0xffff }
            var expectedSmall = start
            for (b, c) in zip(sorted, small) { expectedSmall.add(b, c) }
            var unchecked = start
            sorted.withUnsafeBufferPointer { b in
                small.withUnsafeBufferPointer { c in unchecked.add(sortedBins: b.baseAddress!, counts: c.baseAddress!, sorted.count, cannotWrap: true) }
            }
            #expect(unchecked == expectedSmall)
        }
    }

    @Test("the encoding is the format's, byte for byte (an encoder written from its description)")
    func formatUnchanged() {
        var rng = SplitMix64(seed: 16)
        for _ in 0..<2000 {
            let s = Self.randomSketch(&rng)
            #expect(s.encoded() == Self.specEncoding(s))
        }
    }

    /// The layout `Sketch+Codec.swift` describes, written plainly from `forEachBin`.
    static func specEncoding(_ s: Sketch) -> [UInt8] {
        var w = ByteWriter()
        w.writeByte(IndexMapping.formatID)
        if s.count == 1 {
            w.writeByte(1)
            w.writeDouble(s.min == s.max ? s.min : s.sum)
            return w.bytes
        }
        var neg: [(Int32, UInt64)] = []
        var pos: [(Int32, UInt64)] = []
        s.forEachBin { sign, index, count in
            if sign < 0 { neg.insert((index, count), at: 0) } else if sign > 0 { pos.append((index, count)) }
        }
        func side(_ bins: [(Int32, UInt64)]) -> (dense: Bool, bytes: [UInt8]) {
            var dense = ByteWriter()
            dense.writeSignedVarint(Int64(bins[0].0))
            dense.writeVarint(UInt64(bins.last!.0 - bins[0].0 + 1))
            var next = bins[0].0
            for (b, c) in bins {
                while next < b {
                    dense.writeByte(0)
                    next += 1
                }
                dense.writeVarint(c)
                next = b + 1
            }
            var sparse = ByteWriter()
            sparse.writeVarint(UInt64(bins.count))
            sparse.writeSignedVarint(Int64(bins[0].0))
            sparse.writeVarint(bins[0].1)
            for k in 1..<bins.count {
                sparse.writeVarint(UInt64(bins[k].0 - bins[k - 1].0))
                sparse.writeVarint(bins[k].1)
            }
            return dense.bytes.count <= sparse.bytes.count ? (true, dense.bytes) : (false, sparse.bytes)
        }
        let n = neg.isEmpty ? nil : side(neg)
        let p = pos.isEmpty ? nil : side(pos)
        var flags: UInt8 = s.zeroCount > 0 ? 2 : 0
        if let n { flags |= 4 | (n.dense ? 16 : 0) }
        if let p { flags |= 8 | (p.dense ? 32 : 0) }
        w.writeByte(flags)
        w.writeVarint(s.count)
        guard s.count > 0 else { return w.bytes }
        w.writeDouble(s.sum)
        w.writeDouble(s.min)
        w.writeDouble(s.max)
        if s.zeroCount > 0 { w.writeVarint(s.zeroCount) }
        if let n { w.writeBytes(n.bytes) }
        if let p { w.writeBytes(p.bytes) }
        return w.bytes
    }
}
