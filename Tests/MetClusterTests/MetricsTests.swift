import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `GET /metrics` (docs/metrics.md) on real nodes: valid for `promtool check metrics`, scraped
/// by a real Prometheus whose own query API answers a job series and a health series; loop lag
/// (L8) and per-member connection age in `/api/cluster`.
@Suite(.reapsProcesses) struct MetricsTests {
    /// Three `job_stop`s, two `job_start`s still executing, four `inserted`.
    static let events = [
        #"{"event":"inserted","queue":"mailers","state":"available","count":4}"#,
        #"{"event":"job_start","queue":"mailers","worker":"Mail\"er"}"#,
        #"{"event":"job_start","queue":"mailers","worker":"Mail\"er"}"#,
        #"{"event":"job_start","queue":"mailers","worker":"Mail\"er"}"#,
        #"{"event":"job_start","queue":"mailers","worker":"Mail\"er"}"#,
        #"{"event":"job_start","queue":"mailers","worker":"Mail\"er"}"#,
        #"{"event":"job_stop","queue":"mailers","worker":"Mail\"er","state":"completed","exec_ns":2000000,"wait_ns":1000}"#,
        #"{"event":"job_stop","queue":"mailers","worker":"Mail\"er","state":"completed","exec_ns":4000000,"wait_ns":1000}"#,
        #"{"event":"job_exception","queue":"mailers","worker":"Mail\"er","state":"retryable","exec_ns":9000000,"wait_ns":1000}"#,
    ]

    /// Two nodes, events on `a`; `a`'s `/metrics` holds its job series and its health, and
    /// `promtool check metrics` finds no problem in it.
    @Test(.timeLimit(.minutes(5)))  // the limit counts the wait for tests that run alone
    func metricsPassPromtool() async throws {
        let a = try await MetProcess(name: "a")
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress])
        let (status, body) = try await a.post(events: Self.events)
        #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
        var text = ""
        try await waitUntil("a's /metrics shows its jobs and its peer") {
            text = String(decoding: try await a.get("/metrics").1, as: UTF8.self)
            return text.contains(#"met_exec_count_total{node="a",queue="mailers",state="completed",worker="Mail\"er"} 2"#)
                && text.contains(#"met_peer_state{peer="b",state="alive"} 1"#)
        }
        #expect(text.contains(#"met_exec_count_total{node="a",queue="mailers",state="retryable",worker="Mail\"er"} 1"#), "\(text)")
        #expect(text.contains(#"met_inserted_total{node="a",queue="mailers",state="available"} 4"#), "\(text)")
        #expect(text.contains(#"met_exec_time_seconds_count{node="a",queue="mailers",state="completed",worker="Mail\"er"} 2"#), "\(text)")
        #expect(text.contains(#"met_exec_time_seconds{node="a",queue="mailers",state="completed",worker="Mail\"er",quantile="0.99"} 0.00"#), "\(text)")
        #expect(text.contains(#"met_executing{node="a",queue="mailers",worker="Mail\"er"} 2"#), "\(text)")
        for family in ["met_loop_lag_max_seconds", "met_peer_connection_age_seconds{peer=\"b\"}", "met_peer_queue_bytes{peer=\"b\"}",
                       "met_store_rows", "met_membership_suspicions_total", "met_mesh_rejected_connections_total", "met_snapshot_chunks_sent_total"] {
            #expect(text.contains(family), "\(family)")
        }
        let check = try Self.run(Self.tool("promtool"), ["check", "metrics"], input: Data(text.utf8))
        #expect(check.status == 0 && check.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool: \(check.output)\n\(text)")

        // L8 and O3: the loop's lag and each member's connection age in /api/cluster and `met query cluster`.
        let cluster = await a.cluster()
        let lag = cluster?["loopLag"] as? [String: Any]
        #expect((lag?["maxMs"] as? Double).map { $0 >= 0 && $0 < 5000 } == true, "\(String(describing: cluster))")
        let peer = (cluster?["members"] as? [[String: Any]])?.first { $0["name"] as? String == "b" }
        #expect((peer?["connectionAgeSeconds"] as? Double).map { $0 > 0 } == true, "\(String(describing: peer))")
        let table = try QueryCommandTests.met(["query", "--at", a.httpAddress, "cluster"])
        #expect(table.status == 0 && table.output.contains("loop lag over the last minute: max") && table.output.contains("connection age s"), "\(table)")
        try await b.stop()
        try await a.stop()
    }

    /// A real Prometheus scrapes a node whose reads need a token, every second; its query API
    /// answers the node's `exec_count` total and its view of its peer.
    @Test(.timeLimit(.minutes(5)))  // the limit counts the wait for tests that run alone
    func prometheusScrapesANode() async throws {
        let files = try TokenFiles()
        let a = try await MetProcess(name: "a", arguments: ["--http-token-file", files.write, "--http-read-token-file", files.read])
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress])
        let transcript = Transcript()
        let posted = try await transcript.call(a, "/api/events", method: "POST", body: Data((Self.events.joined(separator: "\n") + "\n").utf8),
                                               token: HTTPGuardTests.writeToken)
        #expect(posted.status == 200, "\(posted)")

        let prometheus = try PrometheusProcess(target: a.httpAddress, credentialsFile: files.read)
        try await waitUntil("Prometheus is ready", within: 30) { await prometheus.get("/-/ready")?.0 == 200 }
        var answer = ""
        try await waitUntil("Prometheus has scraped a's exec_count", within: 30) {
            answer = await prometheus.query("sum(met_exec_count_total)") ?? ""
            return Self.value(answer) == 3
        }
        try await waitUntil("Prometheus has scraped a's view of b", within: 30) {
            answer = await prometheus.query(#"met_peer_state{peer="b",state="alive"}"#) ?? ""
            return Self.value(answer) == 1
        }
        let up = await prometheus.query(#"up{job="met"}"#) ?? ""
        #expect(Self.value(up) == 1, "\(up)")
        try await prometheus.stop()
        try await b.stop()
        try await a.stop()
        try transcript.expectNoSecrets(in: [a, b], [HTTPGuardTests.writeToken, HTTPGuardTests.readToken, MetProcess.secret])
    }

    /// The value of a one-sample instant vector in a `/api/v1/query` answer.
    static func value(_ json: String) -> Double? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let data = object["data"] as? [String: Any], let result = data["result"] as? [[String: Any]], result.count == 1,
              let pair = result[0]["value"] as? [Any], pair.count == 2, let text = pair[1] as? String else { return nil }
        return Double(text)
    }

    /// A tool from Debian's `prometheus` package (scripts/test installs it).
    static func tool(_ name: String) throws -> URL {
        for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return URL(fileURLWithPath: "\(dir)/\(name)")
        }
        throw MetProcess.Failure("\(name) is missing: install Debian's prometheus package (scripts/test does)")
    }

    static func run(_ tool: URL, _ arguments: [String], input: Data) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = tool
        p.arguments = arguments
        let (stdin, stdout) = (Pipe(), Pipe())
        p.standardInput = stdin
        p.standardOutput = stdout
        p.standardError = stdout
        try p.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// A real Prometheus on loopback, in a directory of its own, scraping one target every second;
/// reaped like the nodes.
final class PrometheusProcess: ReapableProcess, @unchecked Sendable {  // `process` is started once in init and only signalled after.
    let process = Process()
    let address: String
    let dir: URL
    var label: String { "prometheus" }
    var pid: pid_t { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var stopSignal: Int32 { SIGTERM }

    init(target: String, credentialsFile: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-prometheus-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        address = "127.0.0.1:\(try Self.freePort())"
        let config = """
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
        scrape_configs:
          - job_name: met
            scrape_interval: 1s
            scrape_timeout: 1s
            authorization:
              credentials_file: \(credentialsFile)
            static_configs:
              - targets: ["\(target)"]
        """
        try config.write(to: dir.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        process.executableURL = try MetricsTests.tool("prometheus")
        process.arguments = ["--config.file=\(dir.path)/prometheus.yml", "--storage.tsdb.path=\(dir.path)/data",
                             "--web.listen-address=\(address)", "--log.level=warn"]
        let log = dir.appendingPathComponent("prometheus.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        ProcessGroup.enrol(self)
        let dir = self.dir
        ProcessGroup.afterProcesses { try? FileManager.default.removeItem(at: dir) }
    }

    func get(_ path: String, query: [URLQueryItem] = []) async -> (Int, String)? {
        guard var components = URLComponents(string: "http://\(address)\(path)") else { return nil }
        if !query.isEmpty { components.queryItems = query }
        guard let url = components.url, let (data, response) = try? await URLSession.shared.data(from: url) else { return nil }
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// An instant query through Prometheus's HTTP API.
    func query(_ promql: String) async -> String? {
        guard let (status, body) = await get("/api/v1/query", query: [.init(name: "query", value: promql)]), status == 200 else { return nil }
        return body
    }

    func stop() async throws {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        try await waitUntil("Prometheus exits") { !process.isRunning }
    }

    /// A port the OS had free a moment ago (bound, read back, released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            // The address is read and written by bind()/getsockname() during the calls only.
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw MetProcess.Failure("no free port: errno \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
