import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `node.rss_mib_idle` (DESIGN §8): resident memory of idle `met node` processes in a 3-node
/// cluster with an empty store: the binary to deploy (`MET_BINARY`, scripts/build-release),
/// against a plain `swift build -c release` (`MET_PLAIN_BINARY`) as the peer. With it, what
/// each node holds alone (`node.anon_mib_idle`) and what it uses while idle (`node.touched_mib_idle`).
enum NodeBench {
    /// What each node of one cluster measured, in MiB.
    struct Idle {
        var rss: [Double] = []
        var file: [Double] = []
        var anon: [Double] = []
        var touched: [Double] = []
    }

    static func idleRSS() {
        let env = ProcessInfo.processInfo.environment
        guard let path = env["MET_BINARY"] else {
            print("node.rss_mib_idle skipped: set MET_BINARY to a built met (scripts/bench does)")
            return
        }
        guard let measured = idle(binary: path) else { return }
        let peer = env["MET_PLAIN_BINARY"].flatMap { idle(binary: $0) }
        func list(_ values: [Double]) -> String { values.map { format($0) }.joined(separator: ", ") }
        func plain(_ values: [Double]?) -> String { values.map { "; the plain release build's: \(list($0))" } ?? "" }
        report("node.rss_mib_idle", measured.rss.max() ?? 0, "MiB", peer: peer?.rss.max(),
               note: "VmRSS of each of 3 idle met nodes (scripts/build-release) in one cluster, empty store, 5 s after the full mesh: \(list(measured.rss)) MiB, the worst; RssFile \(list(measured.file))\(plain(peer?.rss)); peer = the plain build")
        report("node.anon_mib_idle", measured.anon.max() ?? 0, "MiB", peer: peer?.anon.max(),
               note: "RssAnon of the same nodes (what each holds alone: heaps, stacks, relocated data): \(list(measured.anon))\(plain(peer?.anon))")
        report("node.touched_mib_idle", measured.touched.max() ?? 0, "MiB", peer: peer?.touched.max(),
               note: "pages (anonymous and file) each node used in 5 s more of idle, from smaps' Referenced after clear_refs: \(list(measured.touched))\(plain(peer?.touched))")
    }

    /// Reads `binary` whole, starts 3 nodes of it, waits for the full mesh and 5 s of idle, reads their memory,
    /// clears their pages' referenced bits, and after 5 s more reads what they used again.
    static func idle(binary path: String) -> Idle? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-idle-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var cluster: [ConvergenceBench.Node] = []
        defer {
            for n in cluster where n.process.isRunning { n.process.terminate() }
            for n in cluster { n.process.waitUntilExit() }
            try? FileManager.default.removeItem(at: dir)
        }
        let binary = URL(fileURLWithPath: path)
        // Every page of the binary in the page cache first: the kernel maps cached pages around
        // each one a process touches, so the figure is the worst case whatever ran before.
        guard let whole = FileHandle(forReadingAtPath: path) else {
            print("node.rss_mib_idle failed: cannot read \(path)")
            return nil
        }
        while let chunk = try? whole.read(upToCount: 1 << 20), !chunk.isEmpty {}
        try? whole.close()
        do {
            let first = try ConvergenceBench.Node(name: "n0", seeds: [], binary: binary, dir: dir)
            cluster.append(first)
            try first.ready()
            for i in 1..<3 { cluster.append(try ConvergenceBench.Node(name: "n\(i)", seeds: [first.mesh], binary: binary, dir: dir)) }
            for n in cluster { try n.ready() }
        } catch {
            print("node.rss_mib_idle failed (\(path)): \(error)")
            return nil
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !cluster.allSatisfy({ ConvergenceBench.connectedPeers($0) == 2 }) { usleep(50_000) }
        // Idle: a few broadcast intervals and heartbeats, nothing posted.
        sleep(5)
        let pids = cluster.map { $0.process.processIdentifier }
        var idle = Idle()
        for pid in pids {
            let status = procMiB("/proc/\(pid)/status")
            idle.rss.append(status["VmRSS"] ?? 0)
            idle.file.append(status["RssFile"] ?? 0)
            idle.anon.append(status["RssAnon"] ?? 0)
        }
        // The working set: clear each page's referenced bit, idle 5 s more, count what was used again.
        for pid in pids { try? "1".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8) }
        sleep(5)
        idle.touched = pids.map { procMiB("/proc/\($0)/smaps_rollup")["Referenced"] ?? 0 }
        return idle
    }
}
