import Foundation
import MetMesh
import MetStore
import MetUV
import MetValues
import MetWire

/// `handoff.*` (DESIGN §8, RELIABILITY H2): the 260k-row store handed from one mesh node to
/// another over loopback — two loops, two stores, real TCP — in acknowledged 1 MiB chunks. The
/// peer, in the same run, sends the same store unchunked: the whole snapshot encoded into one
/// buffer, written at once, received whole, then merged.
enum HandoffBench {
    static let mib = 1024.0 * 1024.0

    /// A value handed between the bench thread and a loop thread.
    final class Box<T>: @unchecked Sendable {  // used by one thread at a time: the loop during a transfer, the bench thread before and after (ordered by semaphores).
        var value: T
        init(_ value: T) { self.value = value }
    }

    static func onLoop<T>(_ loop: UVLoop, _ body: @escaping @Sendable () -> T) -> T {
        let result = Box<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        loop.execute {
            result.value = body()
            done.signal()
        }
        done.wait()
        return result.value!
    }

    /// The worst lateness of a 5 ms timer on a loop (RELIABILITY L8: no blocking call on the loop).
    final class LagProbe {
        var timer: UVTimer?
        var last: UInt64 = 0
        var worst: UInt64 = 0

        static func start(on loop: UVLoop) -> LagProbe {
            onLoop(loop) {
                let probe = LagProbe()
                probe.last = UVTimer.now(loop)
                probe.timer = try! UVTimer(loop: loop, every: 5) { [unowned probe] in
                    let now = UVTimer.now(loop)
                    probe.worst = max(probe.worst, now > probe.last + 5 ? now - probe.last - 5 : 0)
                    probe.last = now
                }
                return probe
            }
        }
    }

    /// The 260k-row store; `copies` > 1 repeats it under other incarnations (4: about 1M rows).
    static func buildStore(copies: Int = 1) -> SeriesStore {
        let store = SeriesStore()
        for copy in 0..<copies {
            for var t in Datasets.mixed260k(raw: false) {
                t.origin = Origin(node: t.origin.node, incarnation: t.origin.incarnation + UInt64(copy))
                try! store.merge(t, now: Datasets.now)
            }
        }
        store.compact(now: Datasets.now)
        return store
    }

    static func run() {
        let source = Box(buildStore())
        let rows = source.value.pointCount
        let (chunked, chunkedBytes, chunks, emptyGrowth, lag) = meshHandoff(from: source, to: Box(SeriesStore()))
        let replica = Box(buildStore())
        trimHeap()
        let (replicaMs, _, _, replicaPeak, _) = meshHandoff(from: source, to: replica)
        // H2: the extra peak does not grow with the store: the same handoff at about 1M rows.
        let big = Box(buildStore(copies: 4))
        let bigRows = big.value.pointCount
        let (_, _, _, bigPeak, _) = meshHandoff(from: big, to: Box(buildStore(copies: 4)))
        big.value = SeriesStore()
        trimHeap()
        let (plainMs, plainBytes, _) = unchunked(from: source, to: Box(SeriesStore()))
        let (_, _, plainPeak) = unchunked(from: source, to: Box(buildStore()))
        report("handoff.ms_260k", chunked, "ms", peer: plainMs,
               note: "\(rows) rows, \(chunks) chunks, \(chunkedBytes) bytes, to an empty node; to a replica holding the data \(format(replicaMs)) ms; worst loop lag \(lag.sender) ms sending, \(lag.receiver) ms receiving; peer = unchunked, \(plainBytes) bytes")
        report("handoff.peak_mib_260k", replicaPeak, "MiB", peer: plainPeak,
               note: "extra peak RSS of both sides together, to a replica (peer the same); \(format(bigPeak)) MiB at \(bigRows) rows; to an empty node RSS grew \(format(emptyGrowth)) MiB, the store's own size")
    }

    /// 150,000 one-point timelines: 2,400 queues × 25 workers, each with an `exec_time` and a
    /// `wait_time` of state `completed` and every second one an `exec_time` of state `discarded`,
    /// one value each, all at one recent second (a burst of new label sets, as a sidecar's first
    /// seconds make them).
    static func manyTimelinesStore() -> SeriesStore {
        let store = SeriesStore()
        let origin = Origin(node: "n1", incarnation: 1)
        var rng = SplitMix64(seed: 41)
        let ts = Datasets.now - 30
        var pair = 0
        for q in 0..<2400 {
            for w in 0..<25 {
                var states = ["completed"]
                if pair % 2 == 1 { states.append("discarded") }
                pair += 1
                for state in states {
                    let labels = LabelSet(["node": "n1", "queue": "queue-\(q)", "worker": "MyApp.Workers.Worker\(w)", "state": state])
                    for series in state == "completed" ? ["exec_time", "wait_time"] : ["exec_time"] {
                        let point = TimelineSnapshot.Point(ts: ts, step: 1, seq: 1, value: .sketch(Sketch([rng.lognormal()])))
                        try! store.merge(TimelineSnapshot(series: series, labels: labels, origin: origin, points: [point]), now: Datasets.now)
                    }
                }
            }
        }
        return store
    }

    static func manyTimelines() {
        let source = Box(manyTimelinesStore())
        let timelines = source.value.timelineCount
        let (ms, bytes, chunks, growth, lag) = meshHandoff(from: source, to: Box(SeriesStore()))
        let version1 = source.value.snapshotVersion1().byteCount
        let merges = mergeTimes.value
        report("handoff.ms_150k_timelines", ms, "ms",
               note: "\(timelines) one-point timelines, \(chunks) chunks, to an empty node (its RSS grew \(format(growth)) MiB); merging took \(format(Double(merges.total) / 1e6)) ms of CPU, the longest chunk \(format(Double(merges.worst) / 1e6)) ms; worst loop lag \(lag.sender) ms sending, \(lag.receiver) ms receiving")
        report("handoff.mib_150k_timelines", Double(bytes) / mib, "MiB", peer: Double(version1) / mib,
               note: "bytes of the handoff's chunks and watermarks; peer = the same snapshot in the chunk format before string tables (version 1)")
    }

    /// Hands `source` to `target` through two mesh nodes; returns (ms, bytes, chunks, extra peak
    /// MiB, worst loop lag in ms on either side).
    /// The receiver's chunk merges in the last handoff: their total and the longest (ns).
    nonisolated(unsafe) static let mergeTimes = Box((total: UInt64(0), worst: UInt64(0)))  // touched by the receiving loop during a transfer, by the bench thread after it

    static func meshHandoff(from source: Box<SeriesStore>, to target: Box<SeriesStore>)
        -> (Double, Int, Int, Double, (sender: UInt64, receiver: UInt64)) {
        mergeTimes.value = (0, 0)
        let secret = try! ClusterSecret(Array("handoff-bench-secret-0123456789ab".utf8))
        let (loopA, loopB) = (try! UVLoop(), try! UVLoop())
        defer { loopA.shutdown(); loopB.shutdown() }
        let receiver = Box<MeshNode?>(nil)
        let receiverAddress = onLoop(loopB) {
            let mesh = try! MeshNode(loop: loopB, config: Self.config("b", 2, secret), host: StoreHost(target))
            receiver.value = mesh
            return mesh.address
        }
        let sender = Box<MeshNode?>(nil)
        onLoop(loopA) {
            let mesh = try! MeshNode(loop: loopA, config: Self.config("a", 1, secret), host: StoreHost(source))
            mesh.join(seeds: [receiverAddress])
            sender.value = mesh
        }
        while onLoop(loopA, { sender.value!.connectedPeers.isEmpty }) { usleep(1000) }
        trimHeap()
        let rss = residentBytes().rss
        resetPeakResident()
        let probes = (Box(LagProbe.start(on: loopA)), Box(LagProbe.start(on: loopB)))
        let outcome = Box<HandoffOutcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        let t0 = nanotime()
        loopA.execute {
            sender.value!.handOff(HandoffSettings()) { result in
                outcome.value = result
                done.signal()
            }
        }
        done.wait()
        let ms = Double(nanotime() - t0) / 1e6
        let peak = Double(max(0, residentBytes().peak - rss)) / mib
        let lag = (sender: onLoop(loopA) { probes.0.value.worst }, receiver: onLoop(loopB) { probes.1.value.worst })
        onLoop(loopA) {
            probes.0.value.timer?.close()
            sender.value!.close()
        }
        onLoop(loopB) {
            probes.1.value.timer?.close()
            receiver.value!.close()
        }
        guard case .completed(_, let chunks, let bytes, _, _) = outcome.value! else { fatalError("handoff failed: \(outcome.value!)") }
        return (ms, bytes, chunks, peak, lag)
    }

    /// A mesh's settings for the bench: no catch-up (the receiver must not ask for the sender's
    /// store before the handoff does).
    static func config(_ name: String, _ incarnation: UInt64, _ secret: ClusterSecret) -> MeshNode.Config {
        var c = MeshNode.Config(node: name, incarnation: incarnation, secret: secret)
        c.joinPatienceMilliseconds = 3_600_000
        return c
    }

    /// A mesh host over a bare store (one loop at a time uses it, as the box says).
    final class StoreHost: MeshHost {
        let store: Box<SeriesStore>
        init(_ store: Box<SeriesStore>) { self.store = store }
        func receivedBatch(_ payload: [UInt8], from peer: PeerIdentity) -> BatchReceipt { .taken }
        func receivedCounts(_ payload: [UInt8], from peer: PeerIdentity) -> Bool { true }
        func receivedKeyframe(_ payload: [UInt8], from peer: PeerIdentity) -> Bool { true }
        func receivedMoves(_ payload: [UInt8], from peer: PeerIdentity) -> Bool { true }
        func heldCounts() -> [UInt8]? { nil }
        func watermarks() -> [PeerIdentity: UInt64] { [:] }
        func heldWatermarks() -> [PeerIdentity: UInt64] { [:] }
        func planSnapshot(of origin: PeerIdentity?, chunkBytes: Int) -> any SnapshotSource {
            Planned(store: store.value, plan: store.value.snapshotPlan(maxChunkBytes: chunkBytes))
        }
        func merge(chunk: [UInt8], from peer: PeerIdentity) throws {
            let t0 = threadCPUTime()
            defer {
                let ns = threadCPUTime() - t0
                mergeTimes.value.total += ns
                mergeTimes.value.worst = max(mergeTimes.value.worst, ns)
            }
            try store.value.merge(chunk: chunk, now: Datasets.now)
        }
        func merge(watermarks: [UInt8], from peer: PeerIdentity) throws { try store.value.merge(watermarks: watermarks) }
        func membershipChanged(_ transition: MemberTransition) {}
        func log(_ line: String) {}

        struct Planned: SnapshotSource {
            let store: SeriesStore
            let plan: SnapshotPlan
            var chunkCount: Int { plan.count }
            var watermarks: [UInt8] { plan.watermarks }
            func chunk(_ index: Int) -> [UInt8] { store.snapshotChunk(index, of: plan) }
        }
    }

    /// The peer: the whole store as one buffer over one loopback connection, merged on arrival.
    /// Returns (ms, bytes, extra peak MiB).
    static func unchunked(from source: Box<SeriesStore>, to target: Box<SeriesStore>) -> (Double, Int, Double) {
        let (loopA, loopB) = (try! UVLoop(), try! UVLoop())
        defer { loopA.shutdown(); loopB.shutdown() }
        let done = DispatchSemaphore(value: 0)
        let received = Box<[UInt8]>([])
        let server = Box<UVTCPServer?>(nil)
        let port = onLoop(loopB) {
            let s = try! UVTCPServer(loop: loopB, host: "127.0.0.1", port: 0) { connection in
                try! connection.startReading(onData: { received.value += $0 }, onEnd: { _ in
                    // Length-prefixed: u64 chunk length, the chunk, then the watermarks.
                    let bytes = received.value
                    let n = bytes.prefix(8).reduce(0) { $0 << 8 | Int($1) }
                    try! target.value.merge(chunk: Array(bytes[8..<(8 + n)]), now: Datasets.now)
                    try! target.value.merge(watermarks: Array(bytes[(8 + n)...]))
                    connection.close()
                    done.signal()
                })
            }
            server.value = s
            return s.port
        }
        trimHeap()
        let rss = residentBytes().rss
        resetPeakResident()
        let sent = Box(0)
        let t0 = nanotime()
        loopA.execute {
            let whole = source.value.snapshot(maxChunkBytes: .max)
            let chunk = whole.chunks.first ?? StoreSnapshot.emptyChunk
            var buffer = (0..<8).map { UInt8(truncatingIfNeeded: chunk.count >> (56 - 8 * $0)) }
            buffer += chunk
            buffer += whole.watermarks
            sent.value = buffer.count
            UVConnection.connect(loop: loopA, host: "127.0.0.1", port: port) { result in
                let connection = try! result.get()
                connection.write(buffer) { _ in connection.shutdown { _ in connection.close() } }
            }
        }
        done.wait()
        let ms = Double(nanotime() - t0) / 1e6
        let peak = Double(max(0, residentBytes().peak - rss)) / mib
        onLoop(loopB) { server.value?.close() }
        return (ms, sent.value, peak)
    }
}
