import MetMesh
import MetRecorder
import MetRuntime
import MetStore
import Testing

/// Which peers a node's clock correction counts, and the queries ending at its cluster time.
@Suite struct ClockCorrectionTests {
    @Test("down peers do not count; suspect ones (a blinking connection) keep their vote")
    func livePeersOnly() {
        let peers = [
            Member(name: "a", incarnation: 1, address: "x:1", status: .alive),
            Member(name: "b", incarnation: 1, address: "x:2", status: .down),
            Member(name: "c", incarnation: 1, address: "x:3", status: .suspect),
            Member(name: "d", incarnation: 1, address: "x:4", status: .alive),
            Member(name: "e", incarnation: 1, address: "x:5", status: .indirect),
            Member(name: "f", incarnation: 1, address: "x:6", status: .alive),
        ]
        let offsets: [String: Int64] = ["a": 30_000, "b": -90_000, "c": 31_000, "d": 29_000, "e": 30_500, "z": -90_000]
        let live = ClockCorrection.liveOffsets(peers: peers, offsets: offsets)
        #expect(live.sorted() == [29_000, 30_000, 30_500, 31_000], "b is down; f has no offset yet; z is no member")
        #expect(ClockCorrection.correction(peerOffsets: live) == 30_000, "four peers agree about 30 s ahead: this node moves to them")
        #expect(ClockCorrection.correction(peerOffsets: Array(offsets.values)) == 29_000, "with the stale offsets counted it would be another")
        #expect(ClockCorrection.liveOffsets(peers: [], offsets: offsets).isEmpty)
    }

    @Test("a query without now ends at the collector's cluster time")
    func queriesUseTheClock() throws {
        let clock = ClusterClock(correctionMilliseconds: 300_000)
        let collector = Collector(store: SeriesStore(), clock: clock)
        let origin = Origin(node: "far", incarnation: 1)
        let ahead = NodeRecorder.wallClockSecond() + 300  // stamped by a node whose corrected clock is 5 min ahead of ours
        let entry = DeltaBatch.Entry(series: "inserted", labels: LabelSet([("queue", "q")]), value: .count(7))
        collector.receive(DeltaBatch(origin: origin, seq: 1, timestamp: ahead, entries: [entry]), now: clock.second())
        let sel = Selection(series: "inserted", lookback: 60)
        #expect(try collector.latest(sel)["all"] == 7, "ends at cluster time: the point is inside")
        #expect(try collector.latest(sel, now: NodeRecorder.wallClockSecond())["all"] == 0, "by the raw clock it would be in the future")
    }
}
