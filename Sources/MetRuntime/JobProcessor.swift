import Foundation
import Logging
import MetPostgres
import MetRecorder
import MetStore

/// The simulated worker of `met worker`: real jobs from `oban_jobs`, claimed with
/// `FOR UPDATE SKIP LOCKED`, run for a random time and ended completed, retryable or
/// discarded, with every step recorded by the node's recorder after its statement committed:
/// `fetched`, the transitions `available → executing → end state`, and `job_start` /
/// `job_stop` with execution and queue-wait times. Each slot is a thread with its own libpq
/// connection (blocking calls stay off the mesh loop and the Swift concurrency pool).
package final class JobProcessor: @unchecked Sendable {  // `stopping` is atomic-by-lock; each thread owns its connection.
    package struct Settings: Sendable {
        package var database: String
        package var prefix = "public"
        package var queues = ["default"]
        package var concurrency = 2
        /// Run time of a job, uniformly between these (ms).
        package var minMilliseconds = 5
        package var maxMilliseconds = 50
        /// Share of jobs ending retryable and discarded (the rest complete).
        package var retryableRate = 0.1
        package var discardRate = 0.02

        package init(database: String) { self.database = database }
    }

    let settings: Settings
    let recorder: NodeRecorder
    let logger: Logger
    private let lock = NSLock()
    private var stopping = false
    private var running = 0
    private var failing = false
    private let finished = DispatchSemaphore(value: 0)

    package init(settings: Settings, recorder: NodeRecorder, logger: Logger) {
        self.settings = settings
        self.recorder = recorder
        self.logger = logger
    }

    /// Starts `concurrency` worker threads.
    package func start() {
        lock.withLock { running = settings.concurrency }
        for slot in 0..<settings.concurrency {
            let thread = Thread { [self] in work(slot) }
            thread.name = "met-worker-\(slot)"
            thread.start()
        }
        logger.notice("working queues \(settings.queues.joined(separator: ", ")) with \(settings.concurrency) slots")
    }

    /// Asks the threads to stop after their current job and waits for them.
    package func stop() {
        let count = lock.withLock { () -> Int in
            stopping = true
            return running
        }
        for _ in 0..<count { finished.wait() }
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    private func work(_ slot: Int) {
        defer { finished.signal() }
        var connection: PostgresConnection?
        var queueIndex = slot
        var random = SystemRandomNumberGenerator()
        while !isStopping {
            do throws(PostgresError) {
                let conn: PostgresConnection
                if let connection { conn = connection } else { conn = try PostgresConnection(connectionString: settings.database) }
                connection = conn
                let queue = settings.queues[queueIndex % settings.queues.count]
                queueIndex += 1
                if try !process(queue: queue, conn, &random) { Thread.sleep(forTimeInterval: 0.02) }
                healthy()
            } catch {
                connection?.close()
                connection = nil
                unhealthy(error)
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        connection?.close()
    }

    /// Claims, runs and ends one job of `queue`; false when none was available.
    private func process(queue: String, _ conn: PostgresConnection, _ random: inout SystemRandomNumberGenerator) throws(PostgresError) -> Bool {
        let p = JobSchema.identifier(settings.prefix)
        let claimed = try conn.query("""
            WITH next AS (
              SELECT id FROM \(p).oban_jobs WHERE state = 'available' AND queue = $1
              ORDER BY priority, scheduled_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
            UPDATE \(p).oban_jobs j SET state = 'executing', attempted_at = timezone('UTC', now()),
              attempt = j.attempt + 1, attempted_by = ARRAY[$2]
            FROM next WHERE j.id = next.id AND j.attempt < j.max_attempts
            RETURNING j.id, j.worker, greatest(0, extract(epoch from (timezone('UTC', now()) - j.scheduled_at)) * 1e9)::bigint,
              pg_current_xact_id()::text
            """, [queue, recorder.origin.node])
        guard let row = claimed.rows.first, let id = row[0], let worker = row[1], let job = Int64(id),
              let claimXid = row[3].flatMap({ UInt64($0) }) else { return false }
        let waitNs = row[2].flatMap { Int64($0) } ?? 0
        let handle = recorder.handle(queue: queue, worker: worker)
        recorder.record(.fetched, queue: queue, worker: worker)
        // With the transaction's id, so full_count counts the move exactly once (docs/full-count.md).
        recorder.jobMoved(job, queue: queue, worker: worker, from: .available, to: .executing, xid: claimXid)
        handle.start()
        let started = ContinuousClock.now
        let ms = Int.random(in: settings.minMilliseconds...max(settings.minMilliseconds, settings.maxMilliseconds), using: &random)
        Thread.sleep(forTimeInterval: Double(ms) / 1000)
        let roll = Double.random(in: 0..<1, using: &random)
        let outcome: JobOutcome = roll < settings.discardRate ? .discarded : roll < settings.discardRate + settings.retryableRate ? .retryable : .completed
        let ended = try conn.query("""
            UPDATE \(p).oban_jobs SET state = $2::\(p).oban_job_state,
              completed_at = CASE WHEN $2 = 'completed' THEN timezone('UTC', now()) END,
              discarded_at = CASE WHEN $2 = 'discarded' THEN timezone('UTC', now()) END,
              scheduled_at = CASE WHEN $2 = 'retryable' THEN timezone('UTC', now()) + interval '1 minute' ELSE scheduled_at END
            WHERE id = $1::bigint
            RETURNING pg_current_xact_id()::text
            """, [id, outcome.state.rawValue])
        let elapsed = (ContinuousClock.now - started).components
        let execNs = elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000
        if let xid = ended.rows.first?.first.flatMap({ $0.flatMap { UInt64($0) } }) {
            recorder.jobMoved(job, queue: queue, worker: worker, from: .executing, to: outcome.state, xid: xid)
        }
        if outcome == .completed {
            handle.stop(outcome, execNs: execNs, waitNs: waitNs)
        } else {
            handle.exception(outcome, execNs: execNs, waitNs: waitNs)
        }
        return true
    }

    private func healthy() {
        let recovered = lock.withLock { () -> Bool in
            defer { failing = false }
            return failing
        }
        if recovered { logger.notice("worker: postgres reachable again; processing resumes") }
    }

    private func unhealthy(_ error: PostgresError) {
        let first = lock.withLock { () -> Bool in
            defer { failing = true }
            return !failing
        }
        if first { logger.error("worker: postgres unreachable: \(error); retrying every 0.5 s") }
    }
}
