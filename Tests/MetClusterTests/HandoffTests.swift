import Foundation
import Testing

/// The successor handoff (DESIGN §6; RELIABILITY H2–H7, F12, F13 CI tier) with real `met node`
/// processes. In every test node `a` holds history no other node has: its fault plane drops the
/// catch-up and resend requests, and it keeps a single batch for resends, so the peers that join
/// after the events were posted can only get them from a's handoff. Small chunks (1 KiB) make a
/// few thousand events a transfer of hundreds of chunks.
@Suite(.serialized, .reapsProcesses) struct HandoffTests {
    /// Job stops posted to `a` (MET_HANDOFF_JOBS: 3,000 in CI, more in `scripts/soak`).
    static let jobs = RestartTests.setting("MET_HANDOFF_JOBS", 3000)
    /// F12's store: RELIABILITY asks 50k rows in CI (260k in the long tier, `scripts/soak`).
    static let f12Rows = RestartTests.setting("MET_HANDOFF_F12_ROWS", 50_000)
    /// About 200 chunks for F12's CI store, so that the cut at the 100th acknowledgement comes
    /// near half of them (RELIABILITY F12: "after 50 % of chunks are acknowledged").
    static let f12ChunkBytes = min(1 << 20, 40_960 * f12Rows / 50_000)

    /// `a` with its history isolated, plus `faults` of the test's own.
    static func isolated(faults: String = "", chunkBytes: Int = 1024, arguments: [String] = []) async throws -> MetProcess {
        let rules = ["drop:snapshotRequest:1", "drop:resend:1"] + (faults.isEmpty ? [] : [faults])
        return try await MetProcess(name: "a", arguments: [
            "--max-label-sets", String(Self.labelSetLimit), "--retransmit-window", "1", "--handoff-chunk-bytes", String(chunkBytes), "--test-faults", rules.joined(separator: ","),
        ] + arguments)
    }

    /// The label-set limit of these nodes: the big stores give one node more label sets per
    /// series than the default (20,000) allows.
    static let labelSetLimit = 1_000_000

    /// Posts `jobs` job stops over `queues` queues × `workers` workers (coprime counts: 700
    /// label sets by default; a label set makes 2 rows: its exec_time and wait_time).
    static func postHistory(to node: MetProcess, jobs: Int = jobs, queues: Int = 100, workers: Int = 7) async throws {
        // 5,000 lines a request: well within the client's 10 s timeout on a loaded machine.
        for start in stride(from: 0, to: jobs, by: 5_000) {
            let lines = (start..<min(jobs, start + 5_000)).map { i in
                #"{"event":"job_stop","queue":"q\#(i % queues)","worker":"W\#(i % workers)","state":"completed","exec_ns":\#(1000 + i)}"#
            }
            let (status, body) = try await node.post(events: lines)
            #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
        }
        // In the node's store (its next batch), before anyone joins: a peer connected earlier
        // would receive the history by broadcast.
        try await waitUntil("\(node.name) holds the \(jobs) job stops") { await jobCount(node) == Double(jobs) }
    }

    /// The last batch of `member` that `node` applied (`/api/cluster`; 0 when none).
    static func seq(of member: String, on node: MetProcess) async -> Int {
        let members = await node.cluster()?["members"] as? [[String: Any]] ?? []
        return members.first { $0["name"] as? String == member }?["seq"] as? Int ?? 0
    }

    /// The points `node`'s store holds (`/api/cluster`).
    static func rows(_ node: MetProcess) async -> Int {
        (await node.cluster()?["store"] as? [String: Any])?["rows"] as? Int ?? 0
    }

    static func jobCount(_ node: MetProcess) async -> Double {
        await node.latest("exec_time", query: "lookback=3600&op=count")?["all"] ?? 0
    }

    /// Starts `names` seeded to `a`, waits until `a` is connected to all of them, and checks the
    /// premise: none of them holds a's history.
    static func joiners(_ names: [String], to a: MetProcess, arguments: [String: [String]] = [:]) async throws -> [MetProcess] {
        var nodes: [MetProcess] = []
        for name in names {
            let limit = ["--max-label-sets", String(Self.labelSetLimit)]
            nodes.append(try await MetProcess(name: name, seeds: [a.meshAddress], arguments: limit + (arguments[name] ?? [])))
        }
        try await waitUntil("a is connected to \(names)") { Set(names).isSubset(of: await a.members("alive")) }
        // A few broadcast intervals with the connections up (a has applied 3 batches of each
        // joiner): a's history would have reached them by now, were it not for the fault plane.
        try await waitUntil("a has applied 3 batches of each of \(names)") {
            for name in names where await Self.seq(of: name, on: a) < 3 { return false }
            return true
        }
        for n in nodes { #expect(await jobCount(n) == 0, "\(n.name) must not hold a's history before the handoff") }
        return nodes
    }

    /// Stops `node` with SIGTERM; returns how long it took to exit.
    static func timedStop(_ node: MetProcess) async throws -> Duration {
        let start = ContinuousClock.now
        try await node.stop(SIGTERM)
        return ContinuousClock.now - start
    }

    /// F13, kill variant (H5): the successor dies after acknowledging its first chunk; the next
    /// successor (deterministic: the next name) gets the whole store, and the totals are exact.
    @Test(.timeLimit(.minutes(4)))
    func aSuccessorKilledMidHandoffIsReplacedByTheNext() async throws {
        let a = try await Self.isolated()
        try await Self.postHistory(to: a)
        let nodes = try await Self.joiners(["b", "c"], to: a, arguments: ["b": ["--test-faults", "kill:handoffChunk:2"]])
        let (b, c) = (nodes[0], nodes[1])
        let took = try await Self.timedStop(a)
        #expect(a.process.terminationStatus == 0)
        #expect(!b.process.isRunning && b.process.terminationReason == .uncaughtSignal, "b killed itself mid-handoff")
        #expect(await Self.jobCount(c) == Double(Self.jobs))
        let log = a.log
        #expect(log.contains("handoff to b started") && log.contains("handoff to c done"))
        #expect(log.contains("did not come back within 1000 ms"))
        #expect(took < .seconds(10), "the stop ends well within its deadline (took \(took))")
    }

    /// F13, stall variant (H5, H6): the successor freezes after its first chunk; after the ack
    /// timeout the next one gets the store. The frozen one, resumed, drops its partial transfer
    /// within 10 s, and what it merged of it is not counted twice when it catches up.
    @Test(.timeLimit(.minutes(4)))
    func aStalledSuccessorIsGivenUpAndDropsItsPartialTransferWhenResumed() async throws {
        let a = try await Self.isolated(arguments: ["--handoff-ack-timeout", "1"])
        try await Self.postHistory(to: a)
        let nodes = try await Self.joiners(["b", "c"], to: a, arguments: ["b": ["--test-faults", "stop:handoffChunk:2"]])
        let (b, c) = (nodes[0], nodes[1])
        let took = try await Self.timedStop(a)
        #expect(a.process.terminationStatus == 0)
        #expect(took < .seconds(10), "H5: the next successor after the 1 s ack timeout (the whole stop took \(took))")
        #expect(a.log.contains("giving it up as stalled") && a.log.contains("handoff to c done"))
        #expect(await Self.jobCount(c) == Double(Self.jobs))
        kill(b.process.processIdentifier, SIGCONT)
        try await waitUntil("b, resumed, abandons the partial transfer", within: 15) { b.log.contains("abandoned the handoff from a") }
        // b still catches up (from c, as its catch-up peer a is gone): the chunks it merged
        // from the abandoned transfer are not counted twice.
        try await waitUntil("b holds the history exactly once") { await Self.jobCount(b) == Double(Self.jobs) }
        // And stays so while c's batches keep arriving (three more applied on b).
        let seen = await Self.seq(of: "c", on: b)
        try await waitUntil("b applies three more of c's batches") { await Self.seq(of: "c", on: b) >= seen + 3 }
        #expect(await Self.jobCount(b) == Double(Self.jobs))
    }

    /// The integer just before `marker` in `text` ("… (4 re-sent after …" → 4), looking after
    /// `anchor` when given.
    static func number(before marker: String, in text: String, after anchor: String? = nil) -> Int? {
        var text = Substring(text)
        if let anchor {
            guard let a = text.range(of: anchor) else { return nil }
            text = text[a.upperBound...]
        }
        guard let range = text.range(of: marker) else { return nil }
        let digits = text[..<range.lowerBound].reversed().prefix { $0.isNumber }
        return Int(String(digits.reversed()))
    }
}
