import Foundation
import MetPostgres
import Testing

/// F8 (RELIABILITY L4, O4): three real `met node` processes, one with its wall clock 30 s
/// ahead and one 30 s behind (Debian's libfaketime, monotonic clock untouched; ``Faketime``).
/// Each node corrects its clock to the median of the live clocks (docs/operations.md, "Clock
/// skew"), so every node counts every event in every window: totals exact.
@Suite(.serialized, .reapsProcesses, .enabled(if: Faketime.isAvailable, "libfaketime is not installed: run scripts/test (it installs faketime)"))
struct ClockSkewTests {
    /// `/api/cluster`'s `clockCorrectionMs`.
    static func correction(_ node: MetProcess) async -> Int? { await node.cluster()?["clockCorrectionMs"] as? Int }

    /// The values of `timeslice` rows, summed.
    static func timesliceTotal(_ node: MetProcess, _ query: String) async -> Double? {
        guard let (status, data) = try? await node.get("/api/timeslice/inserted?\(query)"), status == 200,
              let rows = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return nil }
        return rows.reduce(0) { $0 + (($1["value"] as? Double) ?? 0) }
    }

    /// Starts b (true clock), a (+30 s) and c (−30 s), and waits until each has corrected its clock.
    static func skewedCluster(arguments: [String] = []) async throws -> (a: MetProcess, b: MetProcess, c: MetProcess) {
        let b = try await MetProcess(name: "b", arguments: arguments)
        let a = try await MetProcess(name: "a", seeds: [b.meshAddress], arguments: arguments, clockSkew: "+30s")
        let c = try await MetProcess(name: "c", seeds: [b.meshAddress], arguments: arguments, clockSkew: "-30s")
        try await waitUntil("a corrects by about −30 s, c by about +30 s, b not at all", within: 30) {
            guard let ca = await correction(a), let cb = await correction(b), let cc = await correction(c) else { return false }
            return abs(ca + 30_000) < 1_000 && cb == 0 && abs(cc - 30_000) < 1_000
        }
        return (a, b, c)
    }

    @Test("F8: ±30 s of skew; every node's 15-minute total and 60 s latest count all 3,000 events", .timeLimit(.minutes(3)))
    func totalsExactUnderSkew() async throws {
        let (a, b, c) = try await Self.skewedCluster()
        let nodes = [a, b, c]
        // The nodes' own clocks, as they report them, are 30 s apart; their corrected clocks agree.
        // Bracketed by the true clock before and after asking: a loaded machine may take
        // seconds to carry the answer back.
        for n in nodes {
            let before = Int(Date().timeIntervalSince1970)
            let now = try #require(await n.cluster()?["now"] as? Int)
            let after = Int(Date().timeIntervalSince1970)
            #expect(now >= before - 3 && now <= after + 3, "\(n.name) answers in cluster time: now \(now), the true clock \(before)…\(after)")
        }
        let line = #"{"event":"inserted","queue":"q"}"#
        let posting = Int64(Date().timeIntervalSince1970)
        for n in nodes {
            let (status, body) = try await n.post(events: Array(repeating: line, count: 1000))
            #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
        }
        for n in nodes {
            try await waitUntil("\(n.name) counts 3,000 in its 15-minute total and all three nodes in its 60 s latest", within: 30) {
                guard await Self.timesliceTotal(n, "by=900&lookback=900") == 3000 else { return false }
                return await n.latest("inserted", query: "lookback=60&group=node") == ["a": 1000, "b": 1000, "c": 1000]
            }
            // Bucketing follows cluster time: the three nodes' points lie within the true time
            // the test posted them and the nodes applied them (a few seconds when loaded), not
            // 30 s before or after it.
            let applied = Int64(Date().timeIntervalSince1970)
            let rows = try #require(await {
                guard let (s, d) = try? await n.get("/api/timeslice/inserted?by=1&lookback=120&group=node"), s == 200 else { return nil }
                return try? JSONSerialization.jsonObject(with: d) as? [[String: Any]]
            }() as [[String: Any]]?)
            let stamps = rows.compactMap { ($0["ts"] as? NSNumber)?.int64Value }
            #expect(!stamps.isEmpty && stamps.allSatisfy { $0 >= posting - 3 && $0 <= applied + 3 },
                    "\(n.name): the nodes' points lie at \(rows), posted and applied in \(posting)…\(applied)")
        }
        // O4: one offset warning per peer on each node; the correction is logged where it applies.
        for (n, peers) in [(a, ["b", "c"]), (b, ["a", "c"]), (c, ["a", "b"])] {
            for p in peers {
                let warnings = n.log.components(separatedBy: "\n").filter { $0.contains("the clock of \(p) is") }
                #expect(warnings.count == 1, "\(n.name) warned \(warnings.count) times about \(p)'s clock")
            }
        }
        #expect(a.log.contains("clock correction -30"), "a logs its correction")
        #expect(c.log.contains("clock correction +30") || c.log.contains("clock correction +29"), "c logs its correction")
        // b may correct halfway for a moment while it has heard only one of the others; it ends at 0.
        let bLines = b.log.components(separatedBy: "\n").filter { $0.contains("clock correction") }
        #expect(bLines.isEmpty || bLines.last?.contains("clock correction lifted") == true, "b, the median, ends uncorrected: \(bLines)")
        for n in nodes { try await n.stop() }
        for n in nodes { #expect(n.process.terminationStatus == 0, "\(n.name) stopped cleanly:\n\(n.log.suffix(2000))") }
    }

    @Test("F8, L4: with ±30 s of skew the keyframe lease holds, one leader and term, keyframes on every node",
          .enabled(if: !skipPostgres && databaseURL != nil, "needs MET_TEST_DATABASE_URL (scripts/test)"), .timeLimit(.minutes(3)))
    func leaseUnaffectedBySkew() async throws {
        let setup = try KeyframeClusterTests.Setup(url: try #require(databaseURL))
        ProcessGroup.afterProcesses { setup.drop() }
        try setup.insert(40, queue: "q0")
        let (a, b, c) = try await Self.skewedCluster(arguments: setup.arguments)
        let nodes = [a, b, c]
        let first = try await KeyframeClusterTests.agreedLeader(nodes)
        // Three lease durations (3 s each, renewed every second): the skewed leader or followers
        // never see the lease expire early or late, so nobody takes it over.
        let until = ContinuousClock.now + .seconds(9)
        while ContinuousClock.now < until {
            for n in nodes {
                if let l = await KeyframeClusterTests.leader(n) {
                    #expect(l.name == first.name && l.term == first.term, "\(n.name) sees \(l) after \(first)")
                }
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        for n in nodes {
            try await waitUntil("\(n.name) serves full_count from the leader's keyframes", within: 20) {
                await n.latest("full_count", query: "group=state&filter=queue:q0")?["available"] == 40
            }
            #expect(!n.log.contains("fenced"), "\(n.name) never fenced itself")
        }
    }
}
