import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MetPostgres
import Testing

/// Keyframes after a Postgres outage longer than the lease, and nodes without a keyframe
/// (RELIABILITY L1, L7; docs/full-count.md): every acquisition of the lease is a new term, so a
/// leader that takes its own lease back is followed at once; a node that joins while no new
/// keyframe can be taken gets the current one from its peers; a node with none says so.
@Suite(
    .reapsProcesses,
    .serialized,
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres")
)
struct KeyframeOrderTests {
    static func available(_ node: MetProcess) async -> Double? {
        await node.latest("full_count", query: "group=state&filter=queue:q0")?["available"]
    }

    static func term(_ node: MetProcess) async -> Int? {
        (await node.cluster()?["keyframe"] as? [String: Any])?["term"] as? Int
    }

    @Test(.timeLimit(.minutes(4)))
    func aLeaderRetakingItsLeaseAfterAnOutageIsFollowedAndJoinersGetItsKeyframe() async throws {
        let pg = try ThrowawayPostgres()
        ProcessGroup.afterProcesses { pg.destroy() }
        let setup = try KeyframeClusterTests.Setup(url: pg.url)
        try setup.insert(12, queue: "q0")
        // Only a has the database: it is the one leader, before and after the outage.
        let a = try await MetProcess(name: "a", arguments: setup.arguments)
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress], arguments: ["--cluster", setup.cluster])
        var nodes = [a, b]
        try await waitUntil("both serve the count") {
            let sa = await Self.available(a), sb = await Self.available(b)
            return sa == 12 && sb == 12
        }
        try await waitUntil("several keyframes of the first term") {
            ((await a.cluster()?["keyframe"] as? [String: Any])?["number"] as? Int ?? 0) >= 7
        }
        let before = try #require(await Self.term(a))
        setup.conn.close()
        try pg.stopImmediately()
        let down = ContinuousClock.now
        try await waitUntil("a fenced itself") { a.log.contains("stopped issuing keyframes (fenced)") }
        // A node joining now gets the keyframe its peers hold, although none can be taken.
        let c = try await MetProcess(name: "c", seeds: [b.meshAddress], arguments: ["--cluster", setup.cluster])
        nodes.append(c)
        try await waitUntil("c serves the keyframe it was given as it joined") { await Self.available(c) == 12 }
        // Longer than the lease (3 s) before Postgres comes back.
        while ContinuousClock.now - down < .seconds(5) { try await Task.sleep(for: .milliseconds(100)) }
        try pg.start()
        let conn = try PostgresConnection(connectionString: pg.url)
        _ = try conn.query("INSERT INTO \(setup.table) (queue, worker) SELECT 'q0', 'W' FROM generate_series(1, 3)")
        let back = ContinuousClock.now  // Postgres is up and holds the new jobs
        // Timed by what the nodes served when asked, not by how long asking three of them took.
        let observed = try await waitUntil("every node serves the new count", within: 30) {
            for n in nodes where await Self.available(n) != 15 { return false }
            return true
        }
        let late = observed.late(after: back)
        print("keyframes followed within \(ContinuousClock.now - back) after Postgres returned; a node last seen without them \(late) after")
        #expect(late <= .seconds(5), "RELIABILITY L7: keyframes resume within 5 s of Postgres's return (a node still served the old count \(late) after)")
        for n in nodes {
            let t = await Self.term(n)
            #expect(t.map { $0 > before } == true, "\(n.name) serves term \(t ?? -1), after term \(before)")
        }
    }

    @Test(.timeLimit(.minutes(4)))
    func aNodeWithoutAKeyframeAnswersNullAndSaysWhy() async throws {
        let a = try await MetProcess(name: "a")
        let (status, body) = try await a.get("/api/latest/full_count?group=state")
        #expect(status == 200)
        let values = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        #expect(Set(values.keys) == Set(JobSchema.states) && values.values.allSatisfy { $0 is NSNull }, "null, never 0: \(values)")
        let all = try JSONSerialization.jsonObject(with: try await a.get("/api/latest/full_count").1) as? [String: Any]
        #expect(all?["all"] is NSNull)
        try await waitUntil("the reason is known") {
            let fc = await a.cluster()?["fullCount"] as? [String: Any]
            return fc?["available"] as? Bool == false && (fc?["reason"] as? String)?.contains("no database") == true
        }
        var request = URLRequest(url: URL(string: "http://\(a.httpAddress)/api/latest/full_count")!)
        request.timeoutInterval = 10
        let (_, response) = try await URLSession.shared.data(for: request)
        let why = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Met-Unavailable")
        #expect(why?.contains("no database") == true, "\(why ?? "no header")")
    }
}
