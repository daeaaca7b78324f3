import Foundation
@testable import MetValues
import Testing

/// `Sketch.quantile(_:encoded:)` answers from the bytes exactly what the decoded sketch answers.
@Suite("Quantiles read from encoded sketches")
struct EncodedQuantileTests {
    @Test("same answer, to the bit, for every shape and quantile")
    func sameAsDecoded() throws {
        var rng = SplitMix64(seed: 77)
        var shapes: [Sketch] = [Sketch(), Sketch([42]), Sketch([0, 0, 5]), Sketch([-3, 7, 9]), Sketch([0]), Sketch([1e300, 1, 2])]
        for _ in 0..<200 {
            var s = Sketch()
            let n = Int(rng.next() % 400) + 1
            for _ in 0..<n {
                switch rng.next() % 10 {
                case 0: s.add(0)
                case 1: s.add(Double(rng.next() % 1000) + 1)
                default: s.add((5e7 * exp(Double(Int64(rng.next() % 4000) - 2000) / 1000)).rounded())
                }
            }
            shapes.append(s)
        }
        for s in shapes {
            let bytes = s.encoded()[...]
            for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                let direct = try Sketch.quantile(q, encoded: bytes)
                #expect(direct?.bitPattern == s.quantile(q)?.bitPattern, "q \(q) of \(s.count) values")
            }
        }
    }

    @Test("corrupt bytes throw instead of answering")
    func corrupt() {
        #expect(throws: DecodeError.self) { try Sketch.quantile(0.5, encoded: [0x7f, 0][...]) }
        #expect(throws: DecodeError.self) { try Sketch.quantile(0.5, encoded: [IndexMapping.formatID, Sketch.Flag.positive, 5][...]) }
    }
}
