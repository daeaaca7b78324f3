import Foundation
import Testing

/// Real `met node` processes on loopback, checked through the HTTP API against what the test
/// itself posted. One test at a time: each starts several processes on a 2-core machine.
@Suite(.serialized, .reapsProcesses) struct ClusterTests {
    /// Posts `n` `inserted` events and `jobs` job stops (exec 1 ms) of queue `q` to a node.
    static func post(to node: MetProcess, inserted n: Int, jobs: Int = 0, queue: String = "q") async throws {
        var lines = [#"{"event":"inserted","queue":"\#(queue)","state":"available","count":\#(n)}"#]
        for k in 0..<jobs {
            lines.append(#"{"event":"job_start","queue":"\#(queue)","worker":"W"}"#)
            lines.append(#"{"event":"job_stop","queue":"\#(queue)","worker":"W","state":"completed","exec_ns":\#(1_000_000 + k),"wait_ns":50}"#)
        }
        let (status, body) = try await node.post(events: lines)
        #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
    }

    static func total(_ node: MetProcess, _ series: String = "inserted") async -> Double? {
        await node.latest(series)?["all"]
    }

    static func stopAll(_ nodes: [MetProcess]) async {
        for n in nodes { try? await n.stop() }
    }

    @Test(.timeLimit(.minutes(4)))
    func eventsPostedToEachNodeAreVisibleOnAllWithExactTotals() async throws {
        let a = try await MetProcess(name: "a")
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress])
        let c = try await MetProcess(name: "c", seeds: [a.meshAddress])
        let nodes = [a, b, c]
        for (i, n) in nodes.enumerated() { try await Self.post(to: n, inserted: 100 * (i + 1), jobs: 10 * (i + 1)) }
        // More while the mesh may still be forming, in several requests per node.
        for round in 1...5 { for n in nodes { try await Self.post(to: n, inserted: round) } }
        let expected = Double(100 + 200 + 300 + 3 * 15)
        try await waitUntil("every node holds every node's events") {
            var all = true
            for n in nodes where await Self.total(n) != expected { all = false }
            return all
        }
        for n in nodes {
            #expect(await n.latest("exec_time", query: "lookback=3600&op=count")?["all"] == 60, "\(n.name)")
            let byNode = await n.latest("inserted", query: "lookback=3600&group=node")
            #expect(byNode == ["a": 115, "b": 215, "c": 315], "\(n.name)")
        }
        for n in nodes { try await n.stop() }
        for n in nodes { #expect(n.process.terminationStatus == 0, "\(n.name) exit status") }
    }

    @Test(.timeLimit(.minutes(4)))
    func aNodeStartedWithOneSeedLearnsEveryMemberAndTheMeshIsFull() async throws {
        // A chain: each node knows only the one started before it.
        var nodes: [MetProcess] = []
        for i in 0..<5 {
            nodes.append(try await MetProcess(name: "n\(i)", seeds: nodes.last.map { [$0.meshAddress] } ?? []))
        }
        let names = Set(nodes.map(\.name))
        let started = ContinuousClock.now  // the last node is up
        // Timed by what the nodes showed: M8's 5 s fails only if a node asked more than 5 s after
        // the last one started still lacked a peer (polling five nodes may take seconds when loaded).
        let observed = try await waitUntil("every node connected to every other", within: 30) {
            var full = true
            for n in nodes where await n.members("alive") != names.subtracting([n.name]) { full = false }
            return full
        }
        let late = observed.late(after: started)
        #expect(late <= .seconds(5), "RELIABILITY M8: a node still lacked a peer \(late) after the last one started (full mesh ≤ 5 s)")
    }

    @Test(.timeLimit(.minutes(4)))
    func aPeerThatExitsIsDownEverywhereAndARestartRejoinsWithANewIncarnation() async throws {
        let a = try await MetProcess(name: "a")
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress])
        let c = try await MetProcess(name: "c", seeds: [a.meshAddress])
        var nodes = [a, b, c]
        try await Self.post(to: b, inserted: 10)
        try await Self.post(to: a, inserted: 1)
        try await waitUntil("b's events everywhere") {
            let ta = await Self.total(a), tc = await Self.total(c)
            return ta == 11 && tc == 11
        }
        let oldIncarnation = try #require(await Self.incarnation(of: "b", at: a))
        try await b.stop(SIGKILL)
        let killed = ContinuousClock.now  // at or after b's exit
        let observed = try await waitUntil("b down on a and c", within: 30) {
            let da = await a.members("down"), dc = await c.members("down")
            return da.contains("b") && dc.contains("b")
        }
        let late = observed.late(after: killed)
        #expect(late < .seconds(2), "RELIABILITY M1: b was still not down on a or c \(late) after its exit (≤ 2 s)")

        // Restarted under the same name: a new incarnation, alive again everywhere.
        let b2 = try await MetProcess(name: "b", seeds: [c.meshAddress])
        nodes.append(b2)
        try await waitUntil("the new b alive on a and c") {
            let ia = await Self.incarnation(of: "b", at: a), ic = await Self.incarnation(of: "b", at: c)
            let aliveA = await a.members("alive"), aliveC = await c.members("alive")
            return ia != nil && ia != oldIncarnation && ia == ic && aliveA.contains("b") && aliveC.contains("b")
        }
        try await Self.post(to: b2, inserted: 7)
        try await Self.post(to: c, inserted: 5)
        // The old b's events stay everywhere; the new b catches up the whole store from c (the
        // old b's events included) and a's later batches by resend.
        try await waitUntil("totals exact everywhere after the restart") {
            let ta = await Self.total(a), tc = await Self.total(c), tb = await Self.total(b2)
            return ta == 23 && tc == 23 && tb == 23
        }
    }

    /// RELIABILITY M10: a second live process under a taken name. The newer incarnation wins on
    /// every node, the conflict is logged, and the older process is refused from then on.
    @Test(.timeLimit(.minutes(4)))
    func twoLiveProcessesClaimingOneNameTheNewerWins() async throws {
        let a = try await MetProcess(name: "a")
        let c = try await MetProcess(name: "c", seeds: [a.meshAddress])
        let old = try await MetProcess(name: "b", seeds: [a.meshAddress])
        var nodes = [a, c, old]
        var oldIncarnation: Int?
        try await waitUntil("the first b alive on a and c") {
            oldIncarnation = await Self.incarnation(of: "b", at: a)
            let aliveA = await a.members("alive"), aliveC = await c.members("alive")
            return oldIncarnation != nil && aliveA.contains("b") && aliveC.contains("b")
        }
        let newer = try await MetProcess(name: "b", seeds: [a.meshAddress])
        nodes.append(newer)
        try await waitUntil("the newer b is the b of a and c, and connected") {
            let ia = await Self.incarnation(of: "b", at: a), ic = await Self.incarnation(of: "b", at: c)
            let aliveA = await a.members("alive"), aliveC = await c.members("alive")
            return ia != oldIncarnation && ia == ic && aliveA.contains("b") && aliveC.contains("b")
        }
        try await waitUntil("the conflict logged on a") { a.log.contains("two processes claim the name b") }
        try await Self.post(to: newer, inserted: 9)
        try await waitUntil("the newer b's events on a and c") {
            let ta = await Self.total(a), tc = await Self.total(c)
            return ta == 9 && tc == 9
        }
        // The older process stays cut off: it never becomes b again on a.
        #expect(await Self.incarnation(of: "b", at: a) != oldIncarnation)
    }

    /// A replica cut off for longer than the origin's retransmit window (frozen past the
    /// silence limit, so the origin dropped the connection and its batches to it) is caught up
    /// by a per-origin snapshot, then applies the later batches on top, each once.
    @Test(.timeLimit(.minutes(4)))
    func aReplicaBeyondTheRetransmitWindowCatchesUpByASnapshot() async throws {
        // x keeps only its last 3 batches (0.6 s at 0.2 s intervals).
        let x = try await MetProcess(name: "x", arguments: ["--retransmit-window", "3"])
        let y = try await MetProcess(name: "y", seeds: [x.meshAddress])
        try await Self.post(to: x, inserted: 40, jobs: 5)
        try await waitUntil("y holds x's events, both ready") {
            let rx = await x.cluster()?["ready"] as? Bool, ry = await y.cluster()?["ready"] as? Bool
            let total = await Self.total(y)
            return rx == true && ry == true && total == 40
        }
        kill(y.process.processIdentifier, SIGSTOP)
        try await waitUntil("x dropped the silent y") { await x.members("down").contains("y") }
        try await Self.post(to: x, inserted: 7)
        let seqAtPost = await Self.seq(of: "x", at: x)
        try await waitUntil("x moved well past its window") { await Self.seq(of: "x", at: x) > seqAtPost + 5 }
        kill(y.process.processIdentifier, SIGCONT)
        try await waitUntil("y caught up with what it missed") {
            let t = await Self.total(y)
            let jobs = await y.latest("exec_time", query: "lookback=3600&op=count")?["all"]
            return t == 47 && jobs == 5
        }
        #expect(x.log.contains("beyond the retransmit window; sending a snapshot"))
        try await Self.post(to: x, inserted: 2)
        try await waitUntil("y applies x's later batches") { await Self.total(y) == 49 }
    }

    /// DESIGN §6 catch-up (RELIABILITY H11): a node that joins late merges a peer's whole store
    /// before it reports ready, so it serves the history from before it started, the events of
    /// a node that is gone included.
    @Test(.timeLimit(.minutes(4)))
    func aLateJoinerServesTheHistoryFromBeforeItStarted() async throws {
        let a = try await MetProcess(name: "a")
        let aUp = ContinuousClock.now
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress])
        var nodes = [a, b]
        let observed = try await waitUntil("the first node of a cluster is ready once no peer came within its patience", within: 30) {
            await a.cluster()?["ready"] as? Bool == true
        }
        #expect(observed.late(after: aUp) <= .seconds(5), "a was still not ready \(observed.late(after: aUp)) after it started (patience 1.5 s)")
        try await Self.post(to: b, inserted: 30, jobs: 4)
        try await Self.post(to: a, inserted: 5)
        try await waitUntil("a holds everything") { await Self.total(a) == 35 }
        try await b.stop(SIGKILL)  // b's events now live on a only
        let c = try await MetProcess(name: "c", seeds: [a.meshAddress])
        nodes.append(c)
        try await waitUntil("c ready with the whole history") {
            let ready = await c.cluster()?["ready"] as? Bool
            let total = await Self.total(c)
            let jobs = await c.latest("exec_time", query: "lookback=3600&op=count")?["all"]
            return ready == true && total == 35 && jobs == 4
        }
        #expect(a.log.contains("sending c a snapshot of the whole store"))
        #expect(c.log.contains("caught up from a"))
        // Merging the same data again through later batches never double counts.
        try await Self.post(to: a, inserted: 1)
        try await waitUntil("c applies what came after") { await Self.total(c) == 36 }
    }

    /// RELIABILITY H1 where every replica already holds everything: a node stopped gracefully
    /// right after events were posted to it still delivers them (its last batch goes out before
    /// its connections close), so the others' totals are exact whichever node stops. A 5 s
    /// broadcast interval makes that last batch hold every one of them.
    @Test(.timeLimit(.minutes(4)))
    func gracefulStopsOfEachNodeInTurnLoseNothing() async throws {
        let slow = ["--broadcast-interval", "5"]
        let a = try await MetProcess(name: "a", arguments: slow)
        var nodes = [a]
        for name in ["b", "c", "d"] { nodes.append(try await MetProcess(name: name, seeds: [a.meshAddress], arguments: slow)) }
        try await waitUntil("a full mesh of 4") {
            for n in nodes where await n.members("alive").count != 3 { return false }
            return true
        }
        var expected = 0.0
        for (i, leaving) in nodes.dropLast().enumerated() {
            try await Self.post(to: leaving, inserted: 10 * (i + 1))
            expected += Double(10 * (i + 1))
            try await leaving.stop(SIGTERM)
            #expect(leaving.process.terminationStatus == 0, "\(leaving.name) exits 0")
            let staying = nodes[(i + 1)...]
            try await waitUntil("the others hold \(leaving.name)'s last events", within: 15) {
                for n in staying where await Self.total(n) != expected { return false }
                return true
            }
        }
    }

    /// Anti-entropy (RELIABILITY C2, C4): b's fault plane drops every batch frame, so it holds
    /// none of a's events; a is then killed, so no resend from a can ever repair b. c's digest
    /// shows b it is behind on a dead origin, and b asks c for that origin's data: exact.
    @Test(.timeLimit(.minutes(4)))
    func aReplicaMissingADeadOriginsBatchesGetsThemFromAnotherReplica() async throws {
        let a = try await MetProcess(name: "a")
        let c = try await MetProcess(name: "c", seeds: [a.meshAddress])
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress], arguments: ["--test-faults", "drop:batch:1"])
        try await waitUntil("b is ready") { await b.cluster()?["ready"] as? Bool == true }
        try await Self.post(to: a, inserted: 17)
        try await waitUntil("c holds a's events") { await Self.total(c) == 17 }
        #expect(await Self.total(b) ?? 0 == 0, "b drops every batch: it cannot have them yet")
        try await a.stop(SIGKILL)
        try await waitUntil("b repaired from c", within: 15) { await Self.total(b) == 17 }
        #expect(b.log.contains("asking it for their data"))
    }

    static func seq(of name: String, at node: MetProcess) async -> Int {
        guard let members = await node.cluster()?["members"] as? [[String: Any]] else { return 0 }
        return members.first { $0["name"] as? String == name }?["seq"] as? Int ?? 0
    }

    static func incarnation(of name: String, at node: MetProcess) async -> Int? {
        guard let members = await node.cluster()?["members"] as? [[String: Any]] else { return nil }
        return members.first { $0["name"] as? String == name }?["incarnation"] as? Int
    }
}
