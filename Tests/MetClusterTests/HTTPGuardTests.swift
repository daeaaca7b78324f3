import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

/// The guarded HTTP API (RELIABILITY S9; docs/api.md "Authentication and limits") on real
/// `met node` processes: tokens for writes and reads, the limits, the refusal of an unguarded
/// non-loopback listener, and no secret in any response or log line.
@Suite(.reapsProcesses) struct HTTPGuardTests {
    static let writeToken = "write-token-7f3c9a1e5b2d4f60"
    static let readToken = "read-token-0c8e2b6a4d1f9375"

    /// Every write without the token, or with a wrong one, is 401 with a JSON message and
    /// applies nothing; with the token it is applied. Reads stay open without `httpReadToken`.
    @Test(.timeLimit(.minutes(5)))  // the limit counts the wait for tests that run alone
    func writesNeedTheToken() async throws {
        let files = try TokenFiles()
        let a = try await MetProcess(name: "a", arguments: ["--http-token-file", files.write, "--log-level", "trace"])
        let transcript = Transcript()
        let bad = [#"{"event":"inserted","queue":"forged","count":5}"#]
        for token in [nil, "wrong-token-0000000000", Self.readToken, Self.writeToken + "x", String(Self.writeToken.dropLast())] {
            let events = try await transcript.call(a, "/api/events", method: "POST", body: lines(bad), token: token)
            #expect(events.status == 401, "\(events)")
            #expect(events.text.contains("\"error\"") && events.text.contains("token"), "\(events)")
            #expect(events.headers["www-authenticate"]?.contains("Bearer") == true, "\(events.headers)")
            let marker = try await transcript.call(a, "/api/markers", method: "POST", body: Data(#"{"label":"forged marker"}"#.utf8), token: token)
            #expect(marker.status == 401, "\(marker)")
        }
        // Basic with the token as password is accepted too (what a browser sends after a prompt).
        let basic = try await transcript.call(a, "/api/events", method: "POST", body: lines([#"{"event":"inserted","queue":"basic","count":1}"#]),
                                              authorization: "Basic " + Data("met:\(Self.writeToken)".utf8).base64EncodedString())
        #expect(basic.status == 200, "\(basic)")
        let good = try await transcript.call(a, "/api/events", method: "POST", body: lines([#"{"event":"inserted","queue":"real","count":3}"#]), token: Self.writeToken)
        #expect(good.status == 200 && good.text.contains("\"accepted\":1"), "\(good)")
        let marked = try await transcript.call(a, "/api/markers", method: "POST", body: Data(#"{"label":"real marker"}"#.utf8), token: Self.writeToken)
        #expect(marked.status == 201, "\(marked)")
        // Reads are open: the applied writes are visible, the refused ones nowhere.
        try await waitUntil("the accepted events are visible") {
            let q = try await transcript.call(a, "/api/labels/queue?lookback=600")
            return q.status == 200 && q.text.contains("real") && q.text.contains("basic")
        }
        let queues = try await transcript.call(a, "/api/labels/queue?lookback=600")
        #expect(!queues.text.contains("forged"), "\(queues)")
        #expect(await ClusterTests.total(a) == 4)
        // A marker is recorded like an event, so it may land in the batch after the events'.
        try await waitUntil("the accepted marker is listed") { try await transcript.call(a, "/api/markers").text.contains("real marker") }
        let markers = try await transcript.call(a, "/api/markers")
        #expect(markers.text.contains("real marker") && !markers.text.contains("forged"), "\(markers)")
        for path in ["/", "/api/cluster", "/metrics", "/api/series"] {
            #expect(try await transcript.call(a, path).status == 200, "\(path)")
        }
        try await a.stop()
        try transcript.expectNoSecrets(in: [a], [Self.writeToken, Self.readToken, MetProcess.secret])
    }

    /// With `httpReadToken`, every read (the dashboard and `/metrics` too) needs the read or the
    /// write token; a write with the read token is still 401. The dashboard's 401 offers Basic,
    /// so a browser prompts for it.
    @Test(.timeLimit(.minutes(5)))  // the limit counts the wait for tests that run alone
    func readsNeedTheReadTokenWhenSet() async throws {
        let files = try TokenFiles()
        let a = try await MetProcess(name: "a", arguments: ["--http-token-file", files.write, "--http-read-token-file", files.read])
        let transcript = Transcript()
        for path in ["/", "/dashboard/live", "/api/cluster", "/metrics", "/api/series", "/api/latest/inserted", "/api/markers"] {
            let open = try await transcript.call(a, path)
            #expect(open.status == 401 && open.headers["www-authenticate"]?.contains("Bearer") == true, "\(path): \(open)")
            let browser = try Self.curl(a, path, accept: "text/html")
            #expect(browser.contains("401 Unauthorized") && browser.contains("WWW-Authenticate: Basic"), "\(path): \(browser)")
            #expect(try await transcript.call(a, path, token: "not-the-token-at-all").status == 401, "\(path)")
            #expect(try await transcript.call(a, path, token: Self.readToken).status == 200, "\(path)")
            #expect(try await transcript.call(a, path, token: Self.writeToken).status == 200, "\(path)")
        }
        let withRead = try await transcript.call(a, "/api/events", method: "POST", body: lines([#"{"event":"inserted","queue":"q","count":1}"#]), token: Self.readToken)
        #expect(withRead.status == 401, "\(withRead)")
        // `met query` sends the token from --token-file or the environment.
        let refused = try QueryCommandTests.met(["query", "--at", a.httpAddress, "cluster"])
        #expect(refused.status == 1 && refused.output.contains("401"), "\(refused)")
        let queried = try QueryCommandTests.met(["query", "--at", a.httpAddress, "--token-file", files.read, "cluster"])
        #expect(queried.status == 0 && queried.output.contains("connection age s"), "\(queried)")
        // `met mark` needs the write token.
        let unmarked = try QueryCommandTests.met(["mark", "deploy", "--at-node", a.httpAddress, "--token-file", files.read])
        #expect(unmarked.status == 1 && unmarked.output.contains("401"), "\(unmarked)")
        let marked = try QueryCommandTests.met(["mark", "deploy", "--at-node", a.httpAddress, "--token-file", files.write])
        #expect(marked.status == 0 && marked.output.contains("marked"), "\(marked)")
        try await a.stop()
        try transcript.expectNoSecrets(in: [a], [Self.writeToken, Self.readToken, MetProcess.secret])
    }

    /// An oversized body is 413, too many lines 413, too many requests at once 429: each with a
    /// JSON message, and nothing of it applied.
    @Test(.timeLimit(.minutes(5)))  // the limit counts the wait for tests that run alone
    func limitsRefuseAndApplyNothing() async throws {
        let a = try await MetProcess(name: "a", arguments: ["--http-max-body-bytes", "4096", "--http-max-lines", "5", "--http-max-concurrent", "2"])
        let transcript = Transcript()
        let big = (0..<60).map { _ in #"{"event":"inserted","queue":"big","count":1,"worker":"\#(String(repeating: "w", count: 60))"}"# }
        let tooBig = try await transcript.call(a, "/api/events", method: "POST", body: lines(big))
        #expect(tooBig.status == 413 && tooBig.text.contains("httpMaxBodyBytes"), "\(tooBig)")
        let six = (0..<6).map { _ in #"{"event":"inserted","queue":"many","count":1}"# }
        let tooMany = try await transcript.call(a, "/api/events", method: "POST", body: lines(six))
        #expect(tooMany.status == 413 && tooMany.text.contains("httpMaxLines"), "\(tooMany)")
        let five = try await transcript.call(a, "/api/events", method: "POST", body: lines(Array(six.prefix(5)).map { $0.replacingOccurrences(of: "many", with: "five") }))
        #expect(five.status == 200, "\(five)")

        // Two requests held open (their bodies never finish) fill httpMaxConcurrent. A pair is
        // sent again every 5 s: on a loaded machine one of a pair can meet a poll in flight and
        // be refused itself, leaving a slot free (a refused extra one changes nothing).
        var held: [RawClient] = []
        func holdTwo() throws {
            for _ in 0..<2 {
                let c = try RawClient(a.httpAddress)
                c.send(Array("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{\"event\":\"inserted\",\"queue\":\"held\"".utf8))
                held.append(c)
            }
        }
        try holdTwo()
        var nextPair = ContinuousClock.now + .seconds(5)
        // No latency bound here: a loaded suite may be slow to read the held requests' headers.
        try await waitUntil("a third request is refused with 429", within: 60) {
            if ContinuousClock.now >= nextPair {
                try holdTwo()
                nextPair = .now + .seconds(5)
            }
            return try await transcript.call(a, "/api/series").status == 429
        }
        let refused = try await transcript.call(a, "/api/events", method: "POST", body: lines([#"{"event":"inserted","queue":"crowded","count":1}"#]))
        #expect(refused.status == 429 && refused.text.contains("httpMaxConcurrent") && refused.headers["retry-after"] == "1", "\(refused)")
        for c in held { c.shutdownBoth() }
        try await waitUntil("the slots are free again") { try await transcript.call(a, "/api/series").status == 200 }
        try await waitUntil("the accepted events are visible") { await ClusterTests.total(a) == 5 }
        let queues = try await transcript.call(a, "/api/labels/queue?lookback=600")
        #expect(queues.text.contains("five"), "\(queues)")
        for q in ["big", "many", "held", "crowded"] { #expect(!queues.text.contains("\"\(q)\""), "\(q): \(queues)") }
        let metrics = try await transcript.call(a, "/metrics")
        for reason in ["body_too_large", "too_many_lines", "too_many_concurrent"] {
            #expect(metrics.text.contains("met_http_requests_refused_total{reason=\"\(reason)\"}"), "\(reason)")
        }
        try await a.stop()
    }

    /// `http` on a non-loopback address without a token: the node refuses to start, naming the
    /// fix; with --http-insecure it starts, with a warning.
    @Test(.timeLimit(.minutes(5)))  // the limit counts the wait for tests that run alone
    func nonLoopbackHTTPNeedsATokenOrInsecure() async throws {
        let refused = try await MetProcess(name: "open", arguments: ["--http", "0.0.0.0:0"], waitForHTTP: false)
        try await waitUntil("the node exits") { !refused.isRunning }
        #expect(refused.process.terminationStatus != 0)
        let log = refused.log
        #expect(log.contains("0.0.0.0:0 is not a loopback address") && log.contains("--http-insecure") && log.contains("httpTokenFile"), "\(log)")
        #expect(!log.contains("http listening"), "\(log)")

        let files = try TokenFiles()
        let guarded = try await MetProcess(name: "guarded", arguments: ["--http", "0.0.0.0:0", "--http-token-file", files.write])
        #expect(try await Transcript().call(guarded, "/api/events", method: "POST", body: lines([#"{"event":"inserted","queue":"q"}"#])).status == 401)
        let insecure = try await MetProcess(name: "insecure", arguments: ["--http", "0.0.0.0:0", "--http-insecure"])
        #expect(insecure.log.contains("with no token (--http-insecure)"), "\(insecure.log)")
        #expect(try await Transcript().call(insecure, "/api/events", method: "POST", body: lines([#"{"event":"inserted","queue":"q"}"#])).status == 200)
        try await guarded.stop()
        try await insecure.stop()
    }

    /// The response head and body as curl shows them (a browser's 401 carries a Basic challenge,
    /// which Foundation's URLSession on Linux would wait on forever).
    static func curl(_ node: MetProcess, _ path: String, accept: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-si", "--max-time", "10", "-H", "Accept: \(accept)", "http://\(node.httpAddress)\(path)"]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    func lines(_ l: [String]) -> Data { Data((l.joined(separator: "\n") + "\n").utf8) }
}

/// A response as a test reads it.
struct Response: CustomStringConvertible {
    var status: Int
    var text: String
    /// Header names lowercased.
    var headers: [String: String]
    var description: String { "\(status) \(text.prefix(400))" }
}

/// Every response a test received, to search for secrets afterwards (RELIABILITY S9).
final class Transcript: Sendable {
    private let texts = Mutex<[String]>([])

    func call(_ node: MetProcess, _ path: String, method: String = "GET", body: Data? = nil, token: String? = nil,
              authorization: String? = nil) async throws -> Response {
        var request = URLRequest(url: URL(string: "http://\(node.httpAddress)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 10
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        var headers: [String: String] = [:]
        for (k, v) in http?.allHeaderFields ?? [:] { headers[String(describing: k).lowercased()] = String(describing: v) }
        let r = Response(status: http?.statusCode ?? 0, text: String(decoding: data, as: UTF8.self), headers: headers)
        texts.withLock { $0.append(headers.description + r.text) }
        return r
    }

    /// No response and no log line of `nodes` holds any of `secrets`.
    func expectNoSecrets(in nodes: [MetProcess], _ secrets: [String]) throws {
        let all = texts.withLock { $0 }
        #expect(!all.isEmpty)
        for secret in secrets {
            #expect(!all.contains { $0.contains(secret) }, "a response holds a secret")
            for n in nodes {
                #expect(!n.log.isEmpty)
                #expect(!n.log.contains(secret), "\(n.name)'s log holds a secret")
            }
        }
    }
}

/// The two tokens in files of the test's own (mode 600, with a trailing newline), removed after
/// the test's processes exit.
struct TokenFiles {
    let write: String
    let read: String

    init() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-tokens-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        write = dir.appendingPathComponent("write").path
        read = dir.appendingPathComponent("read").path
        for (path, token) in [(write, HTTPGuardTests.writeToken), (read, HTTPGuardTests.readToken)] {
            _ = FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        }
        ProcessGroup.afterProcesses { try? FileManager.default.removeItem(at: dir) }
    }
}

extension RawClient {
    /// Closes both directions (the node sees the request's body cut short).
    func shutdownBoth() { shutdown(fd, Int32(SHUT_RDWR)) }
}
