import Foundation
import Testing

/// The dashboard and markers across real `met node` processes: a marker recorded on one node
/// (with `met mark`) is listed and drawn by the other, also when it was the stopping node's last act.
@Suite(.reapsProcesses) struct DashboardClusterTests {
    static func markers(_ node: MetProcess) async -> [[String: Any]] {
        guard let (status, data) = try? await node.get("/api/markers"), status == 200 else { return [] }
        return (try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
    }

    static func has(_ node: MetProcess, _ label: String, from origin: String) async -> Bool {
        await markers(node).contains { $0["label"] as? String == label && $0["node"] as? String == origin }
    }

    @Test(.timeLimit(.minutes(4)))
    func markersReplicateAreDrawnEverywhereAndSurviveAStop() async throws {
        let a = try await MetProcess(name: "a")
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress])
        try await waitUntil("a and b are connected") {
            let (ma, mb) = (await a.members("alive"), await b.members("alive"))
            return ma == ["b"] && mb == ["a"]
        }

        let marked = try QueryCommandTests.met(["mark", "deploy v7", "--at-node", a.httpAddress])
        #expect(marked.status == 0 && marked.output.contains("marked \"deploy v7\" at ") && marked.output.hasSuffix("on a\n"), "\(marked)")
        try await waitUntil("b lists a's marker") { await Self.has(b, "deploy v7", from: "a") }
        let (status, page) = try await b.get("/?range=5m")
        let html = String(decoding: page, as: UTF8.self)
        #expect(status == 200 && html.contains(">deploy v7<title>deploy v7 — ") && html.contains("marked on a</title>"))
        let (liveStatus, live) = try await b.get("/dashboard/live?range=5m")
        #expect(liveStatus == 200 && String(decoding: live, as: UTF8.self).hasPrefix("<div id=\"live-root\""))

        let empty = try QueryCommandTests.met(["mark", "", "--at-node", a.httpAddress])
        #expect(empty.status == 1 && empty.output.contains("400") && empty.output.contains("label must not be empty"), "\(empty)")
        let future = Int(Date().timeIntervalSince1970) + 3600
        let ahead = try QueryCommandTests.met(["mark", "later", "--at", "\(future)", "--at-node", a.httpAddress])
        #expect(ahead.status == 1 && ahead.output.contains("in the future"), "\(ahead)")
        let unreachable = try QueryCommandTests.met(["mark", "x", "--at-node", "127.0.0.1:1"])
        #expect(unreachable.status == 1 && unreachable.output.contains("cannot reach"), "\(unreachable)")
        let help = try QueryCommandTests.met(["mark", "--help"])
        #expect(help.output.contains("--at-node") && help.output.contains("--at <at>"), "\(help)")

        // Marked just before a stops: it leaves with a's last batch (or its handoff) and stays on b.
        let last = try QueryCommandTests.met(["mark", "last words", "--at-node", a.httpAddress])
        #expect(last.status == 0, "\(last)")
        try await a.stop()
        try await waitUntil("b holds a's last marker") { await Self.has(b, "last words", from: "a") }
        #expect(await Self.has(b, "deploy v7", from: "a"))
    }
}
