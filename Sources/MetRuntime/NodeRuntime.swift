import Foundation
import Logging
import MetMesh
import MetRecorder
import MetStore
import MetUV
import MetWire
import Synchronization

/// One running node: a recorder for its own events, a collector holding the whole cluster's
/// metrics, and the mesh on its own libuv loop. Every `broadcastInterval` the recorder's batch is
/// applied locally and broadcast; gaps are asked of their origin; the store is compacted every
/// few seconds. `met node` is this plus the HTTP API.
package final class NodeRuntime: @unchecked Sendable {  // `mesh` is created and used only on `loop`'s thread; the rest are Sendable.
    package let resolved: NodeConfig.Resolved
    package let recorder: NodeRecorder
    package let collector: Collector
    package let logger: Logger
    let loop: UVLoop
    /// The mesh, on its loop's thread (every access checks it).
    let meshSlot: LoopBound<MeshNode>
    /// The mesh (loop thread only).
    var mesh: MeshNode { meshSlot.value }
    /// The mesh's `host:port` as peers dial it.
    package let meshAddress: String
    /// When this process started (unix seconds).
    package let startedAt: Int64
    /// The keyframe reporter, when `database` is set.
    package let reporter: KeyframeReporter?
    /// Merges peers' large batches off the loop.
    let merger: BatchMerger
    /// What the label-set limit refused, logged at most once a minute.
    package let cardinalityWatch = CardinalityWatch()
    /// Membership transitions and snapshot chunks, as the mesh seam saw them (O2).
    package let meshHealth = MeshHealth()
    /// The mesh loop's lag over the last minute (L8).
    package let loopLag = LoopLag()
    /// The mesh as `/api/cluster` shows it, published by the loop.
    let meshView = MeshView()
    /// This node's own job series since it started, for `/metrics`.
    package let ownTotals = OwnJobTotals()
    /// The clock correction last logged (NodeRuntime+Clock.swift).
    let loggedCorrection = Mutex<Int64>(0)

    package var config: NodeConfig { resolved.config }
    package var origin: Origin { recorder.origin }

    /// Binds the mesh listener and wires the mesh to the collector. Call ``run()`` to start.
    /// `recorder` records this node's own events (its origin names this node); `collector` is
    /// its replica, made with the configured tiers when not given.
    package init(_ resolved: NodeConfig.Resolved, recorder: NodeRecorder? = nil, collector: Collector? = nil, logger: Logger) async throws {
        self.resolved = resolved
        self.logger = logger
        let recorder = recorder ?? NodeRecorder(node: resolved.config.node)
        precondition(recorder.origin.node == resolved.config.node, "the recorder's node must be the configured node")
        precondition(collector.map { $0.clock === recorder.clock } ?? true, "the collector must keep the recorder's clock")
        startedAt = recorder.clock.second()
        let origin = recorder.origin
        self.recorder = recorder
        self.collector = collector ?? Self.makeCollector(resolved, clock: recorder.clock)
        loop = try UVLoop()
        let meshConfig = try Self.meshConfig(resolved, incarnation: origin.incarnation)
        if resolved.config.testFaults != nil { logger.warning("test faults are enabled (--test-faults): this node is not fit for production") }
        let collector = self.collector
        let logger = self.logger
        let host = ReplicaHost(collector: collector, logger: logger, health: meshHealth)
        let lag = loopLag
        let slot = try await loop.run { [loop] in
            _ = try lag.start(on: loop)  // the handle keeps itself until the loop shuts down
            return LoopBound(try MeshNode(loop: loop, config: meshConfig, host: host), loop: loop)
        }
        meshSlot = slot
        let view = meshView
        try await loop.run { [loop] in _ = try view.start(on: loop, mesh: slot) }  // the handle keeps itself until the loop shuts down
        host.merger.serve(slot)
        merger = host.merger
        meshAddress = try await loop.run { slot.value.address }
        if resolved.config.database != nil {
            let (config, retention) = (resolved.config, resolved.tiers.retention)
            await Task.detached { LastNodeSnapshot.load(config, maxAgeSeconds: retention, collector: collector, logger: logger) }.value
        }
        if let database = resolved.config.database {
            var settings = KeyframeReporter.Settings(database: database, cluster: resolved.config.cluster)
            settings.prefix = resolved.config.prefix
            settings.leaseMilliseconds = Int(resolved.config.leaseDuration * 1000)
            settings.keyframeMilliseconds = Int(resolved.config.keyframeInterval * 1000)
            settings.estimateLimit = resolved.config.estimateLimit
            settings.keyframeConnections = resolved.config.keyframeConnections
            settings.deltaMilliseconds = max(10, Int(resolved.config.deltaInterval * 1000))
            settings.logicalDecoding = resolved.config.countMode == "auto"
            let loop = self.loop
            reporter = KeyframeReporter(settings: settings, origin: origin, collector: collector, logger: logger) { message in
                collector.apply(message)
                let payload = CountCodec.encode(message)
                loop.execute { slot.value.broadcast(counts: payload) }
            }
        } else {
            reporter = nil
        }
    }

    /// The replica a node of this configuration keeps: its tiers and its label-set limit, and
    /// the node's clock (its recorder's) for the queries that give no `now`.
    package static func makeCollector(_ resolved: NodeConfig.Resolved, clock: ClusterClock = ClusterClock()) -> Collector {
        let store = SeriesStore(tiers: resolved.tiers)
        store.maxLabelSets = resolved.config.maxLabelSets
        return Collector(store: store, clock: clock)
    }

    /// The mesh's settings from the node's configuration (seconds become milliseconds).
    static func meshConfig(_ resolved: NodeConfig.Resolved, incarnation: UInt64) throws(FaultPlaneError) -> MeshNode.Config {
        let c = resolved.config
        func ms(_ seconds: Double) -> UInt64 { UInt64((seconds * 1000).rounded()) }
        var mesh = MeshNode.Config(cluster: c.cluster, node: c.node, incarnation: incarnation,
                                   host: resolved.listenHost, port: resolved.listenPort, secret: resolved.secret)
        mesh.advertise = c.advertise
        mesh.previousSecrets = resolved.previousSecrets
        mesh.timings.heartbeat = ms(c.heartbeatInterval)
        mesh.timings.suspectAfter = ms(c.suspectAfter)
        mesh.timings.downAfter = ms(c.silenceLimit)
        mesh.timings.indirectWindow = ms(c.indirectWindow)
        mesh.timings.closedConfirm = min(ms(c.heartbeatInterval), 1000)
        mesh.timings.lagGuard = ms(c.localLagGuard)
        mesh.timings.flapWindow = ms(c.flapWindow)
        mesh.timings.reapAfter = ms(c.reapAfter)
        mesh.snapshotChunkBytes = c.handoffChunkBytes
        mesh.retransmitWindow = c.retransmitWindow
        mesh.joinPatienceMilliseconds = ms(c.joinPatience)
        mesh.resyncIntervalMilliseconds = ms(c.resyncInterval)
        mesh.maxBackoffMilliseconds = ms(c.redialBackoffMax)
        mesh.outboundCapBytes = c.outboundQueueBytes
        mesh.outboundStallMilliseconds = ms(c.broadcastInterval * Double(c.outboundQueueIntervals))
        if let spec = c.testFaults { mesh.faults = try FaultPlane(parsing: spec) }
        return mesh
    }

    /// Joins the seeds, then broadcasts a batch every interval and compacts the store, until the
    /// task is cancelled; the last batch (what was recorded since the previous one) still goes out.
    package func run() async {
        let seeds = config.seeds.filter { $0 != meshAddress }
        loop.execute { [self] in mesh.join(seeds: seeds) }
        logger.notice("mesh listening on \(meshAddress) as \(origin.node) (incarnation \(origin.incarnation)) of cluster \(config.cluster); seeds: \(seeds.isEmpty ? "none" : seeds.joined(separator: ", "))")
        reporter?.start()
        let interval = Duration.milliseconds(Int64(config.broadcastInterval * 1000))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                var ticks = 0
                var history = FullCountHistory()
                await recorder.run(every: interval) { [self] batch in
                    ticks += 1
                    let retry = ticks % 3 == 0  // a lost resend request is asked again
                    // Out to the peers first: what a SIGKILL loses is what was not on the wire (H10).
                    let payload = BatchCodec.encode(batch)
                    if payload.count + WireProtocol.headerBytes > WireProtocol.maxFrameBytes {
                        logger.error("batch \(batch.seq) encodes to \(payload.count) bytes, more than a mesh frame holds (\(WireProtocol.maxFrameBytes)): peers will refuse it")
                    }
                    loop.execute { [self] in
                        mesh.broadcast(batch: payload, seq: batch.seq)
                        correctClock()
                    }
                    // Off the cooperative pool: merging a burst's batches into the replica takes its lock.
                    await Blocking.run { [self] in
                        collector.receive(batch, now: recorder.clock.second())
                        ownTotals.add(batch)
                        if retry { collector.retryGaps() }
                        collector.noKeyframeReason = noKeyframeReason()
                        cardinalityWatch.tick(collector, logger)
                    }
                    // The leader writes full_count's history into its next batch (DESIGN §3).
                    let leading = reporter?.status.isLeader == true
                    let counts = leading ? await Blocking.run { [collector] in collector.fullCount().counts } : nil
                    history.write(counts, into: recorder)
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    await collector.compact(now: recorder.clock.second())
                }
            }
            group.addTask { [self] in
                // Job moves go ahead of their batch every delta interval (`full_count` in snapshots mode).
                let every = Duration.milliseconds(max(10, Int64(config.deltaInterval * 1000)))
                while !Task.isCancelled {
                    try? await Task.sleep(for: every)
                    guard let moves = recorder.takeMovesAhead() else { continue }
                    _ = await Blocking.run { [collector] in collector.apply(moves) }
                    let payload = MovesCodec.encode(moves)
                    loop.execute { [self] in mesh.broadcast(moves: payload) }
                }
            }
            group.addTask { [self] in
                // The store's size for `/api/cluster`, counted here so that no request waits for it.
                while !Task.isCancelled {
                    _ = await Blocking.run { [collector] in collector.countSize() }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    /// The graceful stop, after ``run()`` has returned (its last batch is already queued to every
    /// peer): releases the lease (when leading), hands the store off to a successor, or, with
    /// none to take it and a database, writes it to Postgres; then closes the mesh and the loop.
    package func shutdown() async {
        announceLeaving()
        if let reporter { await Task.detached { reporter.stop() }.value }
        // Peers' batches still waiting to be merged go with the handoff.
        await Task.detached { [merger] in merger.drain() }.value
        let outcome = await handOff()
        // No successor took the store (every peer gone or stopping too): the last node writes it.
        if config.database != nil, !outcome.isCompleted {
            let (config, collector, logger) = (self.config, self.collector, self.logger)
            let retention = resolved.tiers.retention
            await Task.detached { LastNodeSnapshot.save(config, forgetAfterSeconds: retention, collector: collector, logger: logger) }.value
        }
        // The last batch was handed to the loop before this: let it reach every peer, then close.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let accepted = loop.execute { [self] in mesh.close(flushingWithin: 2_000) { done.resume() } }
            if !accepted { done.resume() }
        }
        loop.shutdown()
    }

    /// Tells every peer this node is stopping: from now on it is nobody's handoff successor, and
    /// it acknowledges no handoff chunk. `met node` calls it as soon as SIGTERM or SIGINT arrives.
    package func announceLeaving() {
        loop.execute { [self] in mesh.announceLeaving() }
    }

    /// Streams the store to a successor (``MeshNode/handOff(_:done:)``) within `handoffTimeout`.
    func handOff() async -> HandoffOutcome {
        var settings = HandoffSettings()
        settings.deadlineMilliseconds = UInt64(config.handoffTimeout * 1000)
        settings.ackTimeoutMilliseconds = UInt64(config.handoffAckTimeout * 1000)
        settings.chunkBytes = config.handoffChunkBytes
        let chosen = settings
        return await withCheckedContinuation { (done: CheckedContinuation<HandoffOutcome, Never>) in
            let accepted = loop.execute { [self] in mesh.handOff(chosen) { done.resume(returning: $0) } }
            if !accepted { done.resume(returning: .noSuccessor) }
        }
    }

    /// This node's view of the cluster, for `/api/cluster`.
    package func status() async -> ClusterStatus {
        let now = recorder.clock.second()
        let view = meshView.reading.map { ($0.members, $0.links, $0.clockOffsets, $0.leaving, $0.isReady) }
        let reading = collector.statusReading()
        let marks = reading.watermarks
        let last = reading.lastBatches
        func row(_ m: Member, link: PeerLink?, isSelf: Bool, offset: Int64?, leaving: Bool = false) -> ClusterStatus.Member {
            let o = Origin(node: m.name, incarnation: m.incarnation)
            let l = last[o]
            return .init(name: m.name, incarnation: m.incarnation, address: m.address,
                         status: isSelf ? "self" : (m.status == .alive && leaving ? "leaving" : m.status.rawValue),
                         connected: isSelf || link != nil, seq: marks[o] ?? 0,
                         lastBatchAge: l.map { max(0, now - $0.stamped - 1) }, lagSeconds: l.map { max(0, $0.at - $0.stamped - 1) },
                         clockOffsetMs: isSelf ? 0 : offset,
                         connectionAgeSeconds: link.map { Double($0.ageMilliseconds) / 1000 }, queuedBytes: link?.queuedBytes)
        }
        var members: [ClusterStatus.Member] = []
        if let (table, links, offsets, leaving, _) = view {
            members.append(row(table.me, link: nil, isSelf: true, offset: 0))
            for m in table.peers {
                members.append(row(m, link: links[m.name], isSelf: false, offset: offsets[m.name], leaving: leaving.contains(m.name)))
            }
        }
        let (keyframe, delta, counts) = (reading.keyframe, reading.delta, reading.counts)
        let db = reporter?.status
        let leadership = ClusterStatus.Leadership(
            leader: db?.leader ?? keyframe?.leader.node, incarnation: db?.leaderIncarnation ?? keyframe?.leader.incarnation,
            term: db?.term ?? keyframe?.term, isLeader: db?.isLeader ?? false)
        let latest = keyframe.map {
            ClusterStatus.KeyframeInfo(term: $0.term, number: $0.number, leader: $0.leader.node, timestamp: $0.timestamp,
                                       age: now - $0.timestamp, groups: counts?.count ?? 0, estimatedGroups: $0.counts.filter(\.estimated).count)
        }
        let fullCount = ClusterStatus.FullCountInfo(
            available: counts != nil, reason: counts == nil ? reading.noKeyframeReason : nil, mode: keyframe.map { "\($0.mode)" },
            note: keyframe?.note, deltaRevision: delta?.revision,
            deltaAgeMs: delta.map { max(0, recorder.clock.milliseconds() - $0.timestampMs) })
        let postgres = ClusterStatus.PostgresInfo(configured: reporter != nil, reachable: db?.reachable, since: db?.since, lastError: db?.lastError)
        let size = reading.size
        let store = ClusterStatus.StoreInfo(rows: size.rows, timelines: size.timelines, origins: size.origins)
        let (limit, refused) = (reading.labelSetLimit, reading.refusedEntries)
        let cardinality = ClusterStatus.CardinalityInfo(limit: limit, refusedEntries: refused, refusedRequests: cardinalityWatch.refusedRequests,
                                                        recorderInstruments: recorder.registeredCount)
        return ClusterStatus(cluster: config.cluster, node: origin.node, incarnation: origin.incarnation,
                             address: meshAddress, startedAt: startedAt, now: now, clockCorrectionMs: recorder.clock.correctionMilliseconds,
                             ready: view?.4 ?? false, members: members,
                             leadership: leadership, keyframe: latest, fullCount: fullCount, postgres: postgres, store: store,
                             cardinality: cardinality, loopLag: loopLag.reading.map(ClusterStatus.LoopLagInfo.init))
    }

    /// Why this node has no keyframe yet, from what it knows of Postgres and the leader.
    func noKeyframeReason() -> String {
        guard let db = reporter?.status else {
            return "this node has no database; it waits for a keyframe from the leader (a node with a database)"
        }
        if !db.reachable {
            return "Postgres is unreachable from this node\(db.lastError.map { " (\($0))" } ?? ""); no keyframe has reached it from a peer either"
        }
        if db.isLeader { return "this node leads (term \(db.term ?? 0)) and has not finished its first count" }
        if let leader = db.leader { return "waiting for the first keyframe of the leader, \(leader) (term \(db.term ?? 0))" }
        return "no leader yet"
    }
}
