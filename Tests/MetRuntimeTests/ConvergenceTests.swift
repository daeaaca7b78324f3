import Logging
import MetMesh
import MetRuntime
import MetRecorder
import MetStore
import MetUV
import MetValues
import MetWire
import Synchronization
import MetTestSupport
import Testing

/// One node assembled in-process: loop + mesh + recorder + collector, as `met node` will be.
final class TestRuntime: @unchecked Sendable {  // `mesh` is created and used only on `loop`'s thread.
    let name: String
    let loop: UVLoop
    var mesh: MeshNode!
    let recorder: NodeRecorder
    let collector = Collector()
    var ticker: Task<Void, Never>?

    init(name: String, secret: ClusterSecret) async throws {
        self.name = name
        let origin = Origin(node: name, incarnation: UInt64.random(in: 1...UInt64.max >> 1))
        recorder = NodeRecorder(origin: origin)
        loop = try UVLoop()
        let host = ReplicaHost(collector: collector, logger: Logger(label: "test"))
        try await loop.run { [self] in
            mesh = try MeshNode(loop: loop, config: .init(node: name, incarnation: origin.incarnation, secret: secret), host: host)
        }
    }

    /// Takes a batch every `interval`: applies it locally and broadcasts it.
    func startTicking(every interval: Duration) {
        ticker = Task { [self] in
            await recorder.run(every: interval) { [self] batch in
                collector.receive(batch, now: NodeRecorder.wallClockSecond())
                collector.retryGaps()  // a lost resend request is asked again with the next early batch
                let payload = BatchCodec.encode(batch)
                loop.execute { [self] in mesh.broadcast(batch: payload, seq: batch.seq) }
            }
        }
    }

    func port() async throws -> Int { try await loop.run { [self] in Int(mesh.address.split(separator: ":").last!)! } }
    func dial(_ port: Int) { loop.execute { [self] in mesh.dial(host: "127.0.0.1", port: port) } }

    func total(_ series: String) -> Double {
        collector.withStore { store in
            (try? store.latest(Selection(series: series, lookback: 600), now: NodeRecorder.wallClockSecond())["all"]) ?? -1
        }
    }

    func stop() async throws {
        ticker?.cancel()
        await ticker?.value
        try await loop.run { [self] in mesh.close() }
        loop.shutdown()
    }
}

@Suite struct ConvergenceTests {
    static let secret = try! ClusterSecret(Array("a-cluster-secret-of-32-bytes!!!!".utf8))

    /// Events recorded on each of three nodes reach every replica with exactly the same totals,
    /// including the batches broadcast before the mesh was up (recovered by resend requests).
    @Test(.timeLimit(.minutes(1)))
    func eventsOnEveryNodeAreVisibleOnAllWithExactTotals() async throws {
        let nodes = [try await TestRuntime(name: "a", secret: Self.secret),
                     try await TestRuntime(name: "b", secret: Self.secret),
                     try await TestRuntime(name: "c", secret: Self.secret)]
        for n in nodes { n.startTicking(every: .milliseconds(20)) }
        // Record before the mesh exists: those batches can only arrive by resend.
        for (i, n) in nodes.enumerated() { n.recorder.record(.inserted, queue: "q", count: Int64(100 * (i + 1))) }
        // Let each node take a few batches alone, so its first ones are never broadcast.
        try await eventually("a few batches taken alone") {
            nodes.allSatisfy { n in n.collector.withStore { $0.watermark(of: n.recorder.origin) } >= 3 }
        }
        let seed = try await nodes[0].port()
        nodes[1].dial(seed)
        nodes[2].dial(seed)
        // And more while it forms, from several threads.
        await withTaskGroup(of: Void.self) { group in
            for (i, n) in nodes.enumerated() {
                group.addTask {
                    let handle = n.recorder.handle(queue: "q", worker: "W")
                    for k in 0..<500 {
                        n.recorder.record(.inserted, queue: "q", count: 1)
                        handle.start()
                        handle.stop(.completed, execNs: Int64(1_000 + k * (i + 1)), waitNs: 10)
                    }
                }
            }
        }
        let expectedInserted = Double(100 + 200 + 300 + 3 * 500)
        try await eventually("every replica holds every node's events") {
            nodes.allSatisfy { $0.total("inserted") == expectedInserted }
        }
        for n in nodes {
            let observations = n.collector.withStore { store in
                (try? store.latest(Selection(series: "exec_time", lookback: 600), op: .count, now: NodeRecorder.wallClockSecond())["all"]) ?? 0
            }
            #expect(observations == 1500, "node \(n.name)")
        }
        for n in nodes { try await n.stop() }
        #expect(nodes.allSatisfy { $0.loop.closeStatus == 0 })
    }
}

