import Foundation
import MetTestSupport
import Synchronization
import Testing

/// What RELIABILITY's failure tests share: a seed each prints, a load whose every accepted event
/// the test's model counts, the fault plane's peer lists, CPU burners, and views of the nodes.
enum Failure {
    /// The test's seed: `MET_FAILURE_SEED` when set (to rerun one), else a new one; printed.
    static func seed(_ test: String) -> UInt64 {
        let seed = ProcessInfo.processInfo.environment["MET_FAILURE_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...999_999)
        print("\(test) seed \(seed) (rerun: MET_FAILURE_SEED=\(seed) scripts/test --filter \(test))")
        return seed
    }

    /// `inserted` totals per origin node name, as `node` serves them.
    static func byNode(_ node: MetProcess) async -> [String: Double]? {
        await node.latest("inserted", query: "lookback=3600&group=node")
    }

    /// `node`'s status of `member` in `/api/cluster` (nil: unknown, or no answer).
    static func status(of member: String, at node: MetProcess) async -> String? {
        guard let members = await node.cluster()?["members"] as? [[String: Any]] else { return nil }
        return members.first { $0["name"] as? String == member }?["status"] as? String
    }

    /// Lines of `node`'s log, from byte `offset` on, in which it judged another member `suspect`
    /// or `down`: its accusations.
    static func accusations(in node: MetProcess, after offset: Int = 0) -> [String] {
        let log = node.log
        let tail = log.utf8.count > offset ? String(decoding: Array(log.utf8)[offset...], as: UTF8.self) : ""
        return tail.split(separator: "\n").map(String.init).filter { $0.contains("] member ") && ($0.contains(" suspect:") || $0.contains(" down:")) }
    }

    /// Waits until every node's totals per origin node equal each other and `expected`, exactly
    /// for the names not in `bounds`, and within `bounds[name]` below it for the others.
    @discardableResult
    /// `bounds`: per node, how much of the model it may have lost (a SIGKILL's last interval);
    /// `unanswered`: how much it may hold beyond the model (posts whose answer never came: a
    /// node stopped with a request in flight may apply it after the client gave up).
    static func converge(_ nodes: [MetProcess], to expected: [String: Double], bounds: [String: Double] = [:],
                         unanswered: [String: Double] = [:], within seconds: Double,
                         _ what: String) async throws -> Observed {
        var views: [[String: Double]] = []
        do {
            return try await waitUntil(what, within: seconds) {
                views = []
                for n in nodes { views.append(await byNode(n) ?? [:]) }
                guard let first = views.first, views.allSatisfy({ $0 == first }), Set(first.keys).isSubset(of: Set(expected.keys)) else { return false }
                return expected.allSatisfy { name, posted in
                    let got = first[name] ?? 0
                    return got <= posted + (unanswered[name] ?? 0) && got >= posted - (bounds[name] ?? 0)
                }
            }
        } catch {
            print("\(what): model \(expected.sorted { $0.key < $1.key }), bounds \(bounds), unanswered \(unanswered), last views \(views)")
            throw error
        }
    }
}

/// Posts `inserted` events to the nodes `targets` returns, in turn, about `perSecond` a second,
/// and counts every accepted one per node name (the test's model).
final class Load: Sendable {
    private struct State {
        var posted: [String: Double] = [:]
        var unanswered: [String: Double] = [:]
        var recent: [String: [(at: ContinuousClock.Instant, n: Double)]] = [:]
        var stopped = false
    }

    private let state = Mutex(State())
    let perPost: Int
    let pause: Duration

    init(perSecond: Int, postsPerSecond: Int = 50) {
        perPost = max(1, perSecond / postsPerSecond)
        pause = .milliseconds(1000 / postsPerSecond)
    }

    var posted: [String: Double] { state.withLock { $0.posted } }
    /// Per node, the events of posts that got no answer at all (the node may still apply them).
    var unanswered: [String: Double] { state.withLock { $0.unanswered } }

    /// What `node` accepted within `window` before now: what a SIGKILL may lose (H10).
    func recent(_ node: String, window: Duration = .seconds(1)) -> Double {
        let since = ContinuousClock.now - window
        return state.withLock { ($0.recent[node] ?? []).filter { $0.at >= since }.reduce(0) { $0 + $1.n } }
    }

    /// Posts until ``stop()``; run it in a task of the test.
    func run(_ targets: @escaping @Sendable () -> [MetProcess]) async {
        var i = 0
        while !state.withLock({ $0.stopped }) {
            let nodes = targets()
            if !nodes.isEmpty {
                let node = nodes[i % nodes.count]
                i += 1
                let answer = try? await node.post(events: [#"{"event":"inserted","queue":"load","count":\#(perPost)}"#])
                if let (status, _) = answer, status == 200 {
                    state.withLock {
                        $0.posted[node.name, default: 0] += Double(perPost)
                        $0.recent[node.name, default: []].append((.now, Double(perPost)))
                        $0.recent[node.name]!.removeAll { ContinuousClock.now - $0.at > .seconds(10) }
                    }
                } else if answer == nil {
                    state.withLock { $0.unanswered[node.name, default: 0] += Double(perPost) }
                }
            }
            try? await Task.sleep(for: pause)
        }
    }

    /// Also counts events the test posted itself.
    func accepted(_ n: Double, by node: String) { state.withLock { $0.posted[node, default: 0] += n } }

    func stop() { state.withLock { $0.stopped = true } }
}

/// Which nodes are up and not stopped, shared by a test and its background tasks.
final class Live: Sendable {
    private let nodes: Mutex<[MetProcess]>
    private let paused = Mutex<Set<String>>([])
    init(_ nodes: [MetProcess]) { self.nodes = Mutex(nodes) }
    var all: [MetProcess] { nodes.withLock { $0 } }
    /// Running and not stopped (a stopped node answers no HTTP request).
    var answering: [MetProcess] {
        let p = paused.withLock { $0 }
        return all.filter { $0.process.isRunning && !p.contains($0.name) }
    }
    func replace(_ name: String, with node: MetProcess) { nodes.withLock { $0 = $0.map { $0.name == name ? node : $0 } } }
    func pause(_ node: MetProcess) {
        paused.withLock { _ = $0.insert(node.name) }
        kill(node.pid, SIGSTOP)
    }
    func resume(_ node: MetProcess) {
        kill(node.pid, SIGCONT)
        paused.withLock { _ = $0.remove(node.name) }
    }
}

/// The test fault plane's peer lists, one file per node and kind (`partition`, `blackhole`,
/// `unread`), in a directory of the test's own.
struct FaultFiles: Sendable {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-faults-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let dir = self.dir
        ProcessGroup.afterProcesses { try? FileManager.default.removeItem(at: dir) }
    }

    func path(_ kind: String, _ node: String) -> String { dir.appendingPathComponent("\(node).\(kind)").path }
    /// The `--test-faults` argument for `node`.
    func arguments(_ node: String, _ kinds: [String]) -> [String] {
        ["--test-faults", kinds.map { "\($0):\(path($0, node))" }.joined(separator: ",")]
    }
    func set(_ kind: String, _ node: String, _ peers: [String]) throws {
        try peers.joined(separator: "\n").write(toFile: path(kind, node), atomically: true, encoding: .utf8)
    }
    /// Cuts every node of `a` from every node of `b` (both sides' files).
    func split(_ kind: String, _ a: [String], _ b: [String]) throws {
        for x in a { try set(kind, x, b) }
        for y in b { try set(kind, y, a) }
    }
    func heal(_ kind: String, _ nodes: [String]) throws {
        for n in nodes { try set(kind, n, []) }
    }
}

/// A process that keeps one core busy (RELIABILITY F3's saturated CPU); reaped like the nodes.
final class CPUBurner: ReapableProcess, @unchecked Sendable {  // `process` is started once in init and only signalled after.
    let process = Process()
    var label: String { "CPU burner" }
    var pid: pid_t { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    /// The test process's own signal dispositions reach the shell; it has nothing to clean up.
    var stopSignal: Int32 { SIGKILL }

    init() throws {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "while :; do :; done"]
        try process.run()
        ProcessGroup.enrol(self)
    }
}
