import MetStore
import MetValues
import MetWire
import Testing

@Suite struct BatchCodecTests {
    @Test func roundTripOfRecorderBatches() throws {
        for seed in UInt64(1)...20 {
            let batch = sampleBatch(seed: seed)
            #expect(!batch.entries.isEmpty)
            let back = try BatchCodec.decode(BatchCodec.encode(batch))
            #expect(back == batch)
        }
        let empty = DeltaBatch(origin: Origin(node: "n", incarnation: 1), seq: 9, timestamp: -5, entries: [])
        #expect(try BatchCodec.decode(BatchCodec.encode(empty)) == empty)
    }

    @Test func decodedBatchesApplyLikeTheOriginal() throws {
        let batch = sampleBatch(seed: 5)
        let a = SeriesStore()
        let b = SeriesStore()
        a.apply(batch, now: 1_800_000_000)
        b.apply(try BatchCodec.decode(BatchCodec.encode(batch)), now: 1_800_000_000)
        for series in ["exec_time", "inserted", "transitions", "executing"] {
            let sel = Selection(series: series, lookback: 60, group: "queue")
            #expect(try a.latest(sel, now: 1_800_000_000) == b.latest(sel, now: 1_800_000_000))
        }
        #expect(a.queueChecks(now: 1_800_000_000) == b.queueChecks(now: 1_800_000_000))
    }

    @Test func corruptBatchesThrowAndNeverCrash() {
        let valid = BatchCodec.encode(sampleBatch(seed: 8))
        let refused = corruptions(of: valid, seed: 11).filter { (try? BatchCodec.decode($0)) == nil }.count
        #expect(refused > 1_000)
        // Lengths that lie are refused before anything is allocated for them.
        #expect(throws: DecodeError.self) { try BatchCodec.decode([0xff, 0xff, 0xff, 0xff, 0x0f]) }
        #expect(throws: DecodeError.self) { try BatchCodec.decode([1, 1, 0x61, 5, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]) }
    }
}
