import Foundation
import Logging
import MetMesh
import MetRecorder
import MetStore
import MetUV

/// One running node: a recorder for its own events, a collector holding the whole cluster's
/// metrics, and the mesh on its own libuv loop. Every `broadcastInterval` the recorder's batch is
/// applied locally and broadcast; gaps are asked of their origin; the store is compacted every
/// few seconds. `met node` is this plus the HTTP API.
public final class NodeRuntime: @unchecked Sendable {  // `mesh` is created and used only on `loop`'s thread; the rest are Sendable.
    public let resolved: NodeConfig.Resolved
    public let recorder: NodeRecorder
    public let collector: Collector
    public let logger: Logger
    let loop: UVLoop
    let meshSlot = LoopOwned<MeshNode>()
    /// The mesh (loop thread only).
    var mesh: MeshNode { meshSlot.value! }
    /// The mesh's `host:port` as peers dial it.
    public let meshAddress: String
    /// When this process started (unix seconds).
    public let startedAt: Int64

    public var config: NodeConfig { resolved.config }
    public var origin: Origin { recorder.origin }

    /// Binds the mesh listener and wires the mesh to the collector. Call ``run()`` to start.
    public init(_ resolved: NodeConfig.Resolved, logger: Logger) async throws {
        self.resolved = resolved
        self.logger = logger
        startedAt = NodeRecorder.wallClockSecond()
        // A new incarnation at every process start, larger than any earlier one (microseconds).
        let origin = Origin(node: resolved.config.node, incarnation: UInt64(Date().timeIntervalSince1970 * 1_000_000))
        recorder = NodeRecorder(origin: origin)
        collector = Collector(store: SeriesStore(tiers: resolved.tiers))
        loop = try UVLoop()
        var meshConfig = MeshNode.Config(cluster: resolved.config.cluster, node: origin.node, incarnation: origin.incarnation,
                                         host: resolved.listenHost, port: resolved.listenPort, secret: resolved.secret)
        meshConfig.heartbeatMilliseconds = UInt64(resolved.config.heartbeatInterval * 1000)
        meshConfig.silenceLimitMilliseconds = UInt64(resolved.config.silenceLimit * 1000)
        meshConfig.advertise = resolved.config.advertise
        let window = resolved.config.retransmitWindow
        let settings = meshConfig
        let collector = self.collector
        let logger = self.logger
        let slot = meshSlot
        meshAddress = try await loop.run { [loop] in
            let mesh = try MeshNode(loop: loop, config: settings)
            mesh.retransmitWindow = window
            mesh.onLog = { line in logger.info("\(line)") }
            mesh.onChange = { change in NodeRuntime.log(change, logger) }
            mesh.onBatch = { [weak mesh] batch, _ in
                if let gap = collector.receive(batch, now: NodeRecorder.wallClockSecond()) {
                    mesh?.requestResend(from: gap.origin, gap.missing)
                }
            }
            mesh.ownSnapshot = { collector.withStore { $0.snapshot(of: origin) } }
            mesh.onSnapshotChunk = { chunk, peer in
                do { try collector.merge(chunk: chunk, now: NodeRecorder.wallClockSecond()) } catch {
                    logger.warning("snapshot chunk from \(peer.node) refused: \(error)")
                }
            }
            mesh.onSnapshotEnd = { marks, peer in
                do {
                    try collector.merge(watermarks: marks, now: NodeRecorder.wallClockSecond())
                    logger.info("merged a snapshot of \(peer.node)'s data")
                } catch {
                    logger.warning("snapshot watermarks from \(peer.node) refused: \(error)")
                }
            }
            slot.value = mesh
            return mesh.address
        }
    }

    static func log(_ change: MemberTable.Change, _ logger: Logger) {
        switch change {
        case .joined(let m): logger.notice("member \(m.name) joined (incarnation \(m.incarnation), \(m.address.isEmpty ? "address not yet known" : m.address))")
        case .replaced(let old, let new): logger.notice("member \(new.name) restarted: incarnation \(old.incarnation) → \(new.incarnation)")
        case .down(let m): logger.notice("member \(m.name) is down (its connection closed)")
        case .alive(let m): logger.notice("member \(m.name) is alive again")
        }
    }

    /// Joins the seeds, then broadcasts a batch every interval and compacts the store, until the
    /// task is cancelled; the last batch (what was recorded since the previous one) still goes out.
    public func run() async {
        let seeds = config.seeds.filter { $0 != meshAddress }
        loop.execute { [self] in mesh.join(seeds: seeds) }
        logger.notice("mesh listening on \(meshAddress) as \(origin.node) (incarnation \(origin.incarnation)) of cluster \(config.cluster); seeds: \(seeds.isEmpty ? "none" : seeds.joined(separator: ", "))")
        let interval = Duration.milliseconds(Int64(config.broadcastInterval * 1000))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                var ticks = 0
                await recorder.run(every: interval) { [self] batch in
                    collector.receive(batch, now: NodeRecorder.wallClockSecond())
                    ticks += 1
                    if ticks % 3 == 0 { collector.retryGaps() }  // a lost resend request is asked again
                    loop.execute { [self] in mesh.broadcast(batch) }
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    let now = NodeRecorder.wallClockSecond()
                    collector.withStore { _ = $0.compact(now: now) }
                }
            }
        }
    }

    /// Closes the mesh and stops the loop. Call after ``run()`` has returned.
    public func shutdown() async {
        _ = try? await loop.run { [self] in mesh.close() }
        loop.shutdown()
    }

    /// This node's view of the cluster, for `/api/cluster`.
    public func status() async -> ClusterStatus {
        let now = NodeRecorder.wallClockSecond()
        let view = try? await loop.run { [self] in (mesh.table, Set(mesh.connectedPeers), mesh.clockOffsets) }
        let marks = collector.withStore { $0.watermarks }
        let last = collector.lastBatches
        func row(_ m: Member, connected: Bool, isSelf: Bool, offset: Int64?) -> ClusterStatus.Member {
            let o = Origin(node: m.name, incarnation: m.incarnation)
            let l = last[o]
            return .init(name: m.name, incarnation: m.incarnation, address: m.address,
                         status: isSelf ? "self" : (m.status == .alive ? "alive" : "down"),
                         connected: connected, seq: marks[o] ?? 0,
                         lastBatchAge: l.map { now - $0.stamped }, lagSeconds: l.map { $0.at - $0.stamped },
                         clockOffsetMs: isSelf ? 0 : offset)
        }
        var members: [ClusterStatus.Member] = []
        if let (table, connected, offsets) = view {
            members.append(row(table.me, connected: true, isSelf: true, offset: 0))
            for m in table.peers { members.append(row(m, connected: connected.contains(m.name), isSelf: false, offset: offsets[m.name])) }
        }
        return ClusterStatus(cluster: config.cluster, node: origin.node, incarnation: origin.incarnation,
                             address: meshAddress, startedAt: startedAt, now: now, ready: true, members: members)
    }
}

/// A value created and used on one loop thread only, held by an object other threads share.
final class LoopOwned<T>: @unchecked Sendable {  // `value` is read and written only on the owning loop's thread.
    var value: T?
}

/// `GET /api/cluster`: this node and every member it knows, with status and lag.
public struct ClusterStatus: Sendable, Codable, Equatable {
    public struct Member: Sendable, Codable, Equatable {
        public var name: String
        public var incarnation: UInt64
        public var address: String
        /// `self`, `alive` or `down`.
        public var status: String
        public var connected: Bool
        /// The last batch of this member (this incarnation) applied here.
        public var seq: UInt64
        /// Seconds since the member stamped the last batch applied here.
        public var lastBatchAge: Int64?
        /// Seconds between the member stamping that batch and this node applying it.
        public var lagSeconds: Int64?
        /// The member's wall clock minus this node's (ms), from its last heartbeat.
        public var clockOffsetMs: Int64?
    }

    public var cluster: String
    public var node: String
    public var incarnation: UInt64
    public var address: String
    public var startedAt: Int64
    public var now: Int64
    public var ready: Bool
    public var members: [Member]
}
