import Foundation
import MetMesh
import MetStore
import MetTestSupport
import MetWire
import Testing

/// F9's authenticated hostile peers (RELIABILITY S3, S6): raw clients that complete a real
/// handshake with the cluster secret and then send a frame with a bad MAC, replay a frame on
/// the same connection, or play a frame recorded on one connection into another. Each is cut
/// off with one line naming the peer and the reason, nothing they sent after the handshake is
/// applied, and the real nodes' totals stay exact.
@Suite(.serialized, .reapsProcesses) struct FrameMACTests {
    /// A batch of `inserted` 1,000 from `origin`: applied, it would show in every total.
    static func forgedBatch(origin: String) -> Frame {
        let batch = DeltaBatch(origin: Origin(node: origin, incarnation: 1), seq: 1, timestamp: Int64(Date().timeIntervalSince1970), entries: [
            DeltaBatch.Entry(series: "inserted", labels: LabelSet(["queue": "q", "state": "available"]), value: .count(1000)),
        ])
        return Frame(type: .batch, payload: BatchCodec.encode(batch))
    }

    static func heartbeat() -> Frame {
        Frame(type: .heartbeat, payload: HeartbeatCodec.encode(wallClockMilliseconds: Int64(Date().timeIntervalSince1970 * 1000)))
    }

    @Test(.timeLimit(.minutes(2)))
    func framesWithABadMACReplayedOrFromAnotherConnectionAreCutOff() async throws {
        let a = try await MetProcess(name: "a")
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress])
        try await waitUntil("a and b connected") { await a.members("alive").contains("b") }

        // 1. A heartbeat with a good MAC, then the forged batch with one bit of its MAC flipped.
        let eve = try AuthenticatedPeer(a.meshAddress, name: "eve", source: "127.0.0.2")
        eve.send(Self.heartbeat())
        var forged = eve.sealed(Self.forgedBatch(origin: "eve"))
        forged[forged.count - 1] ^= 1
        eve.sendRaw(forged)
        #expect(eve.client.closedByPeer(within: 4), "a bad MAC: the node kept the connection open")

        // 2. A frame sent twice on one connection: the second is a replay.
        let mallet = try AuthenticatedPeer(a.meshAddress, name: "mallet", source: "127.0.0.3")
        let recorded = mallet.sealed(Self.forgedBatch(origin: "mallet"))
        // The recorded frame is sent once, as a real batch would be: it is taken (the control).
        mallet.sendRaw(recorded)
        mallet.sendRaw(recorded)
        #expect(mallet.client.closedByPeer(within: 4), "a replayed frame: the node kept the connection open")

        // 3. That recorded frame played into a new connection, as its first frame.
        let oscar = try AuthenticatedPeer(a.meshAddress, name: "oscar", source: "127.0.0.4")
        oscar.sendRaw(recorded)
        #expect(oscar.client.closedByPeer(within: 4), "a frame from another connection: the node kept the connection open")

        // The real nodes carry on, exact: a's and b's events, mallet's one batch (taken once,
        // its replay refused), nothing of eve's or oscar's.
        try await ClusterTests.post(to: a, inserted: 3)
        try await ClusterTests.post(to: b, inserted: 4)
        try await waitUntil("a and b converge on 3 + 4 + mallet's 1000") {
            let ta = await ClusterTests.total(a), tb = await ClusterTests.total(b)
            return ta == 1007 && tb == 1007
        }
        let aSees = await a.members("alive"), bSees = await b.members("alive")
        #expect(aSees.contains("b") && bSees.contains("a"), "the real nodes stayed connected")

        let lines = a.log.split(separator: "\n")
        func line(_ host: String) -> [Substring] { lines.filter { $0.contains("connection from \(host):") } }
        #expect(line("127.0.0.2").count == 1 && line("127.0.0.2").first?.contains("eve sent a frame with a bad MAC") == true, "\(line("127.0.0.2"))")
        #expect(line("127.0.0.3").count == 1 && line("127.0.0.3").first?.contains("mallet sent a replayed frame") == true, "\(line("127.0.0.3"))")
        #expect(line("127.0.0.4").count == 1 && line("127.0.0.4").first?.contains("oscar sent a frame with a bad MAC") == true, "\(line("127.0.0.4"))")
        for n in [a, b] { #expect(!n.log.contains(MetProcess.secret), "RELIABILITY S9: the secret reached \(n.name)'s log") }
    }
}
