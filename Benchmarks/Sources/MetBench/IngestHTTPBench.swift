import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `ingest.http_lines_per_s` (DESIGN §8): one real `met node` (the release build), 4 clients on
/// loopback each posting 10,000-line bodies of the simulate mix back to back over a kept-alive
/// connection; lines accepted per second of wall time.
enum IngestHTTPBench {
    static let clients = 4
    static let requestsPerClient = 40

    static func run() {
        guard let path = ProcessInfo.processInfo.environment["MET_BINARY"] else {
            print("ingest.http_lines_per_s skipped: set MET_BINARY to a built met (scripts/bench does)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-ingest-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let node: ConvergenceBench.Node
        do {
            node = try ConvergenceBench.Node(name: "ingest", seeds: [], binary: URL(fileURLWithPath: path), dir: dir)
            try node.ready()
        } catch {
            print("ingest.http_lines_per_s failed: \(error)")
            return
        }
        defer {
            node.process.terminate()
            node.process.waitUntilExit()
            try? FileManager.default.removeItem(at: dir)
        }
        let body = IngestBench.body(IngestBench.simulateLines(IngestBench.linesPerRequest))
        let parts = node.http.split(separator: ":")
        let port = UInt16(parts.last!)!
        let request = Array("POST /api/events HTTP/1.1\r\nHost: \(node.http)\r\nContent-Type: application/x-ndjson\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        // Warm: the node learns the label sets, the allocator its sizes.
        guard let warm = Client(port: port), warm.post(request) == 200 else {
            print("ingest.http_lines_per_s failed: the warm-up request was refused")
            return
        }
        warm.close()
        let failures = Atomic(0)
        let t0 = nanotime()
        let group = DispatchGroup()
        for _ in 0..<clients {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                guard let c = Client(port: port) else {
                    failures.add()
                    return
                }
                for _ in 0..<requestsPerClient where c.post(request) != 200 { failures.add() }
                c.close()
            }
        }
        group.wait()
        let seconds = Double(nanotime() - t0) / 1e9
        let lines = Double(clients * requestsPerClient * IngestBench.linesPerRequest)
        guard failures.value == 0 else {
            print("ingest.http_lines_per_s failed: \(failures.value) requests were not accepted")
            return
        }
        report("ingest.http_lines_per_s", lines / seconds, "lines/s",
               note: "\(clients) clients × \(requestsPerClient) requests of \(IngestBench.linesPerRequest) lines (\(body.count / 1024) KiB) to one met node over loopback, kept-alive connections; \(format(seconds)) s")
    }

    /// A counter shared by the client threads.
    final class Atomic: @unchecked Sendable {  // `n` is touched only while `lock` is held
        let lock = NSLock()
        var n: Int
        init(_ n: Int) { self.n = n }
        func add() { lock.withLock { n += 1 } }
        var value: Int { lock.withLock { n } }
    }

    /// A blocking HTTP/1.1 client on one kept-alive loopback connection.
    final class Client {
        let fd: Int32

        init?(port: UInt16) {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return nil }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard ok == 0 else {
                Glibc.close(fd)
                return nil
            }
        }

        func close() { Glibc.close(fd) }

        /// Sends one request and reads its whole response; returns the status (0 on failure).
        func post(_ request: [UInt8]) -> Int {
            var sent = 0
            while sent < request.count {
                let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, request.count - sent, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { return 0 }
                sent += n
            }
            var response: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 4096, 0) }
                guard n > 0 else { return 0 }
                response += buffer[0..<n]
                guard let headerEnd = Self.find(response, [13, 10, 13, 10]) else { continue }
                let head = String(decoding: response[0..<headerEnd], as: UTF8.self).lowercased()
                let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
                if head.contains("transfer-encoding: chunked") {
                    if Self.find(Array(response[(headerEnd + 4)...]), Array("0\r\n\r\n".utf8)) != nil { return status }
                    continue
                }
                guard let lengthLine = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                      let length = Int(lengthLine.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
                else { return 0 }
                if response.count >= headerEnd + 4 + length { return status }
            }
        }

        static func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
            guard haystack.count >= needle.count else { return nil }
            for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            return nil
        }
    }
}
