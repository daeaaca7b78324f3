import Foundation
import MetMesh
import MetStore
import MetUV
import MetWire

/// `mesh.*` (RELIABILITY B1, B2, B5, B6): the mesh at N = 64 at idle, and a peer that stops
/// reading. 64 real processes do not fit this 2-core machine next to the others' builds, so the
/// 64 nodes run in one process, each a `MeshNode` on its own `UVLoop` thread, as in `met node`,
/// over authenticated loopback connections, with the default timings.
enum MeshBench {
    static let secret = try! ClusterSecret(Array("mesh-bench-secret-0123456789abcdef".utf8))

    /// A node's host at idle: an empty replica that takes every batch.
    final class IdleHost: MeshHost, Sendable {
        func receivedBatch(_ payload: [UInt8], from peer: PeerIdentity) -> BatchReceipt { .taken }
        func receivedCounts(_ payload: [UInt8], from peer: PeerIdentity) -> Bool { true }
        func receivedKeyframe(_ payload: [UInt8], from peer: PeerIdentity) -> Bool { true }
        func receivedMoves(_ payload: [UInt8], from peer: PeerIdentity) -> Bool { true }
        func heldCounts() -> [UInt8]? { nil }
        func watermarks() -> [PeerIdentity: UInt64] { [:] }
        func heldWatermarks() -> [PeerIdentity: UInt64] { [:] }
        func planSnapshot(of origin: PeerIdentity?, chunkBytes: Int) -> any SnapshotSource { Empty() }
        func merge(chunk: [UInt8], from peer: PeerIdentity) throws {}
        func merge(watermarks: [UInt8], from peer: PeerIdentity) throws {}
        func membershipChanged(_ transition: MemberTransition) {}
        func log(_ line: String) {}

        struct Empty: SnapshotSource {
            var chunkCount: Int { 0 }
            var watermarks: [UInt8] { StoreSnapshot.encode(watermarks: [:]) }
            func chunk(_ index: Int) -> [UInt8] { [] }
        }
    }

    /// One node: its loop, its mesh, and the timer that broadcasts its idle recorder's batch
    /// every second (numbered, stamped, empty: what an idle node sends).
    final class Node: @unchecked Sendable {  // `mesh` and `timer` are made and used on `loop`'s thread only.
        let loop: UVLoop
        var mesh: MeshNode!
        var timer: UVTimer?
        var seq: UInt64 = 0

        init(name: String, incarnation: UInt64) throws {
            loop = try UVLoop()
            HandoffBench.onLoop(loop) { [self] in
                mesh = try! MeshNode(loop: loop, config: MeshNode.Config(node: name, incarnation: incarnation, secret: MeshBench.secret), host: IdleHost())
                let origin = Origin(node: name, incarnation: incarnation)
                timer = try! UVTimer(loop: loop, every: 1000) { [self] in
                    seq += 1
                    let batch = DeltaBatch(origin: origin, seq: seq, timestamp: Int64(Date().timeIntervalSince1970), entries: [])
                    mesh.broadcast(batch: BatchCodec.encode(batch), seq: seq)
                }
            }
        }

        func onLoop<T>(_ body: @escaping @Sendable (MeshNode) -> T) -> T { HandoffBench.onLoop(loop) { [self] in body(mesh) } }

        func stop() {
            HandoffBench.onLoop(loop) { [self] in
                timer?.close()
                mesh.close()
            }
            loop.shutdown()
        }
    }

    /// CPU seconds this process has used (user + system).
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    static let idleNodes = 64
    static let idleSeconds = 20.0

    /// `mesh.idle_bytes_per_peer_s_64` and `mesh.idle_cpu_pct_64`.
    static func idle() {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max  // 64 nodes × 63 connections × 2 ends
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let n = idleNodes
        var nodes: [Node] = []
        for i in 0..<n { nodes.append(try! Node(name: String(format: "n%02d", i), incarnation: UInt64(i + 1))) }
        defer { for node in nodes { node.stop() } }
        let seed = nodes[0].onLoop { $0.address }
        for node in nodes.dropFirst() { _ = node.onLoop { $0.join(seeds: [seed]) } }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !nodes.allSatisfy({ node in node.onLoop { $0.connectedPeers.count } == n - 1 }) { usleep(100_000) }
        let formed = nodes.map { node in node.onLoop { $0.connectedPeers.count } }.reduce(0, +)
        guard formed == n * (n - 1) else {
            print("mesh.idle_bytes_per_peer_s_64 failed: the mesh did not form (\(formed) of \(n * (n - 1)) connections)")
            return
        }
        sleep(5)  // settle: every node ready, gossip and holdings done, digests sent once
        let bytes0 = nodes.map { node in node.onLoop { $0.bytesSent } }.reduce(0, +)
        let cpu0 = cpuSeconds()
        let t0 = nanotime()
        usleep(UInt32(idleSeconds * 1e6))
        let seconds = Double(nanotime() - t0) / 1e9
        let cpu = cpuSeconds() - cpu0
        let bytes = nodes.map { node in node.onLoop { $0.bytesSent } }.reduce(0, +) - bytes0
        let perPeer = Double(bytes) / Double(n * (n - 1)) / seconds
        report("mesh.idle_bytes_per_peer_s_64", perPeer, "B/s",
               note: "\(n) nodes in one process, full mesh, defaults (heartbeat 1 s, an idle batch every 1 s); frames written in \(format(seconds)) s, frame headers included, TCP/IP headers not; \(format(perPeer * Double(n - 1) / 1024)) KiB/s out per node")
        report("mesh.idle_cpu_pct_64", cpu / seconds / Double(n) * 100, "%",
               note: "CPU of the whole process ÷ \(n) nodes, % of one core per node (each node one loop thread: timers, heartbeats, failure detection, idle batches)")
    }

    /// `mesh.slow_reader_extra_mib`: a node broadcasts a busy node's batches (the `wire.json_ratio`
    /// second, about 60 KB, 10 a second) to a peer that completed the handshake and then never
    /// reads, for 60 s; its extra peak RSS over what it held before the peer connected.
    static func slowReader() {
        let node = try! Node(name: "a", incarnation: 1)
        defer { node.stop() }
        let payload = BatchCodec.encode(WireBench.busySecond())
        let address = node.onLoop { $0.address }
        let parts = address.split(separator: ":")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var small: Int32 = 64 << 10
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(parts[1])!.bigEndian
        inet_pton(AF_INET, String(parts[0]), &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        defer { close(fd) }
        var handshake = Handshake(role: .initiator, cluster: "met", node: "slow", incarnation: 7, secret: secret)
        var decoder = FrameDecoder()
        var established = false
        var authenticator: FrameAuthenticator?
        func perform(_ actions: [Handshake.Action]) {
            for a in actions {
                switch a {
                case .send(let f): _ = f.encoded().withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                case .established(_, let keys):
                    established = true
                    authenticator = FrameAuthenticator(keys: keys)  // its heartbeats carry MACs, as a node's do
                case .fail(let e): fatalError("handshake failed: \(e)")
                }
            }
        }
        perform(handshake.start())
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !established {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { fatalError("the node closed the handshake") }
            decoder.append(buffer[0..<n])
            while !established, let f = try! decoder.nextFrame() { perform(handshake.receive(f)) }
        }
        // First as a busy node normally runs: its retransmit window (120 batches) fills, the heap
        // reaches its working size; the slow peer reads nothing from the start, but its socket
        // buffers absorb the first megabytes, so the queue only starts growing later.
        var seq: UInt64 = 0
        func tick() {
            seq += 1
            let s = seq
            node.onLoop { $0.broadcast(batch: payload, seq: s) }
            // The slow peer keeps talking: a heartbeat now and then, never a read.
            if seq % 5 == 0 {
                let beat = authenticator!.sealed(Frame(type: .heartbeat, payload: HeartbeatCodec.encode(wallClockMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))))
                _ = beat.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            }
            usleep(100_000)
        }
        for _ in 0..<130 { tick() }
        trimHeap()
        let rss = residentBytes().rss
        resetPeakResident()
        var dropped: Double?
        let t0 = nanotime()
        while Double(nanotime() - t0) / 1e9 < 60 {
            tick()
            if dropped == nil, node.onLoop({ !$0.connectedPeers.contains("slow") }) { dropped = 13 + Double(nanotime() - t0) / 1e9 }
        }
        let extra = Double(max(0, residentBytes().peak - rss)) / HandoffBench.mib
        report("mesh.slow_reader_extra_mib", extra, "MiB",
               note: "peak RSS of a node broadcasting \(payload.count)-byte batches 10 times a second to a peer that never reads, over the 60 s after its first 13 s (retransmit window full, heap at its working size), minus its RSS then; the peer was dropped after \(dropped.map { format($0) + " s" } ?? "never") of not reading (8 MiB outbound cap, 60 intervals)")
    }
}
