import Foundation
import Logging
import MetMesh
import MetRuntime
import MetStore
import MetUV
import MetWire

/// `mesh.mac_overhead_pct` (RELIABILITY S3): the extra CPU of MAC'd frames on the convergence
/// workload, 8 nodes in a full mesh. The 8 nodes run in one process, each a `MeshNode` on its
/// own loop thread with a real replica (`ReplicaHost` over a `Collector`: every batch decoded
/// and applied), as in `met node`; each broadcasts a busy node's second (`wire.json_ratio`'s,
/// about 60 KB) 10 times a second, heartbeats at the default 1 s. The same run with MACs off
/// (`MeshNode.Config.authenticatesFrames`, which only benchmarks set) is the baseline; the
/// process's CPU time (user + system) is compared, runs alternating, the median of each kept.
/// Recording and HTTP, which a real node also spends CPU on, are left out, so the share is an
/// upper bound of what a node pays.
enum MACBench {
    static let nodes = 8
    static let perSecond = 10
    static let seconds = 3.0
    static let runs = 5

    final class Node: @unchecked Sendable {  // `mesh` and `timer` are made and used on `loop`'s thread only; `batches` is written before the timer starts.
        let loop: UVLoop
        var mesh: MeshNode!
        var timer: UVTimer?
        var next = 0
        let batches: [(seq: UInt64, payload: [UInt8])]

        init(name: String, incarnation: UInt64, authenticates: Bool, batches: [(seq: UInt64, payload: [UInt8])]) throws {
            loop = try UVLoop()
            self.batches = batches
            HandoffBench.onLoop(loop) { [self] in
                var config = MeshNode.Config(node: name, incarnation: incarnation, secret: MeshBench.secret)
                config.authenticatesFrames = authenticates
                let host = ReplicaHost(collector: Collector(store: SeriesStore()), logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
                mesh = try! MeshNode(loop: loop, config: config, host: host)
            }
        }

        func onLoop<T>(_ body: @escaping @Sendable (MeshNode) -> T) -> T { HandoffBench.onLoop(loop) { [self] in body(mesh) } }

        /// Broadcasts the next prepared batch every `1 / perSecond` s.
        func startBroadcasting() {
            HandoffBench.onLoop(loop) { [self] in
                timer = try! UVTimer(loop: loop, every: UInt64(1000 / MACBench.perSecond)) { [self] in
                    guard next < batches.count else { return }
                    mesh.broadcast(batch: batches[next].payload, seq: batches[next].seq)
                    next += 1
                }
            }
        }

        func stop() {
            HandoffBench.onLoop(loop) { [self] in
                timer?.close()
                mesh.close()
            }
            loop.shutdown()
        }
    }

    /// CPU seconds of one measured window with MACs on or off (nil: the mesh did not form).
    static func measure(authenticates: Bool, run: Int) -> Double? {
        let busy = WireBench.busySecond()
        let count = Int((seconds + 2) * Double(perSecond))
        var cluster: [Node] = []
        for i in 0..<nodes {
            let name = "m\(i)"
            let incarnation = UInt64(run * 100 + i + 1)
            let now = Int64(Date().timeIntervalSince1970)
            let batches = (1...count).map { seq -> (UInt64, [UInt8]) in
                var b = busy
                b.origin = Origin(node: name, incarnation: incarnation)
                b.seq = UInt64(seq)
                b.timestamp = now + Int64(seq / perSecond)
                return (UInt64(seq), BatchCodec.encode(b))
            }
            cluster.append(try! Node(name: name, incarnation: incarnation, authenticates: authenticates, batches: batches))
        }
        defer { for n in cluster { n.stop() } }
        let seed = cluster[0].onLoop { $0.address }
        for n in cluster.dropFirst() { _ = n.onLoop { $0.join(seeds: [seed]) } }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !cluster.allSatisfy({ n in n.onLoop { $0.connectedPeers.count } == nodes - 1 }) { usleep(50_000) }
        guard cluster.allSatisfy({ n in n.onLoop { $0.connectedPeers.count } == nodes - 1 }) else { return nil }
        usleep(1_500_000)  // catch-up and gossip done
        for n in cluster { n.startBroadcasting() }
        usleep(1_000_000)  // warm: every replica has met every origin
        let cpu0 = MeshBench.cpuSeconds()
        usleep(UInt32(seconds * 1e6))
        return MeshBench.cpuSeconds() - cpu0
    }

    /// Thread CPU nanoseconds to seal one frame of `payload` and open it on the other side, the
    /// best of 5 rounds of 2,000.
    static func sealAndOpenNanoseconds(_ payload: [UInt8]) -> Double {
        var i = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: MeshBench.secret)
        var r = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 2, secret: MeshBench.secret)
        let helloI = i.start()[0]
        let helloR = r.start()[0]
        guard case .send(let hi) = helloI, case .send(let hr) = helloR,
              case .send(let pi) = i.receive(hr)[0], case .send(let pr) = r.receive(hi)[0],
              case .established(_, let ki) = i.receive(pr)[0], case .established(_, let kr) = r.receive(pi)[0] else { fatalError("handshake") }
        var sender = FrameAuthenticator(keys: ki)
        var receiver: FrameAuthenticator? = FrameAuthenticator(keys: kr)
        let encoded = Frame(type: .batch, payload: payload).encoded()
        var decoder = FrameDecoder(limit: WireProtocol.maxFrameBytes)
        var best = Double.infinity
        for _ in 0..<5 {
            let n = 2_000
            let t0 = threadCPUNanoseconds()
            for _ in 0..<n {
                sender.seal(encoded) { decoder.append(encoded); decoder.append($0) }
                _ = try! decoder.nextFrame(authenticatedBy: &receiver)
            }
            best = min(best, Double(threadCPUNanoseconds() - t0) / Double(n))
        }
        // Less the same decoding without a MAC, so only the MAC's part is counted.
        var plain = FrameDecoder(limit: WireProtocol.maxFrameBytes)
        var bare = Double.infinity
        for _ in 0..<5 {
            let n = 2_000
            let t0 = threadCPUNanoseconds()
            for _ in 0..<n {
                plain.append(encoded)
                _ = try! plain.nextFrame()
            }
            bare = min(bare, Double(threadCPUNanoseconds() - t0) / Double(n))
        }
        return best - bare
    }

    static func threadCPUNanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// `mesh.mac_overhead_pct`.
    static func run() {
        var on: [Double] = []
        var off: [Double] = []
        for r in 0..<runs {
            guard let a = measure(authenticates: true, run: 2 * r), let b = measure(authenticates: false, run: 2 * r + 1) else {
                print("mesh.mac_overhead_pct failed: the mesh did not form")
                return
            }
            on.append(a)
            off.append(b)
        }
        on.sort()
        off.sort()
        let (withMACs, without) = (on[runs / 2], off[runs / 2])
        let frames = Double(nodes * (nodes - 1) * perSecond) * seconds
        let payload = BatchCodec.encode(WireBench.busySecond())
        let perFrame = sealAndOpenNanoseconds(payload)
        // The figure: the MACs' own CPU (measured per frame, times the frames of the run) over the
        // run's CPU without them. The direct difference of the two runs is in the note: on this
        // shared 2-core machine its noise (a few %) is larger than the effect.
        let pct = perFrame * frames / 1e9 / without * 100
        report("mesh.mac_overhead_pct", pct, "%",
               note: "\(nodes) nodes in one process, each broadcasting a busy second (\(payload.count / 1000) KB) \(perSecond)×/s to a real replica on each peer; \(format(frames)) batch frames in \(format(seconds)) s, each sealed and opened in \(format(perFrame / 1000)) µs (thread CPU, decoding without a MAC subtracted) = \(format(perFrame * frames / 1e9)) s of the \(format(without)) s the run takes without MACs. Direct A/B: \(format(withMACs)) s with vs \(format(without)) s without, \(format((withMACs / without - 1) * 100)) % (medians of \(runs) alternating runs: on \(on.map(format)), off \(off.map(format)))")
    }
}
