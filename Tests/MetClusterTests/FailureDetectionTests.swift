import Foundation
import MetTestSupport
import Testing

/// RELIABILITY F1 and F3 (CI tier) with real `met node` processes: a follower SIGKILLed and
/// restarted, and stalls below and above the detection threshold under a saturated CPU.
@Suite(.serialized) struct FailureDetectionTests {
    /// CI's schedule of short stalls; `scripts/soak` runs RELIABILITY's nightly one (20 stalls,
    /// one every 30 s).
    static let stallRounds = RestartTests.setting("MET_STALL_ROUNDS", 5)
    static let stallPeriodMs = RestartTests.setting("MET_STALL_PERIOD_MS", 3000)

    /// F1 (M1, M6, M10, H10, H11): N = 4, 500 events/s spread over the nodes; SIGKILL n3 and
    /// restart it 10 s later. n3 is down on every other node within 2 s; the restarted n3 has a
    /// new incarnation, is alive everywhere within 2 s and serves the full history; everything
    /// is exact but n3's events of its last second.
    @Test(.timeLimit(.minutes(4)), .reapsProcesses)
    func aKilledFollowerIsDownWithinTwoSecondsAndItsRestartServesEverything() async throws {
        var rng = SplitMix64(seed: Failure.seed("aKilledFollowerIsDownWithinTwoSecondsAndItsRestartServesEverything"))
        let first = try await MetProcess(name: "n0")
        var started = [first]
        for i in 1..<4 { started.append(try await MetProcess(name: "n\(i)", seeds: [first.meshAddress])) }
        let live = Live(started)
        let load = Load(perSecond: 500)
        let feeding = Task { await load.run { live.answering } }
        try await waitUntil("a full mesh of 4, every node ready") {
            for n in live.all {
                guard await n.members("alive").count == 3, await n.cluster()?["ready"] as? Bool == true else { return false }
            }
            return true
        }
        try await Task.sleep(for: .milliseconds(1000 + rng.below(2000)))  // events flow for a while: part of the load, not a wait
        let victim = started[3]
        let oldIncarnation = try #require(await ClusterTests.incarnation(of: "n3", at: first))
        try await victim.stop(SIGKILL)
        let killed = ContinuousClock.now  // at or after n3's exit
        let bound = load.recent("n3")
        let survivors = Array(started[0..<3])
        // The bounds below are timed by what the survivors showed when asked, not by how long a
        // loaded machine took to ask three of them (``Observed``).
        let down = try await waitUntil("n3 down on every survivor", within: 30) {
            for n in survivors where await Failure.status(of: "n3", at: n) != "down" { return false }
            return true
        }
        let downAfter = down.late(after: killed)
        #expect(downAfter <= .seconds(2), "M1: down on all within 2 s of the exit (a survivor still showed it otherwise \(downAfter) after)")
        try await Task.sleep(for: .seconds(10) - (ContinuousClock.now - killed))  // F1: the restart comes 10 s after the kill
        let again = try await MetProcess(name: "n3", seeds: [survivors[rng.below(3)].meshAddress])
        // M6 counts from the node's first heartbeat: from once it listens, not from the launch of
        // a process that a loaded machine may take seconds to start.
        let listening = ContinuousClock.now
        live.replace("n3", with: again)
        let alive = try await waitUntil("the new n3 alive on every other node", within: 30) {
            for n in survivors where await Failure.status(of: "n3", at: n) != "alive" { return false }
            return true
        }
        let aliveAfter = alive.late(after: listening)
        #expect(aliveAfter <= .seconds(2), "M6: the restarted node is alive everywhere within 2 s (a survivor still showed it otherwise \(aliveAfter) after it listened)")
        let newIncarnation = await ClusterTests.incarnation(of: "n3", at: first)
        #expect(newIncarnation != nil && newIncarnation != oldIncarnation, "M10: a new incarnation")
        try await waitUntil("the new n3 ready") { await again.cluster()?["ready"] as? Bool == true }
        try await Task.sleep(for: .seconds(1))  // events reach the restarted node too: part of the load
        load.stop()
        await feeding.value
        try await Failure.converge(live.all, to: load.posted, bounds: ["n3": bound], within: 10,
                                   "every node, the restarted n3 included, serves the model's totals")
    }

    /// F3 (M2, M4, M5, M6): N = 4 under a saturated CPU; a seeded schedule stops a random node
    /// for 2 s every 3 s or so (5 stalls in CI; 20, every 30 s, in `scripts/soak`): no node is
    /// ever shown `down`. Then one node
    /// is stopped for 12 s: `suspect` within 3.5 s and `down` within 8 s on every other node;
    /// once resumed it accuses nobody, is `alive` everywhere within 2 s, and every total is
    /// exact within 5 s. The detection timings are RELIABILITY's defaults (heartbeat 1 s,
    /// suspect 2.5 s, down 6 s, indirect window 2 s, guard after 1 s of lag).
    @Test(.timeLimit(.minutes(15)), .reapsProcesses(alone: true))
    func stallsBelowTheThresholdAccuseNobodyAndALongOneIsDetectedInTime() async throws {
        var rng = SplitMix64(seed: Failure.seed("stallsBelowTheThresholdAccuseNobodyAndALongOneIsDetectedInTime"))
        let defaults = ["--heartbeat-interval", "1", "--suspect-after", "2.5", "--silence-limit", "6", "--indirect-window", "2",
                        "--local-lag-guard", "1"]
        let first = try await MetProcess(name: "n0", arguments: defaults)
        var started = [first]
        for i in 1..<4 { started.append(try await MetProcess(name: "n\(i)", seeds: [first.meshAddress], arguments: defaults)) }
        let live = Live(started)
        try await waitUntil("a full mesh of 4") {
            for n in started where await n.members("alive").count != 3 { return false }
            return true
        }
        _ = try CPUBurner()
        _ = try CPUBurner()
        let load = Load(perSecond: 100, postsPerSecond: 10)
        let feeding = Task { await load.run { live.answering } }
        for round in 0..<Self.stallRounds {
            let node = started[rng.below(4)]
            live.pause(node)
            try await Task.sleep(for: .seconds(2))  // the fault itself: a 2 s stall
            live.resume(node)
            print("F3 round \(round): stopped \(node.name) for 2 s")
            try await Task.sleep(for: .milliseconds(Self.stallPeriodMs - 2000 + rng.below(1000)))  // the schedule's period
        }
        for n in started {
            let downs = Failure.accusations(in: n).filter { $0.contains(" down:") }
            #expect(downs.isEmpty, "M4: no down for stalls of 2 s, but \(n.name) logged \(downs)")
        }

        let stopped = started[rng.below(4)]
        let others = started.filter { $0 !== stopped }
        // Per observer: when it was first seen suspecting (and marking down) the stopped node, and
        // when it was last seen not yet doing so, each timed from the moment the test asked. The
        // bounds hold on the latter: an observer asked after the bound that still showed the node
        // alive is late; a loaded machine slow to ask (or to carry the answer back) is not.
        var suspectAt: [String: Duration] = [:], notSuspectAt: [String: Duration] = [:]
        var downAt: [String: Duration] = [:], notDownAt: [String: Duration] = [:]
        live.pause(stopped)
        let since = ContinuousClock.now  // at or after the stop
        while ContinuousClock.now - since < .seconds(12) {
            for n in others {
                let asked = ContinuousClock.now - since
                guard let status = await Failure.status(of: stopped.name, at: n) else { continue }  // no answer: no evidence
                let suspected = status == "suspect" || status == "down"
                if suspected, suspectAt[n.name] == nil { suspectAt[n.name] = asked }
                if !suspected, suspectAt[n.name] == nil { notSuspectAt[n.name] = asked }
                if status == "down", downAt[n.name] == nil { downAt[n.name] = asked }
                if status != "down", downAt[n.name] == nil { notDownAt[n.name] = asked }
            }
            try await Task.sleep(for: .milliseconds(100))  // sampling period of the observation
        }
        let offset = stopped.log.utf8.count
        live.resume(stopped)
        let resumed = ContinuousClock.now
        for n in others {
            let notYet = notSuspectAt[n.name] ?? .zero, notDown = notDownAt[n.name] ?? .zero
            #expect(suspectAt[n.name] != nil && notYet <= .seconds(3.5),
                    "M2: \(n.name) suspected \(stopped.name) (first seen at \(String(describing: suspectAt[n.name]))), still not at \(notYet)")
            #expect(downAt[n.name] != nil && notDown <= .seconds(8),
                    "M2: \(n.name) marked \(stopped.name) down (first seen at \(String(describing: downAt[n.name]))), still not at \(notDown)")
        }
        let alive = try await waitUntil("\(stopped.name) alive again everywhere", within: 30) {
            for n in others where await Failure.status(of: stopped.name, at: n) != "alive" { return false }
            return true
        }
        #expect(alive.late(after: resumed) <= .seconds(2), "M6: alive within 2 s of resuming (still not on some node \(alive.late(after: resumed)) after)")
        try await Task.sleep(for: .seconds(1))  // the resumed node records again: part of the load
        load.stop()
        await feeding.value
        let exact = try await Failure.converge(started, to: load.posted, unanswered: load.unanswered, within: 30, "every total exact")
        #expect(exact.late(after: resumed) <= .seconds(5), "F3: every total exact within 5 s of the resume (a node was still short \(exact.late(after: resumed)) after)")
        #expect(Failure.accusations(in: stopped, after: offset).isEmpty, "M5: the resumed node accuses nobody: \(Failure.accusations(in: stopped, after: offset))")
        #expect(stopped.log.contains("own loop stalled"), "its guard noticed the stop")
    }
}
