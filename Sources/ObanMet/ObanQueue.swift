import Foundation
import Logging
import MetPostgres
import MetRecorder
import MetRuntime
import MetStore
import ServiceLifecycle
import Synchronization

/// One Oban queue worked by this process: up to `limit` jobs of `queue` at a time from the
/// node's `oban_jobs` (`database` and `prefix` of its configuration), each claimed, run by your
/// `perform` and ended the way Oban's own engine ends it (docs/embedding.md), with everything
/// recorded into the node: `fetched`, the transitions, `exec_time`, `wait_time`, `exec_count`,
/// `executing`, and a queue check every second (`/api/checks`). It also stages the queue's
/// scheduled and retryable jobs when they are due, as Oban's stager does.
///
/// A `Service`: list it after its ``MetNode`` in the group. On graceful shutdown it claims no
/// more jobs, lets the running ones finish, and returns.
///
/// ```swift
/// let mailers = try ObanQueue(node: node, queue: "mailers", limit: 10) { job in
///     try await send(job.args)          // throw to retry (Oban's backoff) or discard when out of attempts
///     return .completed
/// }
/// ```
public final class ObanQueue: Service, Sendable {
    /// A claimed job, as `perform` gets it.
    public struct Job: Sendable {
        public let id: Int64
        public let queue: String
        public let worker: String
        /// This attempt's number (1 for the first run).
        public let attempt: Int
        public let maxAttempts: Int
        /// The job's `args`, as JSON text.
        public let args: String
    }

    /// How a job ended, as `perform` says it (a thrown error is Oban's `{:error, reason}`:
    /// retried with Oban's backoff while attempts remain, else discarded).
    public enum Result: Sendable, Equatable {
        case completed
        /// Run it again in `seconds`; the snooze costs no attempt.
        case snoozed(seconds: Int)
        case cancelled(reason: String)
        case discarded(reason: String)
    }

    public let queue: String
    public let limit: Int
    let node: MetNode
    let database: String
    let prefix: String
    let perform: @Sendable (Job) async throws -> Result
    let logger: Logger
    /// The uuid Oban gives a queue's producer; written into `attempted_by` and the checks.
    let producer = UUID().uuidString.lowercased()
    private let state = Mutex(RunState())

    private struct RunState {
        var stopping = false
        var running: Set<Int64> = []
        var failing = false
    }

    /// - Throws: ``ConfigError`` when the node has no `database` or `limit` is not positive.
    public init(node: MetNode, queue: String, limit: Int, logger: Logger? = nil,
                perform: @escaping @Sendable (Job) async throws -> Result) throws(ConfigError) {
        guard let database = node.configuration.database else {
            throw .missing("database", "an ObanQueue works jobs of the node's database; set \"database\" (or DATABASE_URL)")
        }
        guard limit >= 1 else { throw .bad("limit", "a queue runs at least one job at a time, not \(limit)") }
        guard !queue.isEmpty else { throw .bad("queue", "the queue name may not be empty") }
        self.node = node
        self.queue = queue
        self.limit = limit
        self.database = database
        prefix = node.configuration.prefix
        self.perform = perform
        var logger = logger ?? node.logger
        logger[metadataKey: "queue"] = .string(queue)
        self.logger = logger
    }

    /// Works the queue until graceful shutdown, then lets the running jobs finish.
    public func run() async throws {
        let startedAt = node.recorder.clock.second()
        let finished = DispatchSemaphore(value: 0)
        for slot in 0..<limit {
            let thread = Thread { [self] in
                work(stager: slot == 0)
                finished.signal()
            }
            thread.name = "met-\(queue)-\(slot)"
            thread.start()
        }
        logger.notice("working queue \(queue) with \(limit) slots as producer \(producer)")
        await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                reportCheck(startedAt: startedAt)
                try? await Task.sleep(for: .seconds(1))
            }
        }
        state.withLock { $0.stopping = true }
        let limit = self.limit
        await Task.detached { for _ in 0..<limit { finished.wait() } }.value
        reportCheck(startedAt: startedAt)
        logger.notice("queue \(queue) stopped; its running jobs finished")
    }

    /// This queue's check (Oban's producer: limit, paused, running ids, uuid, started_at).
    private func reportCheck(startedAt: Int64) {
        let running = state.withLock { $0.running.sorted() }
        node.recorder.queueCheck(queue: queue, limit: limit, paused: false, running: running,
                                 timestamp: node.recorder.clock.second(), uuid: producer, startedAt: startedAt)
    }

    private var isStopping: Bool { state.withLock { $0.stopping } }

    /// One slot: its own libpq connection (blocking calls stay off the mesh loop and the Swift
    /// concurrency pool), claiming one job at a time until the queue stops. The first slot also
    /// stages the queue's due jobs once a second.
    private func work(stager: Bool) {
        var connection: PostgresConnection?
        var staged = ContinuousClock.now - .seconds(1)
        while !isStopping {
            do throws(PostgresError) {
                let conn: PostgresConnection
                if let connection { conn = connection } else { conn = try PostgresConnection(connectionString: database) }
                connection = conn
                if stager, ContinuousClock.now - staged >= .seconds(1) {
                    staged = .now
                    try stage(conn)
                }
                if try !process(conn, connection: &connection) { Thread.sleep(forTimeInterval: Self.pollInterval) }
                health(nil)
            } catch {
                connection?.close()
                connection = nil
                health(error)
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        connection?.close()
    }

    /// How long an idle slot waits before it looks for a job again.
    static let pollInterval = 0.05

    /// Makes the queue's scheduled and retryable jobs that are due available, as Oban's stager
    /// does (harmless beside a real Oban's: a job is staged once, by whoever locks it first),
    /// recording `staged` and the transitions.
    private func stage(_ conn: PostgresConnection) throws(PostgresError) {
        let (moved, transaction, jobs) = try conn.stageJobs(queue: queue, prefix: prefix)
        let recorder = node.recorder
        for (from, count) in moved {
            guard JobState(rawValue: from) != nil else { continue }
            recorder.record(.staged, queue: queue, state: .available, count: Int64(count))
        }
        // Each move with its transaction's id, so full_count counts it exactly once (docs/full-count.md).
        for job in jobs {
            guard let old = JobState(rawValue: job.from) else { continue }
            if let transaction {
                recorder.jobMoved(job.id, queue: queue, from: old, to: .available, xid: transaction)
            } else {
                recorder.transition(queue: queue, from: old, to: .available)
            }
        }
    }

    /// Claims, runs and ends one job; false when none was available. `connection` is the slot's:
    /// ending the job may replace it (``end(_:_:connection:)``).
    private func process(_ conn: PostgresConnection, connection: inout PostgresConnection?) throws(PostgresError) -> Bool {
        let recorder = node.recorder
        guard let claimed = try conn.claimJobs(queue: queue, node: recorder.origin.node, producer: producer, prefix: prefix).first else {
            return false
        }
        state.withLock { _ = $0.running.insert(claimed.id) }
        defer { state.withLock { _ = $0.running.remove(claimed.id) } }
        let handle = recorder.handle(queue: queue, worker: claimed.worker)
        recorder.record(.fetched, queue: queue, worker: claimed.worker)
        recorder.jobMoved(claimed.id, queue: queue, worker: claimed.worker, from: .available, to: .executing, xid: claimed.transaction)
        handle.start()
        let started = ContinuousClock.now
        let result = runPerform(Job(id: claimed.id, queue: queue, worker: claimed.worker, attempt: claimed.attempt,
                                    maxAttempts: claimed.maxAttempts, args: claimed.args))
        let elapsed = (ContinuousClock.now - started).components
        let execNs = elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000
        var outcome: JobOutcome = switch result {
        case .success(.completed): .completed
        case .success(.snoozed): .snoozed
        case .success(.cancelled): .cancelled
        case .success(.discarded): .discarded
        case .failure: .retryable
        }
        guard let ended = end(claimed, result, connection: &connection) else {
            // Postgres stayed unreachable through the stop: nothing was written, so nothing is
            // recorded as executed; the job stays `executing` for Oban's Lifeline to rescue.
            logger.error("job \(claimed.id) left executing: postgres unreachable while the queue stopped; a rescue (Oban's Lifeline) makes it available again")
            return true
        }
        if let move = ended, let state = JobState(rawValue: move.to) {
            if state == .discarded { outcome = .discarded }  // a failure on its last attempt
            recorder.jobMoved(claimed.id, queue: queue, worker: claimed.worker, from: .executing, to: state, xid: move.transaction)
        } else {
            logger.notice("job \(claimed.id) was no longer executing when it ended (another process moved it); left as it is")
        }
        if outcome == .completed {
            handle.stop(outcome, execNs: execNs, waitNs: claimed.waitNanoseconds)
        } else {
            handle.exception(outcome, execNs: execNs, waitNs: claimed.waitNanoseconds)
        }
        return true
    }

    /// Ends the job in Postgres as `result` says, retrying every 0.5 s on a new connection while
    /// Postgres is unreachable, as Oban retries its acknowledgements: a job that ran is never
    /// left `executing` because Postgres restarted under it. Returns the move (nil inside: the
    /// job was no longer executing), or nil when the queue is stopping and Postgres has been
    /// unreachable for ``endGiveUp``.
    private func end(_ claimed: ClaimedJob, _ result: Swift.Result<Result, any Error>,
                     connection: inout PostgresConnection?) -> JobMove?? {
        var failingSince: ContinuousClock.Instant?
        while true {
            do throws(PostgresError) {
                let conn: PostgresConnection
                if let connection { conn = connection } else { conn = try PostgresConnection(connectionString: database) }
                connection = conn
                let move: JobMove? = switch result {
                case .success(.completed): try conn.completeJob(id: claimed.id, prefix: prefix)
                case .success(.snoozed(let seconds)): try conn.snoozeJob(id: claimed.id, seconds: max(0, seconds), prefix: prefix)
                case .success(.cancelled(let reason)): try conn.cancelJob(id: claimed.id, error: reason, prefix: prefix)
                case .success(.discarded(let reason)): try conn.failJob(claimed, error: reason, discard: true, prefix: prefix)
                case .failure(let error): try conn.failJob(claimed, error: String(describing: error), prefix: prefix)
                }
                if failingSince != nil { health(nil) }
                return .some(move)
            } catch {
                connection?.close()
                connection = nil
                health(error)
                let since = failingSince ?? .now
                failingSince = since
                if isStopping, ContinuousClock.now - since >= Self.endGiveUp { return nil }
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }

    /// How long a stopping queue keeps retrying to end a job while Postgres is unreachable.
    static let endGiveUp = Duration.seconds(15)

    /// Runs `perform` from a slot thread: the job runs as a task, the thread waits for it.
    private func runPerform(_ job: Job) -> Swift.Result<Result, any Error> {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        let perform = self.perform
        Task {
            let outcome: Swift.Result<Result, any Error>
            do { outcome = .success(try await perform(job)) } catch { outcome = .failure(error) }
            box.value.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return box.value.withLock { $0 } ?? .failure(CancellationError())
    }

    private final class ResultBox: Sendable {
        let value = Mutex<Swift.Result<Result, any Error>?>(nil)
    }

    /// Logs a lost or regained database once, not once per slot and retry.
    private func health(_ error: PostgresError?) {
        let change = state.withLock { s -> Bool in
            defer { s.failing = error != nil }
            return s.failing != (error != nil)
        }
        guard change else { return }
        if let error {
            logger.error("queue \(queue): postgres unreachable: \(error); retrying every 0.5 s")
        } else {
            logger.notice("queue \(queue): postgres reachable again; jobs run again")
        }
    }
}
