import MetMesh
import MetRecorder
import MetRuntime
import MetStore
import Testing

/// Which peers a node's clock correction counts, and the queries ending at its cluster time.
@Suite struct ClockCorrectionTests {
    @Test("only alive, connected peers count: a down, suspect or disconnected peer's offset is stale")
    func livePeersOnly() {
        let peers = [
            Member(name: "a", incarnation: 1, address: "x:1", status: .alive),
            Member(name: "b", incarnation: 1, address: "x:2", status: .down),
            Member(name: "c", incarnation: 1, address: "x:3", status: .suspect),
            Member(name: "d", incarnation: 1, address: "x:4", status: .alive),
            Member(name: "e", incarnation: 1, address: "x:5", status: .alive),
        ]
        let offsets: [String: Int64] = ["a": 30_000, "b": 60_000, "c": 60_000, "d": 31_000, "e": 90_000]
        let live = ClockCorrection.liveOffsets(peers: peers, connected: ["a", "b", "c", "d"], offsets: offsets)
        #expect(live.sorted() == [30_000, 31_000], "e is not connected; b is down; c is suspect")
        #expect(ClockCorrection.correction(peerOffsets: live) == 30_000, "two peers agree 30 s ahead: this node moves to them")
        #expect(ClockCorrection.correction(peerOffsets: Array(offsets.values)) == 45_500, "with the stale offsets counted it would be another")
        #expect(ClockCorrection.liveOffsets(peers: peers, connected: [], offsets: offsets).isEmpty)
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
