import Foundation
import Logging
import MetPostgres
import MetRecorder
import MetStore

/// The keyframe reporter (DESIGN §5): on its own thread, with its own libpq connection, so no
/// database call ever runs on the mesh loop (RELIABILITY L8). Every node runs one when
/// `database` is set; the one holding the cluster's lease is the leader and counts jobs.
///
/// - Lease: one statement every lease/3 takes, renews or observes it (L6); its expiry is
///   Postgres's `now()` (L4). The leader fences itself, by its monotonic clock, when it has not
///   renewed within lease − 2 s of the start of its last successful renewal, or on any error (L5).
/// - Keyframes: every `keyframeInterval` the leader notes the collector's watermarks, counts jobs
///   per (state, queue) under one snapshot, and hands the keyframe to `deliver` if still
///   unfenced; between keyframes it hands on its deltas (``LeaderCounts``, docs/full-count.md).
///   Every acquisition of the lease is a new term, and numbers never go back within a term.
/// - Postgres unreachable: one log line when it goes, one when it comes back (L7); recording and
///   broadcasting go on elsewhere; `full_count` keeps its last keyframe.
package final class KeyframeReporter: @unchecked Sendable {  // `state` is guarded by `condition`; `connection` and the counters are used by the reporter thread only.
    package struct Settings: Sendable {
        package var database: String
        package var prefix = "public"
        package var cluster: String
        package var leaseMilliseconds = 10_000
        package var keyframeMilliseconds = 5_000
        package var estimateLimit = 50_000
        /// Connections a keyframe's exact counts are split across (``KeyframeCounter``).
        package var keyframeConnections = 2
        /// Between keyframes: the leader's deltas at most this often.
        package var deltaMilliseconds = 250
        /// Decode `oban_jobs`'s changes from the WAL where Postgres allows it (false: never a replication slot).
        package var logicalDecoding = true

        package init(database: String, cluster: String) {
            self.database = database
            self.cluster = cluster
        }
    }

    /// What `/api/cluster` shows of leadership and Postgres.
    package struct Status: Sendable, Equatable, Codable {
        package var reachable = false
        /// Unix seconds of the last change of `reachable` (or of the start).
        package var since: Int64 = 0
        package var leader: String?
        package var leaderIncarnation: UInt64?
        package var term: Int64?
        package var isLeader = false
        package var lastError: String?
    }

    let settings: Settings
    let origin: Origin
    let collector: Collector
    let logger: Logger
    let deliver: @Sendable (CountMessage) -> Void
    let condition = NSCondition()
    private var state = (stopping: false, status: Status(), started: false, finished: false)
    private var connection: PostgresConnection?
    /// The term being led and the last keyframe number used in it.
    private var number: (term: Int64, last: UInt64) = (0, 0)
    private var fenceAt: ContinuousClock.Instant?
    private var reported = false
    /// A keyframe is due at once (a new term).
    private var keyframeNow = false
    private let counts: LeaderCounts

    package init(settings: Settings, origin: Origin, collector: Collector, logger: Logger, deliver: @escaping @Sendable (CountMessage) -> Void) {
        self.settings = settings
        self.origin = origin
        self.collector = collector
        self.logger = logger
        self.deliver = deliver
        var leader = LeaderCounts.Settings(database: settings.database)
        leader.prefix = settings.prefix
        leader.estimateLimit = settings.estimateLimit
        leader.keyframeConnections = settings.keyframeConnections
        leader.logical = settings.logicalDecoding
        leader.deltaMilliseconds = settings.deltaMilliseconds
        leader.keyframeMilliseconds = settings.keyframeMilliseconds
        // Blocked waiting for a slot, the thread renews no lease: a quarter of one at most.
        leader.slotWaitMilliseconds = max(200, min(2_000, settings.leaseMilliseconds / 4))
        leader.node = origin.node
        leader.cluster = settings.cluster
        leader.incarnation = origin.incarnation
        counts = LeaderCounts(settings: leader, logger: logger)
        state.status.since = NodeRecorder.wallClockSecond()
    }

    package var status: Status {
        condition.lock()
        defer { condition.unlock() }
        return state.status
    }

    /// Starts the reporter thread (once).
    package func start() {
        let first = condition.withLock { () -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        let thread = Thread { [self] in run() }
        thread.name = "met-keyframes"
        thread.start()
    }

    /// Stops the thread; a leader releases its lease first, so the next leader takes over
    /// within a keyframe interval (L3). Waits for the thread to finish.
    package func stop() {
        condition.lock()
        state.stopping = true
        condition.broadcast()
        while state.started, !state.finished { condition.wait() }  // never started: nothing to wait for
        condition.unlock()
    }

    private func run() {
        let clock = ContinuousClock()
        var nextLease = clock.now
        var nextKeyframe = clock.now
        var lastKeyframe = clock.now
        while true {
            condition.lock()
            let stopping = state.stopping
            condition.unlock()
            if stopping { break }
            let now = clock.now
            if now >= nextLease {
                renew(clock)
                nextLease = now + .milliseconds(max(100, settings.leaseMilliseconds / 3))
            }
            if let fence = fenceAt, clock.now >= fence {
                fenceSelf("the lease was not renewed in time")
            }
            // A keyframe when due, at once for a new term, and when the deltas cannot explain a
            // change (a truncation, a huge transaction, a broken stream): 0.2 s apart at least.
            let forced = keyframeNow || (counts.wantsKeyframe && clock.now >= lastKeyframe + .milliseconds(200))
            if fenceAt != nil, clock.now >= nextKeyframe || forced {
                keyframeNow = false
                takeKeyframe(clock)
                lastKeyframe = clock.now
                nextKeyframe = clock.now + .milliseconds(settings.keyframeMilliseconds)
            }
            var wake = fenceAt.map { min($0, nextLease, nextKeyframe) } ?? nextLease
            if fenceAt != nil {
                // Between keyframes: the stream is read (waiting on its socket, a tenth of a
                // second at most so a stop is noticed), or the new jobs recounted when due.
                let due = counts.nextDue.map { min($0, wake) } ?? wake
                pollCounts(clock, waitingUpTo: counts.isStreaming ? min(100, Self.milliseconds(due - clock.now)) : 0)
                if counts.isStreaming { continue }
                wake = counts.nextDue.map { min($0, wake) } ?? wake
            }
            let wait = max(0.005, Double(Self.milliseconds(wake - clock.now)) / 1000)
            condition.lock()
            if !state.stopping { _ = condition.wait(until: Date().addingTimeInterval(wait)) }
            condition.unlock()
        }
        counts.stop()
        if fenceAt != nil, let connection {
            do {
                try connection.releaseLease(name: settings.cluster, holder: origin.node, incarnation: origin.incarnation, prefix: settings.prefix)
                logger.notice("released the keyframe lease (term \(status.term ?? 0))")
            } catch {
                logger.warning("could not release the keyframe lease: \(error); it expires by itself")
            }
        }
        connection?.close()
        connection = nil
        condition.lock()
        state.finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// One lease statement (connecting first if needed); updates leadership and the fence.
    private func renew(_ clock: ContinuousClock) {
        let started = clock.now
        do throws(PostgresError) {
            let conn = try connect()
            guard let lease = try conn.tryLease(name: settings.cluster, holder: origin.node, incarnation: origin.incarnation,
                                                milliseconds: settings.leaseMilliseconds, prefix: settings.prefix) else {
                throw PostgresError(.query, message: "the lease statement returned no row")
            }
            reachable(true, error: nil)
            let wasLeader = fenceAt != nil
            if lease.isCaller {
                let margin = settings.leaseMilliseconds >= 6_000 ? settings.leaseMilliseconds - 2_000 : settings.leaseMilliseconds * 2 / 3
                fenceAt = started + .milliseconds(margin)
                if lease.term != number.term {
                    // A new term (every acquisition is one): its keyframes count from 1, at once.
                    number = (lease.term, 0)
                    keyframeNow = true
                }
                if !wasLeader {
                    logger.notice("leading cluster \(settings.cluster) with term \(lease.term) (\(Self.previous(status))); keyframes every \(settings.keyframeMilliseconds) ms")
                }
            } else if wasLeader {
                fenceSelf("\(lease.holder) holds the lease now (term \(lease.term))")
            }
            update { s in
                if s.term != lease.term || s.leader != lease.holder, !lease.isCaller {
                    logger.info("leader of cluster \(settings.cluster): \(lease.holder), term \(lease.term) (\(Self.previous(s)))")
                }
                s.leader = lease.holder
                s.leaderIncarnation = lease.incarnation
                s.term = lease.term
                s.isLeader = lease.isCaller
            }
        } catch {
            failed(error)
        }
    }

    private func takeKeyframe(_ clock: ContinuousClock) {
        guard number.term == status.term, number.term != 0 else { return }
        do throws(PostgresError) {
            // Watermarks before counting: later transitions without a transaction id move the counts on.
            let message = try counts.takeKeyframe(term: number.term, number: number.last + 1, leader: origin) { collector.watermarks }
            guard let fence = fenceAt, clock.now < fence else { return }  // fenced while counting: drop it
            number.last += 1
            deliver(message)
        } catch {
            failed(error)
        }
    }

    /// Between keyframes: hands on the leader's delta when there is one to send.
    private func pollCounts(_ clock: ContinuousClock, waitingUpTo milliseconds: Int) {
        do throws(PostgresError) {
            guard let delta = try counts.poll(waitingUpTo: milliseconds), let fence = fenceAt, clock.now < fence else { return }
            deliver(.delta(delta))
        } catch {
            failed(error)
        }
    }

    static func milliseconds(_ d: Duration) -> Int {
        let c = d.components
        return max(0, Int(c.seconds) * 1000 + Int(c.attoseconds / 1_000_000_000_000_000))
    }

    private func connect() throws(PostgresError) -> PostgresConnection {
        if let connection { return connection }
        let conn = try PostgresConnection(connectionString: settings.database, applicationName: "met \(origin.node) lease")
        connection = conn
        return conn
    }

    private func failed(_ error: PostgresError) {
        connection?.close()
        connection = nil
        if fenceAt != nil { fenceSelf("postgres error: \(error)") }
        reachable(false, error: error.description)
    }

    private func fenceSelf(_ why: String) {
        fenceAt = nil
        counts.stop()
        update { $0.isLeader = false }
        logger.warning("stopped issuing keyframes (fenced): \(why)")
    }

    private func reachable(_ up: Bool, error: String?) {
        let now = NodeRecorder.wallClockSecond()
        update { s in
            s.lastError = error
            guard s.reachable != up || !reported else { return }
            if up {
                logger.notice(reported ? "postgres reachable again after \(now - s.since) s" : "postgres reachable")
            } else {
                logger.error("postgres unreachable: \(error ?? "unknown error"); recording and broadcasting go on, keyframes resume when it returns")
            }
            reported = true
            s.reachable = up
            s.since = now
        }
    }

    /// The leadership this node knew before a change, for the change's log line (RELIABILITY O1).
    static func previous(_ s: Status) -> String {
        guard let term = s.term else { return "no leader known before" }
        return "before: \(s.leader ?? "unknown"), term \(term)"
    }

    private func update(_ body: (inout Status) -> Void) {
        condition.lock()
        body(&state.status)
        condition.unlock()
    }
}
