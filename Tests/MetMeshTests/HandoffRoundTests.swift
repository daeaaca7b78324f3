import MetMesh
import MetWire
import Testing

/// The handoff's rounds as a pure state machine (RELIABILITY H3–H7): successor choice, resume,
/// failover on a stall, a restart or a leaving successor, the deadline and the progress lines.
@Suite struct HandoffRoundTests {
    func id(_ name: String, _ inc: UInt64 = 1) -> PeerIdentity { PeerIdentity(node: name, incarnation: inc) }
    var settings: HandoffSettings {
        var s = HandoffSettings()
        s.window = 2
        return s
    }

    func sends(_ actions: [HandoffRound.Action]) -> [Int] {
        actions.compactMap { if case .send(let i, _) = $0 { return i }; return nil }
    }

    func transferID(_ r: HandoffRound) -> UInt64 { r.transfer?.id ?? 0 }

    @Test func theNextNameOnTheRingGetsTheStoreChunkByChunk() {
        var r = HandoffRound(settings: settings, me: "b", now: 0)
        #expect(r.start(candidates: [id("a"), id("c"), id("d")], now: 0) == [.plan(id("c"))])
        var actions = r.planned(id("c"), id: 42, count: 3, now: 1)
        #expect(sends(actions) == [0, 1], "a window of 2")
        actions = r.acknowledged(transfer: 42, index: 0, now: 2)
        #expect(sends(actions) == [2])
        #expect(r.acknowledged(transfer: 7, index: 1, now: 3).isEmpty, "another transfer's acknowledgement")
        actions = r.acknowledged(transfer: 42, index: 2, now: 4)
        #expect(sends(actions) == [3], "the end is index count")
        r.sent(bytes: 100)
        actions = r.acknowledged(transfer: 42, index: 3, now: 5)
        #expect(actions == [.finish(.completed(successor: "c", chunks: 3, bytes: 100, resent: 0, milliseconds: 5))])
    }

    @Test func aDroppedConnectionResumesFromTheLastAcknowledgedChunk() {
        var r = HandoffRound(settings: settings, me: "a", now: 0)
        _ = r.start(candidates: [id("b")], now: 0)
        _ = r.planned(id("b"), id: 1, count: 10, now: 0)
        _ = r.acknowledged(transfer: 1, index: 0, now: 10)
        #expect(r.connectionLost(now: 20).contains(.redial("b")))
        #expect(r.tick(now: 500, successorLeaving: false, candidates: []).isEmpty, "within the 1 s grace")
        let resumed = r.reconnected(id("b"), candidates: [id("b")], now: 600)
        #expect(resumed.contains(.attach) && sends(resumed) == [1, 2])
        #expect(resumed.contains(.log("handoff to b resumed from chunk 1 of 11")))
    }

    @Test func aStalledSuccessorIsGivenUpForTheNextAndItsConnectionClosed() {
        var r = HandoffRound(settings: settings, me: "a", now: 0)
        _ = r.start(candidates: [id("b"), id("c")], now: 0)
        _ = r.planned(id("b"), id: 1, count: 10, now: 0)
        #expect(r.tick(now: 4999, successorLeaving: false, candidates: [id("b"), id("c")]).isEmpty)
        let next = r.tick(now: 5000, successorLeaving: false, candidates: [id("b"), id("c")])
        #expect(next.contains(.plan(id("c"))) && next.contains(.close("b")))
    }

    @Test func aRestartedOrLeavingSuccessorIsReplacedAndTheDeadlineEndsIt() {
        var r = HandoffRound(settings: settings, me: "a", now: 0)
        _ = r.start(candidates: [id("b"), id("c")], now: 0)
        _ = r.planned(id("b"), id: 1, count: 4, now: 0)
        let restarted = r.reconnected(id("b", 2), candidates: [id("b", 2), id("c")], now: 10)
        #expect(restarted.first == .log("handoff successor b restarted; starting over"))
        #expect(restarted.contains(.plan(id("b", 2))), "a new incarnation is a new candidate, from chunk 0")
        _ = r.planned(id("b", 2), id: 2, count: 4, now: 11)
        let leaving = r.tick(now: 100, successorLeaving: true, candidates: [id("b", 2), id("c")])
        #expect(leaving.contains(.plan(id("c"))), "b is leaving: the next name")
        _ = r.planned(id("c"), id: 3, count: 4, now: 101)
        let end = r.tick(now: 20_000, successorLeaving: false, candidates: [])
        #expect(end == [.finish(.incomplete(acknowledged: 0, total: 5, successor: "c", milliseconds: 20_000, reason: "deadline of 20000 ms"))])
        #expect(r.isFinished)
    }

    @Test func nobodyToHandOffTo() {
        var r = HandoffRound(settings: settings, me: "a", now: 0)
        #expect(r.start(candidates: [], now: 0) == [.finish(.noSuccessor)])
    }
}
