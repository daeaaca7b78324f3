import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// One real `met node` process on loopback, with its log in a temporary file and its mesh and
/// HTTP ports chosen by the OS (read back from its log).
final class MetProcess: ReapableProcess, @unchecked Sendable {  // `process` is started once in init and only signalled after; the log is a file.
    let name: String
    var label: String { "met \(command) \(name)" }
    var pid: pid_t { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var stopSignal: Int32 { SIGTERM }
    let command: String
    let process = Process()
    let logURL: URL
    private(set) var meshAddress = ""
    private(set) var httpAddress = ""

    static let secret = "cluster-tests-secret-0123456789abcdef"

    /// The `met` executable built beside this test bundle (or `MET_BINARY`).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["MET_BINARY"] { return URL(fileURLWithPath: path) }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("met")
    }

    /// Starts `met node --node NAME --listen 127.0.0.1:0 --http 127.0.0.1:0` plus `arguments`, and
    /// waits until both listeners are up. `secret` nil leaves MET_CLUSTER_SECRET unset.
    /// CI's compressed timings (RELIABILITY: "every timing knob configurable so tests compress
    /// time"): 0.2 s broadcasts and heartbeats, suspect after 1 s, down after 2.5 s, 1.5 s of
    /// patience for a joiner, a resync snapshot at most every 5 s, dials backing off to 1 s at
    /// most. Later arguments override them.
    static let compressedTimings = [
        "--broadcast-interval", "0.2", "--heartbeat-interval", "0.2", "--suspect-after", "1", "--silence-limit", "2.5",
        "--indirect-window", "1", "--join-patience", "1.5", "--resync-interval", "5", "--redial-backoff-max", "1",
    ]

    /// `clockSkew` (`+30s`, `-30s`) runs it under libfaketime, its wall clock that far off (``Faketime``).
    init(name: String, seeds: [String] = [], arguments: [String] = [], secret: String? = MetProcess.secret,
         command: String = "node", listen: String = "127.0.0.1:0", waitForHTTP: Bool = true, environment extra: [String: String] = [:], clockSkew: String? = nil) async throws {
        self.name = name
        self.command = command
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-cluster-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        logURL = dir.appendingPathComponent("\(name)-\(UInt32.random(in: 0...UInt32.max)).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = Self.binary
        process.arguments = [command, "--node", name, "--listen", listen, "--http", "127.0.0.1:0"] + Self.compressedTimings
            + seeds.flatMap { ["--seed", $0] } + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["MET_CLUSTER_SECRET"] = secret
        environment.merge(extra) { $1 }
        if let clockSkew {
            let launch = try Faketime.launch(Self.binary, skew: clockSkew, environment: environment)
            process.executableURL = launch.executable
            process.arguments = launch.prefix + (process.arguments ?? [])
            environment = launch.environment
        }
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        try process.run()
        ProcessGroup.enrol(self)  // the test's scope awaits its exit, whatever happens below
        if clockSkew != nil {
            let pid = process.processIdentifier
            ProcessGroup.afterProcesses { Faketime.removeSharedMemory(of: pid) }
        }
        guard waitForHTTP else { return }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let text = self.log
            if let mesh = Self.address(after: "mesh listening on ", in: text), let http = Self.address(after: "http listening on ", in: text) {
                meshAddress = mesh
                httpAddress = http
                return
            }
            guard process.isRunning else { throw Failure("\(name) exited with \(process.terminationStatus):\n\(text)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Failure("\(name) did not start within 20 s:\n\(self.log)")
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    static func address(after marker: String, in text: String) -> String? {
        guard let range = text.range(of: marker) else { return nil }
        let rest = text[range.upperBound...]
        let address = rest.prefix { !$0.isWhitespace && $0 != ";" }
        return address.isEmpty ? nil : String(address)
    }

    /// Sends `signal` and, for SIGTERM/SIGKILL, waits for the process to exit.
    func stop(_ signal: Int32 = SIGTERM) async throws {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + .seconds(20)
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            throw Failure("\(name) did not stop within 20 s of signal \(signal)")
        }
    }

    // MARK: HTTP

    /// GET a path of the API; returns status and body.
    func get(_ path: String) async throws -> (Int, Data) {
        try await request(path, method: "GET", body: nil)
    }

    /// POST newline-delimited events.
    func post(events lines: [String]) async throws -> (Int, Data) {
        try await request("/api/events", method: "POST", body: Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    func request(_ path: String, method: String, body: Data?) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: "http://\(httpAddress)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// `GET /api/latest/SERIES?lookback=...` decoded; `nil` when the node does not answer.
    func latest(_ series: String, query: String = "lookback=3600") async -> [String: Double]? {
        guard let (status, data) = try? await get("/api/latest/\(series)?\(query)"), status == 200 else { return nil }
        return try? JSONDecoder().decode([String: Double].self, from: data)
    }

    /// `GET /api/cluster` as JSON.
    func cluster() async -> [String: Any]? {
        guard let (status, data) = try? await get("/api/cluster"), status == 200 else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    /// Names of the members this node shows with `status` (and connected, for `alive`).
    func members(_ status: String) async -> Set<String> {
        guard let members = await cluster()?["members"] as? [[String: Any]] else { return [] }
        return Set(members.filter { $0["status"] as? String == status && (status != "alive" || $0["connected"] as? Bool == true) }
            .compactMap { $0["name"] as? String })
    }
}

/// Polls `condition` every 50 ms until it holds; fails the test (by throwing) after `seconds`.
/// Returns when the condition was last seen false, for a latency bound (``Observed``).
@discardableResult
func waitUntil(_ what: String, within seconds: Double = 20, _ condition: () async throws -> Bool) async throws -> Observed {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    var lastFalse: ContinuousClock.Instant?
    while ContinuousClock.now < deadline {
        let asked = ContinuousClock.now
        if try await condition() { return Observed(lastFalse: lastFalse) }
        lastFalse = asked
        try await Task.sleep(for: .milliseconds(50))
    }
    throw MetProcess.Failure("timed out after \(seconds) s waiting for: \(what)")
}

/// When a polled condition was last seen false: the instant the check that found it false
/// began. A latency bound asserted on ``late(after:)`` fails only on evidence that the nodes
/// were late (they were still short of the condition when asked after the bound), never because
/// a loaded machine took seconds to ask them; `waitUntil`'s own deadline is then only a guard
/// against a hang. (The condition must stay true once it holds, as convergence does.)
struct Observed: Sendable {
    var lastFalse: ContinuousClock.Instant?

    /// How long after `start` the condition was last seen false (zero: never after `start`).
    func late(after start: ContinuousClock.Instant) -> Duration {
        lastFalse.map { max(.zero, $0 - start) } ?? .zero
    }
}
