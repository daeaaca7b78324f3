import Foundation
import Logging
import MetPostgres
import MetRecorder
import MetStore

/// The simulated worker of `met worker`: real jobs from `oban_jobs`, claimed with
/// `FOR UPDATE SKIP LOCKED`, run for a random time and ended completed, retryable or
/// discarded (each move made as Oban makes it, see `ObanJobStatements.swift`), with every step
/// recorded by the node's recorder after its statement committed: `fetched`, the transitions
/// `available → executing → end state`, and `job_start` / `job_stop` with execution and
/// queue-wait times. Each slot is a thread with its own libpq
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
    /// The uuid of this process's producer of each queue, which Oban writes into `attempted_by`
    /// beside the node name.
    package let producers: [String: String]
    let logger: Logger
    private let lock = NSLock()
    private var stopping = false
    private var running = 0
    private var failing = false
    private let finished = DispatchSemaphore(value: 0)

    package init(settings: Settings, recorder: NodeRecorder, logger: Logger) {
        self.settings = settings
        self.recorder = recorder
        producers = Dictionary(settings.queues.map { ($0, UUID().uuidString.lowercased()) }) { first, _ in first }
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

    /// Claims, runs and ends one job of `queue`; false when none was available. The moves are
    /// Oban's (``PostgresConnection/claimJobs(queue:node:producer:limit:prefix:)`` and the
    /// others): a failed job is retried with Oban's backoff while it has attempts left.
    private func process(queue: String, _ conn: PostgresConnection, _ random: inout SystemRandomNumberGenerator) throws(PostgresError) -> Bool {
        guard let job = try conn.claimJobs(queue: queue, node: recorder.origin.node, producer: producers[queue] ?? "",
                                           prefix: settings.prefix).first else { return false }
        let handle = recorder.handle(queue: queue, worker: job.worker)
        recorder.record(.fetched, queue: queue, worker: job.worker)
        recorder.transition(queue: queue, worker: job.worker, from: .available, to: .executing)
        handle.start()
        let started = ContinuousClock.now
        let ms = Int.random(in: settings.minMilliseconds...max(settings.minMilliseconds, settings.maxMilliseconds), using: &random)
        Thread.sleep(forTimeInterval: Double(ms) / 1000)
        let roll = Double.random(in: 0..<1, using: &random)
        let move: JobMove?
        var outcome: JobOutcome
        if roll < settings.discardRate {
            outcome = .discarded
            move = try conn.failJob(job, error: "met worker: simulated failure (discarded)", discard: true, prefix: settings.prefix)
        } else if roll < settings.discardRate + settings.retryableRate {
            outcome = .retryable
            move = try conn.failJob(job, error: "met worker: simulated failure", prefix: settings.prefix)
        } else {
            outcome = .completed
            move = try conn.completeJob(id: job.id, prefix: settings.prefix)
        }
        let elapsed = (ContinuousClock.now - started).components
        let execNs = elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000
        if let move, let state = JobState(rawValue: move.to) {
            if state == .discarded { outcome = .discarded }  // a failure on its last attempt
            recorder.transition(queue: queue, worker: job.worker, from: .executing, to: state)
        } else {
            logger.notice("worker: job \(job.id) was no longer executing when it ended (another process moved it); left as it is")
        }
        if outcome == .completed {
            handle.stop(outcome, execNs: execNs, waitNs: job.waitNanoseconds)
        } else {
            handle.exception(outcome, execNs: execNs, waitNs: job.waitNanoseconds)
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
