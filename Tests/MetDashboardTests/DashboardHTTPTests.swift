import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MetHTTP
import MetRecorder
import MetRuntime
import MetStore
import MetTestSupport
import Testing

/// `GET /`, `/dashboard/live`, `/dashboard.js` and the markers endpoints of a real in-process
/// node (its mesh on a loopback port, its recorder's batches applied to its replica), through
/// its router.
@Suite struct DashboardHTTPTests {
    /// Runs `body` with a running node's router; stops the node after.
    static func withNode(_ body: @Sendable (NodeRuntime, any TestClientProtocol) async throws -> Void) async throws {
        var config = NodeConfig()
        config.node = "web"
        config.cluster = "dash"
        config.listen = "127.0.0.1:0"
        config.secret = "dashboard-tests-secret-0123456789abcdef"
        config.broadcastInterval = 0.2
        let runtime = try await NodeRuntime(try config.validate(environment: [:]), logger: Logger(label: "test"))
        let running = Task { await runtime.run() }
        do {
            try await Application(router: APIRoutes.router(for: runtime)).test(.router) { client in try await body(runtime, client) }
        } catch {
            running.cancel()
            await running.value
            await runtime.shutdown()
            throw error
        }
        running.cancel()
        await running.value
        await runtime.shutdown()
    }

    static func get(_ client: some TestClientProtocol, _ uri: String) async throws -> (HTTPResponse.Status, String, HTTPFields) {
        try await client.execute(uri: uri, method: .get) { ($0.status, String(buffer: $0.body), $0.headers) }
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, _ body: String) async throws -> (HTTPResponse.Status, String) {
        try await client.execute(uri: uri, method: .post, body: ByteBuffer(string: body)) { ($0.status, String(buffer: $0.body)) }
    }

    /// Jobs posted to the node show on its page: the executed chart's legend totals per state,
    /// the bars, the execution time lines, the histogram; bad controls are a 400 naming them.
    @Test(.timeLimit(.minutes(1)))
    func thePageShowsWhatWasRecorded() async throws {
        try await Self.withNode { _, client in
            var lines: [String] = []
            for (state, n) in [("completed", 7), ("retryable", 2), ("discarded", 1)] {
                for i in 0..<n {
                    lines.append(#"{"event":"job_stop","queue":"q\#(i % 2)","worker":"W","state":"\#(state)","exec_ns":\#((i + 1) * 1_000_000),"wait_ns":1000}"#)
                }
            }
            let (status, _) = try await Self.post(client, "/api/events", lines.joined(separator: "\n"))
            #expect(status == .ok)
            try await eventually("the page counts the 10 jobs") {
                try await Self.get(client, "/dashboard/live?range=5m").1.contains("completed <b data-v=\"7\">7</b>")
            }
            let (pageStatus, page, headers) = try await Self.get(client, "/?range=5m")
            #expect(pageStatus == .ok && headers[.contentType] == "text/html; charset=utf-8")
            #expect(headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            #expect(page.hasPrefix("<!doctype html>") && page.contains("served by <b>web</b>"))
            #expect(page.contains("retryable <b data-v=\"2\">2</b>") && page.contains("discarded <b data-v=\"1\">1</b>"))
            #expect(SVGReading.path(class: "c2", in: page).map { !SVGReading.rects($0).isEmpty } == true)
            #expect(SVGReading.tags("path", in: page).contains { $0.contains("stroke-dasharray=\"2 3\"") })  // the p99 line
            #expect(page.contains("<b data-v=\"10\">10</b>"))  // the histogram's jobs
            #expect(page.contains("5 min in columns of 5 s"))
            // Grouped by queue and filtered: only the 4 jobs of q1, as one series.
            let q1 = try await Self.get(client, "/dashboard/live?range=5m&group=queue&queue=q1").1
            #expect(q1.contains("q1 <b data-v=\"4\">4</b>") && !q1.contains("q0 <b"))
            let (bad, message, _) = try await Self.get(client, "/?range=3d")
            #expect(bad == .badRequest && message.contains("range must be one of 5m, 30m, 2h, all"))
            let (js, script, jsHeaders) = try await Self.get(client, "/dashboard.js")
            #expect(js == .ok && jsHeaders[.contentType] == "text/javascript; charset=utf-8" && script.contains("/dashboard/live"))
        }
    }

    /// A marker is recorded, listed, and drawn on every time chart; bad markers are 400s that say why.
    @Test(.timeLimit(.minutes(1)))
    func markersAreRecordedListedAndDrawn() async throws {
        try await Self.withNode { runtime, client in
            let now = NodeRecorder.wallClockSecond()
            let (created, body) = try await Self.post(client, "/api/markers", #"{"label": "deploy v42", "at": \#(now - 30)}"#)
            #expect(created == .created)
            let answer = try JSONDecoder().decode(MarkerRecord.self, from: Data(body.utf8))
            #expect(answer == MarkerRecord(ts: now - 30, label: "deploy v42", node: "web"))
            try await eventually("the marker is listed") {
                try await Self.get(client, "/api/markers?lookback=60").1.contains(#""label":"deploy v42","node":"web","ts":\#(now - 30)"#)
            }
            #expect(try await Self.get(client, "/api/markers?lookback=10").1 == "[]")  // older than the lookback
            let page = try await Self.get(client, "/?range=5m").1
            for chart in ["executed", "exec-time", "wait-time", "job-counts"] {
                let start = try #require(page.range(of: "id=\"\(chart)\""))
                let end = try #require(page[start.upperBound...].range(of: "</figure>"))
                #expect(page[start.upperBound..<end.lowerBound].contains(">deploy v42<title>"), "no marker on \(chart)")
            }
            let refused: [(String, String)] = [
                (#"{"label": ""}"#, "label must not be empty"),
                (#"{"label": "   "}"#, "label must not be empty"),
                (#"{"label": "\#(String(repeating: "x", count: 201))"}"#, "at most 200 are allowed"),
                (#"{"label": "a\nb"}"#, "control characters"),
                (#"{"label": "later", "at": \#(now + 600)}"#, "in the future"),
                (#"{"label": "long ago", "at": \#(now - Int64(runtime.resolved.tiers.retention) - 10)}"#, "beyond the retention"),
                (#"{"at": 1}"#, "the body must be JSON"),
                ("not json", "the body must be JSON"),
            ]
            for (body, why) in refused {
                let (status, message) = try await Self.post(client, "/api/markers", body)
                #expect(status == .badRequest && message.contains(why), "\(body): \(status) \(message)")
            }
        }
    }
}
