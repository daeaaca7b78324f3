import MetStore
import MetValues
import Testing

/// DESIGN §3: "a decoder fed corrupt bytes returns an error, never crashes or allocates without
/// bound". A corrupt snapshot chunk either throws `DecodeError`, changing nothing, or merges
/// something; the store keeps answering either way.
@Suite struct CorruptChunkPropertyTests {
    static func mutate(_ chunk: [UInt8], other: [UInt8], rng: inout SeededRandom) -> (bytes: [UInt8], how: String) {
        var bytes = chunk
        guard !bytes.isEmpty else { return ([0xff], "empty→ff") }
        func pos() -> Int { Int.random(in: 0..<bytes.count, using: &rng) }
        switch Prop.int(0...7, &rng) {
        case 0:
            let n = Prop.int(1...4, &rng)
            for _ in 0..<n { bytes[pos()] ^= 1 << UInt8(Prop.int(0...7, &rng)) }
            return (bytes, "\(n) bit flips")
        case 1:
            let n = Int.random(in: 0..<bytes.count, using: &rng)
            return (Array(bytes.prefix(n)), "truncated to \(n)")
        case 2:
            let extra = (0..<Prop.int(1...8, &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            return (bytes + extra, "\(extra.count) bytes appended")
        case 3:
            let i = pos()
            let n = Prop.int(1...6, &rng)
            bytes.replaceSubrange(i..<min(bytes.count, i + n), with: [])
            return (bytes, "bytes removed at \(i)")
        case 4:
            // A run of 0xff: varints that never end or claim huge lengths.
            let i = pos()
            let run = [UInt8](repeating: 0xff, count: Prop.int(1...10, &rng))
            bytes.replaceSubrange(i..<min(bytes.count, i + run.count), with: run)
            return (bytes, "0xff run at \(i)")
        case 5:
            let i = pos()
            bytes[i] = [0, 1, 0x7f, 0x80, 0xff].randomElement(using: &rng)!
            return (bytes, "byte \(i) set to \(bytes[i])")
        case 6:
            let a = pos()
            let b = Int.random(in: 0..<max(1, other.count), using: &rng)
            return (Array(bytes[..<a]) + Array(other[min(b, other.count)...]), "spliced at \(a)/\(b)")
        default:
            let n = Prop.int(2...12, &rng)
            for _ in 0..<n { bytes[pos()] = UInt8.random(in: 0...255, using: &rng) }
            return (bytes, "\(n) random bytes")
        }
    }

    /// A cheaper `answers`: every series, grouped and not, over the last 40 minutes.
    static func fingerprint(_ store: SeriesStore, now: Int64) throws -> [String] {
        var out: [String] = []
        for series in ["inserted", "executing", "exec_time"] {
            for group in [nil, "queue"] as [String?] {
                let sel = Selection(series: series, lookback: 2400, group: group)
                out.append("\(try store.timeslice(sel, by: 120, now: now))")
                out.append("\(try store.latest(sel, now: now).sorted { $0.key < $1.key })")
            }
        }
        return out
    }

    @Test func corruptChunksThrowWithoutChangesOrMergeWithoutCrashing() throws {
        var threw = 0
        var merged = 0
        for seed in UInt64(1)...60 {
            var rng = SeededRandom(seed: seed &* 998_244_353 &+ 21)
            let now = Prop.t0 + 2000
            let source = SeriesStore(tiers: seed % 2 == 0 ? .default : Prop.smallTiers)
            let h = Prop.history(&rng, batches: 3...12, maxGap: 20, start: now - 500)
            for b in h.all { source.apply(b, now: b.timestamp) }
            if Prop.chance(0.5, &rng) { source.compact(now: now) }
            let snap = source.snapshot(maxChunkBytes: Prop.int(100...1500, &rng))
            let target = SeriesStore(rollupThreshold: [1, 32].randomElement(using: &rng)!)
            let own = Prop.history(&rng, batches: 2...6, maxGap: 20, start: now - 300)
            for b in own.all { target.apply(b, now: b.timestamp) }
            var current = try Self.fingerprint(target, now: now)
            for attempt in 0..<12 {
                let chunk = snap.chunks.randomElement(using: &rng)!
                let (bytes, how) = Self.mutate(chunk, other: snap.chunks.randomElement(using: &rng)!, rng: &rng)
                let marks = target.watermarks
                let points = target.pointCount
                var thrown: DecodeError?
                do throws(DecodeError) {
                    try target.merge(chunk: bytes, now: now)
                } catch {
                    thrown = error
                }
                if thrown == nil {
                    merged += 1
                    current = try Self.fingerprint(target, now: now)  // still answers, whatever was merged
                } else if let error = thrown {
                    threw += 1
                    let after = try Self.fingerprint(target, now: now)
                    #expect(after == current && target.watermarks == marks && target.pointCount == points,
                            "seed \(seed) attempt \(attempt) (\(how)): a chunk that threw \(error) changed the store")
                    if after != current { return }
                }
            }
            // Corrupt watermarks: throw and change nothing, or raise marks only.
            for _ in 0..<5 {
                let (bytes, how) = Self.mutate(snap.watermarks, other: snap.watermarks, rng: &rng)
                let marks = target.watermarks
                do {
                    try target.merge(watermarks: bytes)
                    for (o, m) in marks { #expect(target.watermark(of: o) >= m, "seed \(seed) (\(how)): a watermark went down") }
                } catch {
                    #expect(target.watermarks == marks, "seed \(seed) (\(how)): watermarks that threw \(error) changed the store")
                }
            }
            // The intact snapshot still merges after all that.
            try target.merge(snap, now: now)
            _ = try Self.fingerprint(target, now: now)
        }
        #expect(threw > 50 && merged > 5, "both outcomes exercised: \(threw) threw, \(merged) merged")
    }
}
