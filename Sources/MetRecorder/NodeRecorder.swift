import MetStore
import MetValues
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The in-process capture of job telemetry (DESIGN §1, §4), embedded in every worker node.
///
/// Record through ``JobHandle``s (resolved once per queue and worker: the fast path), through
/// the string-keyed conveniences, or through swift-metrics (``RecorderMetricsFactory``). Once a
/// second the node calls ``takeBatch(timestamp:)``, which returns exactly what was recorded since
/// the previous call, numbered for the mesh.
public final class NodeRecorder: Sendable {
    public let origin: Origin
    /// This node's clock: the system clock plus its correction (``ClusterClock``). Batches,
    /// queue checks and markers are stamped with it.
    package let clock: ClusterClock
    let stripeCount: Int

    package struct HandleKey: Hashable, Sendable {
        package var queue: String
        package var worker: String

        package init(queue: String, worker: String) {
            self.queue = queue
            self.worker = worker
        }
    }

    struct InstrumentKey: Hashable, Sendable {
        var series: String
        var labels: LabelSet
    }

    struct Registry: Sendable {
        var handles: [HandleKey: JobHandle] = [:]
        var counts: [InstrumentKey: CountInstrument] = [:]
        var sketches: [InstrumentKey: SketchInstrument] = [:]
        var gauges: [InstrumentKey: GaugeInstrument] = [:]
        var checks: [String: QueueCheck] = [:]
    }

    let registry = Mutex(Registry())
    /// Serialises batch taking: the sequence number and the drain happen together.
    let taking = Mutex<UInt64>(0)
    /// Job moves recorded with their transaction ids since the last batch (NodeRecorder+Moves.swift).
    let moveLog = Mutex(MoveLog())
    /// Stops posted in bulk for queues and workers without a handle (NodeRecorder+PostedStops.swift).
    let pendingStops = Mutex(PendingStops())

    /// Batches in a row with nothing to report after which a handle or instrument that nobody
    /// else holds is released (its memory freed); the next use makes a new one.
    let releaseAfterIdleBatches: Int

    /// - Parameters:
    ///   - origin: this node and its incarnation (new at every process start).
    ///   - stripes: stripes per job handle (a power of two; default twice the cores, at least 4).
    public convenience init(origin: Origin, stripes: Int? = nil) {
        self.init(origin: origin, stripes: stripes, releaseAfterIdleBatches: 60)
    }

    package init(origin: Origin, stripes: Int?, releaseAfterIdleBatches: Int, clock: ClusterClock = ClusterClock()) {
        self.origin = origin
        self.clock = clock
        var n = stripes ?? StripeIndex.defaultCount
        if n & (n - 1) != 0 || n < 1 { n = StripeIndex.defaultCount }
        stripeCount = n
        self.releaseAfterIdleBatches = max(1, releaseAfterIdleBatches)
    }

    /// A recorder for node `node` with a new incarnation, larger than that of any earlier
    /// process of this name (the wall clock in microseconds).
    public convenience init(node: String) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        self.init(origin: Origin(node: node, incarnation: UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000))
    }

    // MARK: Jobs

    /// The handle of a (queue, worker), created once and kept.
    public func handle(queue: String, worker: String) -> JobHandle {
        let key = HandleKey(queue: queue, worker: worker)
        return registry.withLock { r in
            if let h = r.handles[key] { return h }
            let h = JobHandle(node: origin.node, queue: queue, worker: worker, stripes: stripeCount)
            r.handles[key] = h
            return h
        }
    }

    /// `job_start` by queue and worker.
    public func jobStart(queue: String, worker: String) { handle(queue: queue, worker: worker).start() }

    /// `job_stop` by queue and worker.
    public func jobStop(queue: String, worker: String, outcome: JobOutcome, execNs: Int64, waitNs: Int64) {
        handle(queue: queue, worker: worker).stop(outcome, execNs: execNs, waitNs: waitNs)
    }

    /// `job_exception` by queue and worker (outcome `retryable` or `discarded`).
    public func jobException(queue: String, worker: String, outcome: JobOutcome, execNs: Int64, waitNs: Int64) {
        handle(queue: queue, worker: worker).exception(outcome, execNs: execNs, waitNs: waitNs)
    }

    // MARK: Engine operations, transitions, checks

    /// An engine operation on `count` jobs of a queue (`state` and `worker` where known, e.g.
    /// `inserted` with state `available` or `scheduled`).
    public func record(_ op: EngineOperation, queue: String, state: JobState? = nil, worker: String? = nil, count: Int64 = 1) {
        counter(op.rawValue, labels: Self.operationLabels(node: origin.node, queue: queue, state: state, worker: worker)).add(count)
    }

    /// `count` jobs moved from `old` to `new` state: the deltas that move `full_count`.
    public func transition(queue: String, worker: String? = nil, from old: JobState, to new: JobState, count: Int64 = 1) {
        counter("transitions", labels: Self.transitionLabels(node: origin.node, queue: queue, worker: worker, from: old, to: new)).add(count)
    }

    /// The current state of one of this node's queues; the latest per queue goes with each batch.
    public func queueCheck(queue: String, limit: Int, paused: Bool, running: [Int64], timestamp: Int64,
                           uuid: String? = nil, startedAt: Int64? = nil) {
        let check = QueueCheck(node: origin.node, queue: queue, limit: limit, paused: paused, running: running, timestamp: timestamp,
                               uuid: uuid, startedAt: startedAt)
        registry.withLock { $0.checks[queue] = check }
    }

    // MARK: Generic instruments (also what swift-metrics records into)

    /// The count instrument of a series and label set, created once and kept.
    public func counter(_ series: String, labels: LabelSet) -> CountInstrument {
        instrument(InstrumentKey(series: series, labels: labels), \.counts) { CountInstrument(series: series, labels: labels) }
    }

    /// The sketch instrument of a series and label set, created once and kept.
    public func sketch(_ series: String, labels: LabelSet) -> SketchInstrument {
        instrument(InstrumentKey(series: series, labels: labels), \.sketches) { SketchInstrument(series: series, labels: labels) }
    }

    /// The gauge instrument of a series and label set, created once and kept.
    public func gauge(_ series: String, labels: LabelSet) -> GaugeInstrument {
        instrument(InstrumentKey(series: series, labels: labels), \.gauges) { GaugeInstrument(series: series, labels: labels) }
    }

    private func instrument<I: Sendable>(
        _ key: InstrumentKey, _ table: WritableKeyPath<Registry, [InstrumentKey: I]> & Sendable, make: () -> I
    ) -> I {
        registry.withLock { r in
            if let existing = r[keyPath: table][key] { return existing }
            let created = make()
            r[keyPath: table][key] = created
            return created
        }
    }

    // MARK: Batches

    /// Everything recorded since the previous call, as the next numbered batch of this origin,
    /// stamped with `timestamp` (the origin's wall-clock second), however large: a node sends
    /// ``takeParts(timestamp:)``, which splits a burst to fit the mesh's frames. Empty batches are numbered too,
    /// so receivers can tell a quiet node from a lost batch. Handles and instruments idle for
    /// `releaseAfterIdleBatches` batches that nobody else holds are released afterwards.
    package func takeBatch(timestamp: Int64) -> DeltaBatch {
        taking.withLock { seq in
            seq += 1
            let (batch, _) = drainAll(seq: seq, timestamp: timestamp)
            releaseIdle()
            return batch
        }
    }

    /// Most entries in one batch: every batch must fit in one mesh frame (4 MiB), whatever a
    /// burst of new label sets put in one interval. An entry is 20–600 bytes encoded (label
    /// values are at most 200 bytes), so 4,096 of them stay under 2.5 MiB.
    package static let maxBatchEntries = 4096

    /// Everything recorded since the previous call, as consecutive numbered batches of at most
    /// ``maxBatchEntries`` entries each (one batch in all but a burst). The first carries the
    /// job-state changes (`transitions`, `inserted`, `pruned`), the recorded moves and the queue
    /// checks together, so that `full_count` reads them as one; the rest share out the others.
    package func takeBatches(timestamp: Int64) -> [DeltaBatch] {
        var taken = takeParts(timestamp: timestamp)
        return (0..<taken.count).map { taken.part($0) }
    }

    /// ``takeBatches(timestamp:)`` as the node delivers it: the numbers are given now, and a
    /// burst of posted stops becomes its batches' sketches one part at a time, when the part is
    /// asked for, so that a burst of new queue names is never all in memory as sketches at once.
    package func takeParts(timestamp: Int64) -> TakenBatches {
        taking.withLock { seq in
            let drained = drainAll(seq: seq + 1, timestamp: timestamp, postedAside: true)
            var whole = drained.0
            let posted = drained.1
            releaseIdle()
            guard whole.entries.count > Self.maxBatchEntries || !posted.isEmpty else {
                seq += 1
                return TakenBatches(ready: [whole])
            }
            // Split in place, without copying the burst's entries more than once: the
            // job-state series first, then slices of at most `maxBatchEntries`.
            var entries = whole.entries
            whole.entries = []
            let stateSeries: Set<String> = ["transitions", "inserted", "pruned"]
            let stateCount = entries.partition { !stateSeries.contains($0.series) }
            var bounds = [0, max(stateCount, min(Self.maxBatchEntries, entries.count))]
            while bounds.last! < entries.count { bounds.append(min(bounds.last! + Self.maxBatchEntries, entries.count)) }
            var parts: [DeltaBatch] = []
            parts.reserveCapacity(bounds.count - 1)
            for (i, start) in bounds.dropLast().enumerated() {
                seq += 1
                parts.append(DeltaBatch(origin: origin, seq: seq, timestamp: timestamp, entries: Array(entries[start..<bounds[i + 1]]),
                                        checks: i == 0 ? whole.checks : [], moves: i == 0 ? whole.moves : []))
            }
            // The room left in the last part takes the first posted stops now, so that a burst
            // is not one batch longer than its entries need (a batch is what a peer's
            // retransmit window counts).
            // (None when the first part alone holds more job-state entries than a batch's room.)
            let room = Swift.max(0, Self.maxBatchEntries - parts[parts.count - 1].entries.count) / 3
            let now = Swift.min(room, posted.keys.count)
            let grouped = posted.grouping()
            posted.appendEntries(ofKeys: 0..<now, grouped, node: origin.node, into: &parts[parts.count - 1].entries)
            let later = PostedParts(posted, grouped, fromKey: now, origin: origin, timestamp: timestamp, firstSeq: seq + 1)
            seq += UInt64(later.count)
            return TakenBatches(ready: parts, posted: later)
        }
    }

    /// Drains everything recorded. The stops posted in bulk go into the batch too, unless
    /// `postedAside` and they would take it past ``maxBatchEntries``: then they are returned
    /// apart, for ``takeParts(timestamp:)`` to make into batches of their own.
    private func drainAll(seq: UInt64, timestamp: Int64, postedAside: Bool = false) -> (DeltaBatch, PendingStops) {
        let (handles, counts, sketches, gauges, checks) = registry.withLock { r in
            // Checks of queues no longer reported are not sent on for ever.
            r.checks = r.checks.filter { $0.value.timestamp >= timestamp - Self.checkLifetime }
            return (Array(r.handles.values), Array(r.counts.values), Array(r.sketches.values), Array(r.gauges.values),
                    Array(r.checks.values))
        }
        var entries: [DeltaBatch.Entry] = []
        var posted = takePendingStops()
        var freedPairs = 0
        for h in handles { h.drain(into: &entries, freedPairs: &freedPairs) }
        // A burst's once-used handles gave their sketches back: so does the process.
        if freedPairs >= Self.trimAfterReleasing { FreeMemory.returnToSystemSoon() }
        for c in counts { c.drain(into: &entries) }
        for s in sketches { s.drain(into: &entries) }
        for g in gauges { g.drain(into: &entries) }
        let moves = drainMoves(into: &entries)
        if !postedAside || entries.count + posted.entryCount <= Self.maxBatchEntries {
            posted.drain(node: origin.node, into: &entries)
            posted = PendingStops()
        }
        return (DeltaBatch(origin: origin, seq: seq, timestamp: timestamp, entries: entries,
                           checks: checks.sorted { $0.queue < $1.queue }, moves: moves), posted)
    }

    /// Seconds a queue check is sent on after it was last taken.
    static let checkLifetime: Int64 = 60

    /// Drops idle handles and instruments that only the registry holds and that hold nothing:
    /// no thread can reach them any more (a lookup takes the registry's lock first), so nothing
    /// recorded is lost, and the next lookup makes a fresh one. Called by the batch taker.
    private func releaseIdle() {
        let limit = releaseAfterIdleBatches
        var released: [AnyObject] = []
        registry.withLock { r in
            Self.release(&r.handles, limit, into: &released) { $0.taker.idleBatches } isEmpty: { $0.isEmpty() }
            Self.release(&r.counts, limit, into: &released) { $0.idle.batches } isEmpty: { $0.isEmpty() }
            Self.release(&r.sketches, limit, into: &released) { $0.idle.batches } isEmpty: { $0.isEmpty() }
            Self.release(&r.gauges, limit, into: &released) { $0.idle.batches } isEmpty: { $0.isEmpty() }
        }
        // Freed here, outside the registry's lock: lookups (and `/api/cluster`) do not wait for it.
        let count = released.count
        released = []
        // After a burst's handles are gone, the process's resident memory follows what it holds.
        if count >= Self.trimAfterReleasing { FreeMemory.returnToSystemSoon() }
    }

    /// Handles and instruments released (or outcome pairs freed) at once after which free
    /// memory is returned to the system.
    static let trimAfterReleasing = 1024

    /// Moves the idle, unshared, empty values of `table` into `released`.
    private static func release<K: Hashable, V: AnyObject>(
        _ table: inout [K: V], _ limit: Int, into released: inout [AnyObject], idleBatches: (V) -> Int, isEmpty: (V) -> Bool
    ) {
        let candidates = table.compactMap { idleBatches($0.value) >= limit ? $0.key : nil }
        for key in candidates {
            guard var value = table.removeValue(forKey: key) else { continue }
            if isKnownUniquelyReferenced(&value) && isEmpty(value) { released.append(value) } else { table[key] = value }
        }
    }

    /// Handles and instruments held now (for tests and `/api/cluster`).
    package var registeredCount: Int {
        registry.withLock { $0.handles.count + $0.counts.count + $0.sketches.count + $0.gauges.count }
    }
}
