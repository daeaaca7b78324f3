import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MetStore
import Synchronization
import MetValues

/// `cardinality.*` figures (issue 17): many label sets, each with one point.
enum CardinalityBench {
    static let now = Datasets.now

    /// 100,000 `job_stop`s, each of its own queue, as 20 batches of 5,000 of one origin: the
    /// `exec_time` timelines of a burst of new queue names, one point each.
    static func burstStore() -> SeriesStore {
        let store = SeriesStore()
        var rng = SplitMix64(seed: 17)
        for b in 0..<20 {
            var entries: [DeltaBatch.Entry] = []
            entries.reserveCapacity(5000)
            for i in 0..<5000 {
                var s = Sketch()
                s.add(rng.lognormal())
                let labels = LabelSet(["node": "n1", "queue": "tenant-\(b * 5000 + i)", "worker": "Tenant.Worker", "state": "completed"])
                entries.append(.init(series: "exec_time", labels: labels, value: .sketch(s)))
            }
            store.apply(DeltaBatch(origin: Origin(node: "n1", incarnation: 1), seq: UInt64(b + 1), timestamp: now - 20 + Int64(b), entries: entries), now: now)
        }
        return store
    }

    static func summary() {
        let store = burstStore()
        let sel = Selection(series: "exec_time", lookback: 300)
        var rows: [SummaryRow] = []
        // The first query after the burst builds the series' rollups: it is the one a user waits for.
        let t0 = nanotime()
        rows = try! store.summary(sel, by: 60, now: now)
        let first = Double(nanotime() - t0) / 1e6
        let steady = medianMs { rows = try! store.summary(sel, by: 60, now: now) }
        let count = rows.reduce(0) { $0 + $1.count }
        precondition(count == 100_000, "the summary counts \(count) of 100000")
        // The peer: the same question forced through the plain scan (a filter that keeps everything).
        let scan = Selection(series: "exec_time", lookback: 300, filters: [LabelFilter("state", ["completed"])])
        let peer = medianMs(runs: 3) { rows = try! store.summary(scan, by: 60, now: now) }
        report("cardinality.summary_ms_100k", first, "ms", peer: peer,
               note: "ungrouped summary of exec_time over \(store.timelineCount) one-point timelines, first query (builds the rollups); then \(format(steady)) ms; peer = plain scan")
    }
}

/// `cardinality.rss_mib_100k` and `cardinality.max_stall_ms_100k`: 3 real `met node` processes
/// (release, default settings but a label-set limit that accepts all); 100,000 `job_stop`
/// lines, each with its own queue, posted to one node in 20 requests of 5,000. Measured: the
/// receiving node's resident memory after the burst (once every node counts every job, and
/// again after the recorder's idle handles are released), and the slowest `/api/cluster`
/// answer of any node, polled every 50 ms during the burst and for 10 s after.
enum CardinalityProcessBench {
    static let labelSets = 100_000
    static let perRequest = 5_000

    static func rssMiB(_ pid: Int32) -> Double { procMiB("/proc/\(pid)/status")["VmRSS"] ?? 0 }

    static func run() {
        guard let path = ProcessInfo.processInfo.environment["MET_BINARY"] else {
            print("cardinality.rss_mib_100k skipped: set MET_BINARY to a built met (scripts/bench does)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-cardinality-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var cluster: [ConvergenceBench.Node] = []
        defer {
            for n in cluster where n.process.isRunning { n.process.terminate() }
            for n in cluster { n.process.waitUntilExit() }
            if ProcessInfo.processInfo.environment["MET_BENCH_KEEP"] == nil { try? FileManager.default.removeItem(at: dir) }
        }
        let binary = URL(fileURLWithPath: path)
        let limit = ["--max-label-sets", String(labelSets)]
        do {
            let first = try ConvergenceBench.Node(name: "a", seeds: [], binary: binary, dir: dir, extra: limit)
            try first.ready()
            cluster.append(first)
            for name in ["b", "c"] { cluster.append(try ConvergenceBench.Node(name: name, seeds: [first.mesh], binary: binary, dir: dir, extra: limit)) }
            for n in cluster { try n.ready() }
        } catch {
            print("cardinality.rss_mib_100k failed: \(error)")
            return
        }
        let meshDeadline = Date().addingTimeInterval(30)
        while Date() < meshDeadline, !cluster.allSatisfy({ ConvergenceBench.connectedPeers($0) == 2 }) { usleep(50_000) }
        usleep(2_000_000)  // the idle cluster's memory settles before the baseline is read
        let receiver = cluster[0]
        let before = rssMiB(receiver.process.processIdentifier)

        // The stall watch: a thread polling every node's /api/cluster every 50 ms.
        let stop = Atomic<Bool>(false)
        let slowest = Atomic<UInt64>(0)
        let unanswered = Atomic<Int>(0)
        let urls = cluster.map { "http://\($0.http)/api/cluster" }
        // Every answer's time, with its node and when it was asked (ms after the burst began).
        let answers = Mutex<[(node: Int, at: UInt64, ms: UInt64)]>([])
        let t0 = nanotime()
        let watching = URLSession(configuration: .ephemeral)
        let watcher = Thread {
            while !stop.load(ordering: .relaxed) {
                for (node, url) in urls.enumerated() {
                    let asked = nanotime()
                    let (status, _) = ConvergenceBench.call(url, session: watching)
                    if status != 200 { unanswered.add(1, ordering: .relaxed) }
                    let ms = (nanotime() - asked) / 1_000_000
                    if ms > slowest.load(ordering: .relaxed) { slowest.store(ms, ordering: .relaxed) }
                    answers.withLock { $0.append((node, asked > t0 ? (asked - t0) / 1_000_000 : 0, ms)) }
                }
                usleep(50_000)
            }
        }
        watcher.start()
        var accepted = 0
        for start in stride(from: 0, to: labelSets, by: perRequest) {
            let body = (start..<(start + perRequest)).map { i in
                #"{"event":"job_stop","queue":"tenant-\#(i)","worker":"Tenant.Worker","state":"completed","exec_ns":\#(1_000_000 + i),"wait_ns":10}"#
            }.joined(separator: "\n")
            if ConvergenceBench.call("http://\(receiver.http)/api/events", body: body).0 == 200 { accepted += perRequest }
        }
        let posted = Double(nanotime() - t0) / 1e9
        var converged = false
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !converged {
            converged = cluster.allSatisfy { n in
                let (s, data) = ConvergenceBench.call("http://\(n.http)/api/latest/exec_count?lookback=3600")
                return s == 200 && (try? JSONSerialization.jsonObject(with: data) as? [String: Double])?["all"] == Double(accepted)
            }
            if !converged { usleep(200_000) }
        }
        let convergedAfter = Double(nanotime() - t0) / 1e9
        let afterBurst = rssMiB(receiver.process.processIdentifier) - before
        usleep(10_000_000)
        stop.store(true, ordering: .relaxed)
        while watcher.isExecuting { usleep(10_000) }
        // Heartbeats: each node's mesh loop sends them from its 100 ms timer, so a heartbeat is
        // late by at most its loop's lag; `loopLag.maxMs` covers the last minute, all of the
        // burst and the watch.
        let loopLags: [Double] = cluster.map { n in
            let (_, data) = ConvergenceBench.call("http://\(n.http)/api/cluster")
            let status = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            return ((status?["loopLag"] as? [String: Any])?["maxMs"] as? Double) ?? .infinity
        }
        // The summary a user asks next, on a replica.
        let s0 = nanotime()
        let (summaryStatus, _) = ConvergenceBench.call("http://\(cluster[1].http)/api/summary/exec_time?lookback=3600")
        let summaryMs = Double(nanotime() - s0) / 1e6
        usleep(65_000_000)  // past the recorder's idle release (60 batches)
        let settled = rssMiB(receiver.process.processIdentifier) - before
        guard converged, accepted == labelSets, summaryStatus == 200 else {
            print("cardinality.rss_mib_100k failed: accepted \(accepted), converged \(converged), summary \(summaryStatus)")
            return
        }
        report("cardinality.rss_mib_100k", afterBurst, "MiB",
               note: "extra RSS of the receiving node once every node counts all \(labelSets) jobs (posted in \(format(posted)) s, converged after \(format(convergedAfter)) s); \(format(settled)) MiB a minute later, idle handles released; baseline \(format(before)) MiB")
        let times = answers.withLock { $0 }
        let sorted = times.map(\.ms).sorted()
        let worst = times.sorted { $0.ms > $1.ms }.prefix(3).map { "\(["a", "b", "c"][$0.node]) \($0.ms) ms at \($0.at) ms" }
        let slowestAnswer = Double(slowest.load(ordering: .relaxed))
        report("cardinality.max_stall_ms_100k", max(slowestAnswer, loopLags.max() ?? .infinity), "ms",
               note: "the worse of the slowest /api/cluster answer of 3 nodes polled every 50 ms during the burst and 10 s after, \(format(slowestAnswer)) ms (\(times.count) answers, p99 \(sorted.isEmpty ? 0 : sorted[sorted.count * 99 / 100]) ms; worst: \(worst.joined(separator: ", "))), and the mesh loops' worst lag over that minute, which delays heartbeats, \(loopLags.map { format($0) }.joined(separator: ", ")) ms; \(unanswered.load(ordering: .relaxed)) unanswered; a replica's ungrouped summary then took \(format(summaryMs)) ms over HTTP")
    }
}
