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
///   per (state, queue) in one round trip, and hands the keyframe to `deliver` if still unfenced.
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
    let deliver: @Sendable (Keyframe) -> Void
    let condition = NSCondition()
    private var state = (stopping: false, status: Status(), started: false, finished: false)
    private var connection: PostgresConnection?
    private var number: UInt64 = 0
    private var fenceAt: ContinuousClock.Instant?
    private var reported = false

    package init(settings: Settings, origin: Origin, collector: Collector, logger: Logger, deliver: @escaping @Sendable (Keyframe) -> Void) {
        self.settings = settings
        self.origin = origin
        self.collector = collector
        self.logger = logger
        self.deliver = deliver
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
            if fenceAt != nil, clock.now >= nextKeyframe {
                takeKeyframe(clock)
                nextKeyframe = clock.now + .milliseconds(settings.keyframeMilliseconds)
            }
            let wake = fenceAt.map { min($0, nextLease, nextKeyframe) } ?? nextLease
            let remaining = (wake - clock.now).components
            let wait = max(0.005, Double(remaining.seconds) + Double(remaining.attoseconds) / 1e18)
            condition.lock()
            if !state.stopping { _ = condition.wait(until: Date().addingTimeInterval(wait)) }
            condition.unlock()
        }
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
                if !wasLeader {
                    number = 0
                    logger.notice("leading cluster \(settings.cluster) with term \(lease.term); keyframes every \(settings.keyframeMilliseconds) ms")
                }
            } else if wasLeader {
                fenceSelf("\(lease.holder) holds the lease now (term \(lease.term))")
            }
            update { s in
                if s.term != lease.term || s.leader != lease.holder, !lease.isCaller {
                    logger.info("leader of cluster \(settings.cluster): \(lease.holder), term \(lease.term)")
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
        guard let conn = connection, let term = status.term else { return }
        let watermarks = collector.watermarks  // before counting: later transitions move the counts on
        do throws(PostgresError) {
            let counts = try conn.jobCounts(prefix: settings.prefix, estimateLimit: settings.estimateLimit)
            guard let fence = fenceAt, clock.now < fence else { return }  // fenced while counting: drop it
            number += 1
            let keyframe = Keyframe(
                term: term, number: number, leader: origin, timestamp: NodeRecorder.wallClockSecond(),
                counts: counts.map { .init(group: JobGroup(state: $0.state, queue: $0.queue), count: $0.count, estimated: $0.estimated) },
                watermarks: watermarks)
            deliver(keyframe)
        } catch {
            failed(error)
        }
    }

    private func connect() throws(PostgresError) -> PostgresConnection {
        if let connection { return connection }
        let conn = try PostgresConnection(connectionString: settings.database)
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

    private func update(_ body: (inout Status) -> Void) {
        condition.lock()
        body(&state.status)
        condition.unlock()
    }
}
