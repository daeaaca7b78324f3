import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `node.rss_mib_idle` (DESIGN §8): resident memory of idle `met node` processes (the release
/// build) in a 3-node cluster with an empty store.
enum NodeBench {
    static func idleRSS() {
        guard let path = ProcessInfo.processInfo.environment["MET_BINARY"] else {
            print("node.rss_mib_idle skipped: set MET_BINARY to a built met (scripts/bench does)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-idle-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var cluster: [ConvergenceBench.Node] = []
        defer {
            for n in cluster where n.process.isRunning { n.process.terminate() }
            for n in cluster { n.process.waitUntilExit() }
            try? FileManager.default.removeItem(at: dir)
        }
        do {
            let first = try ConvergenceBench.Node(name: "n0", seeds: [], binary: URL(fileURLWithPath: path), dir: dir)
            try first.ready()
            cluster.append(first)
            for i in 1..<3 { cluster.append(try ConvergenceBench.Node(name: "n\(i)", seeds: [first.mesh], binary: URL(fileURLWithPath: path), dir: dir)) }
            for n in cluster { try n.ready() }
        } catch {
            print("node.rss_mib_idle failed: \(error)")
            return
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !cluster.allSatisfy({ ConvergenceBench.connectedPeers($0) == 2 }) { usleep(50_000) }
        // Idle: a few broadcast intervals and heartbeats, nothing posted.
        sleep(5)
        let rss = cluster.map { Self.residentMiB(pid: $0.process.processIdentifier) }
        report("node.rss_mib_idle", rss.max() ?? 0, "MiB",
               note: "VmRSS of each of 3 idle met nodes (release) in one cluster, empty store, 5 s after the full mesh: \(rss.map { format($0) }.joined(separator: ", ")) MiB; the worst")
    }

    static func residentMiB(pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return 0 }
        return kb / 1024
    }
}
