import Foundation
import Testing

/// A burst of new label sets (issue 17, RELIABILITY B7), scaled to CI: 20,000 job stops, each of
/// its own queue, posted to one of 3 nodes in requests of 5,000. Every accepted line is counted
/// on every node; every node's API answers and every member stays alive throughout; the
/// receiving node's memory stays within the figure's proportion; a request past the limit is
/// refused whole, counted and logged.
@Suite(.reapsProcesses) struct CardinalityBurstTests {
    static let labelSets = 20_000
    static let perRequest = 5_000

    static func lines(_ range: Range<Int>, tag: String) -> [String] {
        range.map { i in #"{"event":"job_stop","queue":"\#(tag)-\#(i)","worker":"Tenant.Worker","state":"completed","exec_ns":\#(1_000 + i)}"# }
    }

    static func residentMiB(_ node: MetProcess) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(node.process.processIdentifier)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return 0 }
        return kb / 1024
    }

    /// Polls every node's `/api/cluster` until `done`: the slowest answer, and whether any
    /// member was ever anything but alive.
    final class Watch: @unchecked Sendable {  // written by the one polling task, read after it ended
        var slowest: Duration = .zero
        var unanswered = 0
        var notAlive: [String] = []
    }

    static func watch(_ nodes: [MetProcess], _ w: Watch, until done: @Sendable () -> Bool) async {
        while !done() {
            for n in nodes {
                let start = ContinuousClock.now
                let cluster = await n.cluster()
                w.slowest = max(w.slowest, ContinuousClock.now - start)
                guard let cluster else { w.unanswered += 1; continue }
                for m in cluster["members"] as? [[String: Any]] ?? [] where m["status"] as? String != "self" {
                    if m["status"] as? String != "alive" || m["connected"] as? Bool != true {
                        w.notAlive.append("\(n.name) saw \(m["name"] ?? "?") \(m["status"] ?? "?")")
                    }
                }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aBurstOfNewQueuesIsAbsorbedAndOnePastTheLimitRefused() async throws {
        // Room for the warm-up's and the burst's label sets, and 4,000 more (a request below passes it).
        let limit = ["--max-label-sets", String(Self.labelSets + Self.perRequest + 4_000)]
        let a = try await MetProcess(name: "a", arguments: limit)
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress], arguments: limit)
        let c = try await MetProcess(name: "c", seeds: [a.meshAddress], arguments: limit)
        let nodes = [a, b, c]
        try await waitUntil("a full mesh of 3") {
            for n in nodes where await n.members("alive").count != 2 { return false }
            return true
        }
        // A warm-up request first, so that what the node pays once (threads' heaps, request and
        // batch buffers, a full retransmit window) is not counted as the burst's.
        let (warmStatus, _) = try await a.post(events: Self.lines(0..<Self.perRequest, tag: "warm"))
        #expect(warmStatus == 200)
        try await waitUntil("every node counts the warm-up", within: 60) {
            for n in nodes where await n.latest("exec_count", query: "lookback=600")?["all"] != Double(Self.perRequest) { return false }
            return true
        }
        let before = Self.residentMiB(a)
        let watch = Watch()
        let finished = Mutexed(false)
        let watcher = Task { await Self.watch(nodes, watch) { finished.value } }
        for start in stride(from: 0, to: Self.labelSets, by: Self.perRequest) {
            let (status, body) = try await a.post(events: Self.lines(start..<(start + Self.perRequest), tag: "tenant"))
            #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
        }
        let total = Double(Self.labelSets + Self.perRequest)
        try await waitUntil("every node counts every accepted job", within: 60) {
            for n in nodes where await n.latest("exec_count", query: "lookback=600")?["all"] != total { return false }
            return true
        }
        // Every node answers a grouped summary over all of them, linear in the timelines.
        for n in nodes {
            let (status, _) = try await n.get("/api/summary/exec_time?lookback=600&group=queue")
            #expect(status == 200)
        }
        finished.value = true
        await watcher.value
        #expect(watch.unanswered == 0)
        #expect(watch.notAlive.isEmpty, "\(watch.notAlive.prefix(5))")
        // The stall before issue 17 was 30 s and more; the figure (≤ 250 ms, release build, 3 nodes
        // alone on the machine) is `scripts/bench cardinality`'s. Here a debug build shares the
        // 2 cores with the whole suite, and the time includes this test's own client.
        print("CardinalityBurst: the slowest /api/cluster answer took \(watch.slowest)")
        #expect(watch.slowest < .seconds(5), "the slowest /api/cluster answer took \(watch.slowest)")
        // Memory in proportion: the figure asks ≤ 64 MiB per 100,000 label sets (release build);
        // this debug build gets twice that, for a fifth of them, after a warm-up. It grew by 25–30 MiB while each
        // one-point timeline took two heap blocks, by 36 before posted stops stopped waiting as
        // sketches, and by more with a handle per queue.
        let grown = Self.residentMiB(a) - before
        print("CardinalityBurst: the receiving node grew by \(grown) MiB for \(Self.labelSets) label sets")
        let target = 2 * 64 * Double(Self.labelSets) / 100_000
        #expect(grown < target, "a grew by \(grown) MiB")

        // A request whose new label sets pass the limit is refused whole.
        let (status, body) = try await a.post(events: Self.lines(0..<10, tag: "tenant") + Self.lines(0..<6_000, tag: "more"))
        #expect(status == 429)
        let text = String(decoding: body, as: UTF8.self)
        #expect(text.contains(#""series":"exec_count""#) || text.contains(#""series":"exec_time""#), "\(text)")
        #expect(text.contains(#""limit":29000"#))
        let cardinality = await a.cluster()?["cardinality"] as? [String: Any]
        #expect((cardinality?["refusedRequests"] as? [String: Int])?.values.reduce(0, +) == 1)
        try await waitUntil("the refusal is logged") { a.log.contains("label-set limit: refused 1 requests") }
        #expect(await a.latest("exec_count", query: "lookback=600")?["all"] == total, "nothing of the refused request applied")
        for n in nodes.reversed() { try await n.stop() }
    }
}

/// A value shared with a polling task.
final class Mutexed<T: Sendable>: @unchecked Sendable {  // every access goes through `lock`
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
