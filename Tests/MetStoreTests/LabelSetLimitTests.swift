import MetStore
import MetValues
import Testing

/// `maxLabelSets` (RELIABILITY B7): one origin cannot give a replica more label sets per series
/// than the limit, whether by batch or by snapshot, and replicas keep the same ones.
@Suite struct LabelSetLimitTests {
    let now: Int64 = 1_800_000_000

    func batch(_ origin: Origin, seq: UInt64, queues: Range<Int>) -> DeltaBatch {
        DeltaBatch(origin: origin, seq: seq, timestamp: now - 10, entries: queues.map {
            .init(series: "inserted", labels: labels("q\($0)", node: origin.node), value: .count(1))
        } + [.init(series: "fetched", labels: labels("q0", node: origin.node), value: .count(1))])
    }

    @Test("entries past the limit are refused and counted; existing label sets keep counting")
    func refusesPastTheLimit() throws {
        let store = SeriesStore()
        store.maxLabelSets = 3
        #expect(store.apply(batch(nodeA, seq: 1, queues: 0..<2), now: now) == .applied(entries: 3, rejected: 0))
        #expect(store.apply(batch(nodeA, seq: 2, queues: 0..<5), now: now) == .applied(entries: 4, rejected: 2))
        #expect(store.labelSetCount(of: nodeA, series: "inserted") == 3)
        #expect(store.refusedLabelSets == ["inserted": 2])
        // Another origin has a limit of its own.
        #expect(store.apply(batch(nodeB, seq: 1, queues: 0..<3), now: now) == .applied(entries: 4, rejected: 0))
        let totals = try store.latest(Selection(series: "inserted", lookback: 60, group: "queue"), now: now)
        #expect(totals == ["q0": 3, "q1": 3, "q2": 2])
    }

    @Test("replicas that get the same batches, or a snapshot of them, keep the same label sets")
    func replicasAgree() throws {
        let direct = SeriesStore()
        direct.maxLabelSets = 4
        for seq in 1...3 { direct.apply(batch(nodeA, seq: UInt64(seq), queues: (seq * 2)..<(seq * 2 + 3)), now: now) }
        let unlimited = SeriesStore()
        for seq in 1...3 { unlimited.apply(batch(nodeA, seq: UInt64(seq), queues: (seq * 2)..<(seq * 2 + 3)), now: now) }
        let viaSnapshot = SeriesStore()
        viaSnapshot.maxLabelSets = 4
        try viaSnapshot.merge(direct.snapshot(), now: now)
        let sel = Selection(series: "inserted", lookback: 60, group: "queue")
        #expect(try viaSnapshot.latest(sel, now: now) == direct.latest(sel, now: now))
        #expect(direct.labelSetCount(of: nodeA, series: "inserted") == 4)
        // A snapshot from a replica with no limit is cut to the limit too.
        let fromUnlimited = SeriesStore()
        fromUnlimited.maxLabelSets = 4
        try fromUnlimited.merge(unlimited.snapshot(), now: now)
        #expect(fromUnlimited.labelSetCount(of: nodeA, series: "inserted") == 4)
        #expect(fromUnlimited.refusedLabelSets["inserted"] == 3)
    }
}
