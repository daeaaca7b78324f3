// Corrupt input to the Sketch decoder (DESIGN §3: "a decoder fed corrupt bytes returns an error,
// never crashes or allocates without bound"). Every mutation is seeded, so failures reproduce.
import Testing
@testable import MetValues

@Suite("Sketch decoder on corrupt bytes")
struct SketchCorruptBytesTests {
    /// Valid encodings covering every layout and flag.
    static let corpus: [(String, [UInt8])] = {
        var big = Sketch()
        big.add(77, count: UInt64(UInt32.max) + 5)
        big.add(-3, count: 2)
        return [
            ("empty", Sketch().encoded()),
            ("single", Sketch([5e7]).encoded()),
            ("pair", Sketch([1, 2]).encoded()),
            ("dense lognormal", Sketch(DataSets.lognormal(5000, seed: 71)).encoded()),
            ("sparse", Sketch([1, 1e5, 1e10, 1e20, 1e40, 1e80]).encoded()),
            ("mixed", Sketch(DataSets.mixedSigns(2000, seed: 72)).encoded()),
            ("zeros", Sketch([0, 0, -0.0]).encoded()),
            ("outlier", Sketch(DataSets.lognormal(300, seed: 73) + [1e300, -1e-300]).encoded()),
            ("large counts", big.encoded()),
        ]
    }()

    /// What an accepted input must satisfy: it holds together and survives its own round trip.
    static func checkAccepted(_ s: Sketch, _ context: @autoclosure () -> String) {
        var binned = s.zeroCount
        var inRange = true
        s.positive.forEachBin { i, c in binned &+= c; inRange = inRange && IndexMapping.indexRange.contains(i) }
        s.negative.forEachBin { i, c in binned &+= c; inRange = inRange && IndexMapping.indexRange.contains(i) }
        #expect(binned == s.count, "bins do not add up: \(context())")
        #expect(inRange, "bin outside indexRange: \(context())")
        if s.count > 0 {
            #expect(s.min <= s.max, "\(context())")
            for q in [0, 0.5, 0.99, 1.0] { #expect(s.quantile(q) != nil, "\(context())") }
        }
        let again = decodeResult(s.encoded())
        switch again {
        case .success(let t): #expect(t == s, "re-encoding changed the sketch: \(context())")
        case .failure(let e): Issue.record("re-encoding does not decode (\(e)): \(context())")
        }
    }

    /// Decodes, accepting either outcome but checking accepted results.
    /// Also checks that ``Sketch/validate(from:)`` (which builds nothing) accepts exactly what
    /// decoding accepts.
    static func probe(_ bytes: [UInt8], _ context: @autoclosure () -> String) {
        let decoded = decodeResult(bytes)
        if case .success(let s) = decoded { checkAccepted(s, context()) }
        #expect(validates(bytes) == ((try? decoded.get()) != nil), "validate and decode disagree: \(context())")
    }

    static func validates(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            do {
                try Sketch.validate(from: &r)
                try r.expectEnd()
                return true
            } catch {
                return false
            }
        }
    }

    @Test("the corpus itself decodes")
    func corpusIsValid() {
        for (name, bytes) in Self.corpus {
            if case .failure(let e) = decodeResult(bytes) { Issue.record("\(name): \(e)") }
            #expect(Self.validates(bytes), "\(name)")
        }
    }

    @Test("every truncation throws")
    func truncations() {
        for (name, bytes) in Self.corpus {
            for n in 0..<bytes.count {
                if case .success = decodeResult(Array(bytes[..<n])) {
                    Issue.record("\(name) truncated to \(n) of \(bytes.count) bytes was accepted")
                }
                #expect(!Self.validates(Array(bytes[..<n])), "\(name) truncated to \(n) bytes passed validation")
            }
        }
    }

    @Test("single bit flips throw or yield a consistent sketch")
    func bitFlips() {
        var rng = SplitMix64(seed: 80)
        for (name, bytes) in Self.corpus {
            // Every bit of the first 48 bytes (header, summary, first bins), then a seeded sample
            // of the rest, so long encodings stay quick in debug builds.
            let head = Array(0..<(Swift.min(bytes.count, 48) * 8))
            let tail = bytes.count > 48 ? (0..<400).map { _ in 48 * 8 + Int(rng.next() % UInt64((bytes.count - 48) * 8)) } : []
            for bit in head + tail {
                var m = bytes
                m[bit / 8] ^= 1 << UInt8(bit % 8)
                Self.probe(m, "\(name), bit \(bit) flipped")
            }
        }
    }

    @Test("seeded multi-byte mutations throw or yield a consistent sketch")
    func randomMutations() {
        var rng = SplitMix64(seed: 81)
        for (name, bytes) in Self.corpus where bytes.count > 2 {
            for round in 0..<400 {
                var m = bytes
                let edits = Int(rng.next() % 4) + 1
                for _ in 0..<edits {
                    let at = Int(rng.next() % UInt64(m.count))
                    switch rng.next() % 5 {
                    case 0: m[at] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: m[at] = 0xFF
                    case 2: m.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                    case 3: if m.count > 3 { m.remove(at: at) }
                    default: m[at] = 0x80 | m[at]  // extend a varint into its neighbour
                    }
                }
                Self.probe(m, "\(name), round \(round): \(m.prefix(40))")
            }
        }
    }

    @Test("random byte strings throw or yield a consistent sketch")
    func randomBytes() {
        var rng = SplitMix64(seed: 82)
        for round in 0..<5000 {
            let n = Int(rng.next() % 80)
            var m = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Mostly a valid format byte and known flags, so the fuzz reaches the bins.
            if n > 0 && round % 4 != 0 { m[0] = IndexMapping.formatID }
            if n > 1 && round % 2 == 0 { m[1] &= Sketch.Flag.known & ~Sketch.Flag.single }
            if n > 2 && round % 3 == 0 { m[2] = UInt8(rng.next() % 8) }
            Self.probe(m, "random \(round): \(m)")
        }
    }

    // MARK: Crafted inputs

    /// The header of a non-single sketch: format, flags, count, sum, min, max.
    static func header(flags: UInt8, count: UInt64, sum: Double = 3, min: Double = 1, max: Double = 2) -> ByteWriter {
        var w = ByteWriter()
        w.writeByte(IndexMapping.formatID)
        w.writeByte(flags)
        w.writeVarint(count)
        w.writeDouble(sum)
        w.writeDouble(min)
        w.writeDouble(max)
        return w
    }

    static let pos = Sketch.Flag.positive
    static let posDense = Sketch.Flag.positive | Sketch.Flag.positiveDense
    static let upper = Int64(IndexMapping.indexRange.upperBound)
    static let lower = Int64(IndexMapping.indexRange.lowerBound)

    static func crafted() -> [(String, [UInt8])] {
        var cases: [(String, [UInt8])] = []
        func add(_ name: String, _ build: (inout ByteWriter) -> Void, flags: UInt8, count: UInt64 = 2) {
            var w = header(flags: flags, count: count)
            build(&w)
            cases.append((name, w.bytes))
        }
        add("dense length 0xFFFFFFFF", { $0.writeSignedVarint(0); $0.writeVarint(0xFFFF_FFFF); $0.writeVarint(2) }, flags: posDense)
        add("sparse length 0xFFFFFFFF", { $0.writeVarint(0xFFFF_FFFF); $0.writeSignedVarint(0); $0.writeVarint(2) }, flags: pos)
        add("dense length 2^40", { $0.writeSignedVarint(0); $0.writeVarint(1 << 40); $0.writeVarint(2) }, flags: posDense)
        add("sparse length 2^40", { $0.writeVarint(1 << 40); $0.writeSignedVarint(0); $0.writeVarint(2) }, flags: pos)
        add("dense length UInt64.max", { $0.writeSignedVarint(0); $0.writeVarint(.max); $0.writeVarint(2) }, flags: posDense)
        add("dense length 0", { $0.writeSignedVarint(0); $0.writeVarint(0) }, flags: posDense)
        add("sparse length 0", { $0.writeVarint(0) }, flags: pos)
        add("sparse index above range", { $0.writeVarint(1); $0.writeSignedVarint(upper + 1); $0.writeVarint(2) }, flags: pos)
        add("sparse index below range", { $0.writeVarint(1); $0.writeSignedVarint(lower - 1); $0.writeVarint(2) }, flags: pos)
        add("sparse index Int64.min", { $0.writeVarint(1); $0.writeSignedVarint(.min); $0.writeVarint(2) }, flags: pos)
        add("dense run past the top", { $0.writeSignedVarint(upper); $0.writeVarint(2); $0.writeVarint(1); $0.writeVarint(1) }, flags: posDense)
        add("sparse gap past the top", {
            $0.writeVarint(2); $0.writeSignedVarint(upper); $0.writeVarint(1); $0.writeVarint(1); $0.writeVarint(1)
        }, flags: pos)
        add("sparse gap of zero", { $0.writeVarint(2); $0.writeSignedVarint(0); $0.writeVarint(1); $0.writeVarint(0); $0.writeVarint(1) }, flags: pos)
        add("sparse huge gap", { $0.writeVarint(2); $0.writeSignedVarint(0); $0.writeVarint(1); $0.writeVarint(.max); $0.writeVarint(1) }, flags: pos)
        add("sparse count of zero", { $0.writeVarint(2); $0.writeSignedVarint(0); $0.writeVarint(0); $0.writeVarint(1); $0.writeVarint(2) }, flags: pos)
        add("counts short of the total", { $0.writeVarint(1); $0.writeSignedVarint(0); $0.writeVarint(2) }, flags: pos, count: 3)
        add("counts above the total", { $0.writeVarint(1); $0.writeSignedVarint(0); $0.writeVarint(4) }, flags: pos, count: 3)
        add("counts overflowing UInt64", {
            $0.writeVarint(2); $0.writeSignedVarint(0); $0.writeVarint(.max); $0.writeVarint(1); $0.writeVarint(2)
        }, flags: pos, count: 2)
        add("zero count of zero", { $0.writeVarint(0); $0.writeVarint(1); $0.writeSignedVarint(0); $0.writeVarint(2) }, flags: pos | Sketch.Flag.zero)
        add("dense flag without side", { $0.writeVarint(1); $0.writeSignedVarint(0); $0.writeVarint(2) }, flags: pos | Sketch.Flag.negativeDense)
        add("count of one, not single", { $0.writeVarint(1); $0.writeSignedVarint(0); $0.writeVarint(1) }, flags: pos, count: 1)
        add("no bins at all", { _ in }, flags: 0)
        add("unknown flag", { $0.writeVarint(1); $0.writeSignedVarint(0); $0.writeVarint(2) }, flags: pos | 0x40)

        var w = header(flags: pos, count: 2, sum: .nan)
        w.writeVarint(1); w.writeSignedVarint(0); w.writeVarint(2)
        cases.append(("NaN sum", w.bytes))
        w = header(flags: pos, count: 2, min: 5, max: 1)
        w.writeVarint(1); w.writeSignedVarint(0); w.writeVarint(2)
        cases.append(("min above max", w.bytes))
        w = header(flags: pos, count: 2, min: -.infinity)
        w.writeVarint(1); w.writeSignedVarint(0); w.writeVarint(2)
        cases.append(("infinite min", w.bytes))

        cases.append(("other format", [2, 0, 0]))
        cases.append(("empty with flags", [IndexMapping.formatID, pos, 0]))
        cases.append(("single with more flags", [IndexMapping.formatID, Sketch.Flag.single | pos] + [UInt8](repeating: 0, count: 8)))
        var nan = ByteWriter()
        nan.writeByte(IndexMapping.formatID); nan.writeByte(Sketch.Flag.single); nan.writeDouble(.nan)
        cases.append(("single NaN", nan.bytes))
        var inf = ByteWriter()
        inf.writeByte(IndexMapping.formatID); inf.writeByte(Sketch.Flag.single); inf.writeDouble(-.infinity)
        cases.append(("single -inf", inf.bytes))
        cases.append(("overlong count varint", [IndexMapping.formatID, pos] + [UInt8](repeating: 0x80, count: 11) + [0]))
        return cases
    }

    @Test("crafted invalid inputs throw DecodeError")
    func craftedInputs() {
        for (name, bytes) in Self.crafted() {
            if case .success(let s) = decodeResult(bytes) {
                Issue.record("\(name) was accepted: count \(s.count)")
            }
        }
    }

    @Test("a length claiming 2^40 bins is refused before any loop or allocation")
    func hugeLengthIsCheap() {
        // The reader checks the length against the bytes left; nothing proportional to 2^40 runs.
        var w = Self.header(flags: Self.posDense, count: 1 << 40)
        w.writeSignedVarint(0)
        w.writeVarint(1 << 40)
        for _ in 0..<4 { w.writeVarint(1) }
        #expect(throws: DecodeError.invalid("dense bin count")) { try Sketch(decoding: w.bytes) }
        var v = Self.header(flags: Self.pos, count: 1 << 40)
        v.writeVarint(1 << 40)
        v.writeSignedVarint(0)
        v.writeVarint(1)
        #expect(throws: DecodeError.invalid("sparse bin count")) { try Sketch(decoding: v.bytes) }
    }

    /// A dense run whose first index is near Int64.max: the first count is zero (so it is not
    /// range-checked), and `first + i` for the second one overflows Int64. Built inside the exit
    /// test's child process, which must exit normally rather than trap.
    static func denseFirstNearInt64Max() -> [UInt8] {
        var w = header(flags: posDense, count: 2)
        w.writeSignedVarint(.max)
        w.writeVarint(2)
        w.writeVarint(0)
        w.writeVarint(2)
        return w.bytes
    }

    @Test("a dense first index near Int64.max throws instead of trapping")
    func denseIndexOverflow() async {
        await #expect(processExitsWith: .success) {
            let bytes = SketchCorruptBytesTests.denseFirstNearInt64Max()
            guard case .failure = decodeResult(bytes) else { fatalError("accepted") }
        }
    }
}
