import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `convergence.p99_ms_8` and `convergence.p99_ms_32` (DESIGN §8, RELIABILITY C1): 8 (or 32)
/// real `met node` processes on loopback at the default 1 s broadcast interval; one event is
/// posted to a random node at a random moment, and the time until every replica serves it is
/// measured. 50 probes; p99 and p50.
enum ConvergenceBench {
    static let probes = 50

    final class Node {
        let process = Process()
        let name: String
        let log: URL
        var mesh = ""
        var http = ""

        init(name: String, seeds: [String], binary: URL, dir: URL, extra: [String] = [], command: String = "node") throws {
            self.name = name
            log = dir.appendingPathComponent("\(name).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = binary
            process.arguments = [command, "--node", name, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--log-level", "notice"]
                + seeds.flatMap { ["--seed", $0] } + extra
            var env = ProcessInfo.processInfo.environment
            env["MET_CLUSTER_SECRET"] = "convergence-benchmark-secret-0123456789"
            process.environment = env
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        /// Waits for both listeners, read from the node's log every `pollMicroseconds`.
        func ready(pollMicroseconds: UInt32 = 20_000) throws {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                if let m = Self.after("mesh listening on ", text), let h = Self.after("http listening on ", text) {
                    (mesh, http) = (m, h)
                    return
                }
                usleep(pollMicroseconds)
            }
            throw NSError(domain: "convergence", code: 1, userInfo: [NSLocalizedDescriptionKey: "node did not start: \(log.path)"])
        }

        static func after(_ marker: String, _ text: String) -> String? {
            guard let r = text.range(of: marker) else { return nil }
            let s = text[r.upperBound...].prefix { !$0.isWhitespace && $0 != ";" }
            return s.isEmpty ? nil : String(s)
        }
    }

    /// A blocking HTTP call (the benchmark is single-threaded on purpose).
    /// `session`: a watcher timing answers uses its own, so its requests never queue behind
    /// large posts on the shared session's connections and delegate queue.
    static func call(_ url: String, body: String? = nil, session: URLSession = .shared) -> (Int, Data) {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 5
        if let body {
            request.httpMethod = "POST"
            request.httpBody = Data(body.utf8)
        }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result = (0, Data())  // written by the completion handler before `done` is signalled
        session.dataTask(with: request) { data, response, _ in
            result = ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data())
            done.signal()
        }.resume()
        done.wait()
        return result
    }

    static func run8() { run(nodes: 8) }
    static func run32() { run(nodes: 32) }

    static func run(nodes: Int) {
        let name = "convergence.p99_ms_\(nodes)"
        guard let path = ProcessInfo.processInfo.environment["MET_BINARY"] else {
            print("\(name) skipped: set MET_BINARY to a built met (scripts/bench does)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-convergence-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var cluster: [Node] = []
        defer {
            for n in cluster where n.process.isRunning { n.process.terminate() }
            for n in cluster { n.process.waitUntilExit() }
            try? FileManager.default.removeItem(at: dir)
        }
        do {
            let first = try Node(name: "n0", seeds: [], binary: URL(fileURLWithPath: path), dir: dir)
            try first.ready()
            cluster.append(first)
            for i in 1..<nodes { cluster.append(try Node(name: "n\(i)", seeds: [first.mesh], binary: URL(fileURLWithPath: path), dir: dir)) }
            for n in cluster { try n.ready() }
        } catch {
            print("\(name) failed: \(error)")
            return
        }
        // The full mesh: every node connected to the 7 others.
        let meshDeadline = Date().addingTimeInterval(60)
        while Date() < meshDeadline, !cluster.allSatisfy({ connectedPeers($0) == nodes - 1 }) { usleep(50_000) }

        var random = SystemRandomNumberGenerator()
        var samples: [Double] = []
        for k in 0..<probes {
            usleep(UInt32.random(in: 0...1_000_000, using: &random))  // a random phase against the broadcast timer
            let target = cluster[Int.random(in: 0..<nodes, using: &random)]
            let queue = "probe-\(k)"
            let t0 = nanotime()
            let (status, _) = call("http://\(target.http)/api/events", body: #"{"event":"inserted","queue":"\#(queue)"}"#)
            guard status == 200 else { continue }
            var pending = Set(cluster.indices)
            let deadline = nanotime() + 10_000_000_000
            while !pending.isEmpty, nanotime() < deadline {
                for i in pending {
                    let (s, data) = call("http://\(cluster[i].http)/api/latest/inserted?lookback=600&filter=queue:\(queue)")
                    if s == 200, let v = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["all"] as? Double, v >= 1 {
                        pending.remove(i)
                    }
                }
                usleep(2_000)
            }
            if pending.isEmpty { samples.append(Double(nanotime() - t0) / 1e6) }
        }
        samples.sort()
        guard !samples.isEmpty else {
            print("\(name) failed: no probe converged")
            return
        }
        let p99 = samples[min(samples.count - 1, Int((Double(samples.count) * 0.99).rounded(.up)) - 1)]
        let formed = cluster.filter { connectedPeers($0) == nodes - 1 }.count
        report(name, p99, "ms",
               note: "p50 \(String(format: "%.0f", samples[samples.count / 2])) ms, max \(String(format: "%.0f", samples.last!)) ms; \(samples.count)/\(probes) probes; \(nodes) processes (\(formed) with a full mesh at the end), 1 s broadcast interval")
    }

    static func connectedPeers(_ n: Node) -> Int {
        let (s, data) = call("http://\(n.http)/api/cluster")
        guard s == 200, let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let members = json["members"] as? [[String: Any]] else { return 0 }
        return members.filter { $0["status"] as? String == "alive" && $0["connected"] as? Bool == true }.count
    }
}
