import ArgumentParser
import Logging
import ObanMet
import ServiceLifecycle

/// `met worker`: a node that also works real jobs of `oban_jobs`, through `ObanQueue`, with
/// simulated job bodies: a random run time and a random ending.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a node that also works jobs of oban_jobs (FOR UPDATE SKIP LOCKED), for the simulation and the tests.",
        discussion: """
        Each queue runs up to its limit of jobs at once. A job runs for a random time and ends \
        completed, retryable, discarded, snoozed or cancelled, moved as Oban moves it (attempt, \
        attempted_by, errors, backoff, completed_at/discarded_at/cancelled_at), with every step \
        recorded (fetched, transitions, exec_time, wait_time, exec_count, executing) and a queue \
        check every second. Needs --database (or "database", or DATABASE_URL); create the schema \
        first with `met schema`. The node stops gracefully on SIGTERM/SIGINT after its running jobs end.
        """
    )

    @OptionGroup var options: NodeOptions
    @Option(help: "Queues to work, comma-separated, each as name or name:limit (jobs at once; default --concurrency).")
    var queues = "default"
    @Option(help: "Jobs a queue runs at once when its limit is not given (threads, each with its own connection).") var concurrency = 2
    @Option(help: "Shortest run time of a job (ms).") var minMs = 5
    @Option(help: "Longest run time of a job (ms).") var maxMs = 50
    @Option(help: "Share of jobs that fail: retryable (Oban's backoff) while attempts remain, else discarded.") var retryableRate = 0.1
    @Option(help: "Share of jobs discarded at once, whatever their attempts.") var discardRate = 0.02
    @Option(help: "Share of jobs that snooze (scheduled again 1–5 s later, costing no attempt).") var snoozeRate = 0.0
    @Option(help: "Share of jobs that cancel themselves.") var cancelRate = 0.0

    /// `name` or `name:limit`.
    func parsedQueues() throws -> [(name: String, limit: Int)] {
        try queues.split(separator: ",").map { item in
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard !parts[0].isEmpty, parts.count <= 2 else { throw ValidationError("--queues takes name or name:limit, not \"\(item)\"") }
            guard parts.count == 2 else { return (String(parts[0]), concurrency) }
            guard let limit = Int(parts[1]), (1...256).contains(limit) else {
                throw ValidationError("the limit of queue \(parts[0]) must be between 1 and 256, not \"\(parts[1])\"")
            }
            return (String(parts[0]), limit)
        }
    }

    func validate() throws {
        guard concurrency >= 1, concurrency <= 256 else { throw ValidationError("--concurrency must be between 1 and 256") }
        guard minMs >= 0, maxMs >= minMs else { throw ValidationError("--min-ms must be ≥ 0 and ≤ --max-ms") }
        let rates = [retryableRate, discardRate, snoozeRate, cancelRate]
        guard rates.allSatisfy({ (0...1).contains($0) }), rates.reduce(0, +) <= 1 else {
            throw ValidationError("--retryable-rate, --discard-rate, --snooze-rate and --cancel-rate are shares between 0 and 1, together at most 1")
        }
        guard try !parsedQueues().isEmpty else { throw ValidationError("--queues needs at least one queue") }
    }

    func run() async throws {
        let queues = try parsedQueues()
        let body = SimulatedJob(minMs: minMs, maxMs: maxMs, retryable: retryableRate, discard: discardRate, snooze: snoozeRate, cancel: cancelRate)
        try await NodeLauncher.run(options) { node, logger in
            guard node.configuration.database != nil else {
                throw ValidationError("met worker needs a database: --database, \"database\" or DATABASE_URL")
            }
            return try queues.map { queue in
                try ObanQueue(node: node, queue: queue.name, limit: queue.limit, logger: logger) { job in try await body.perform(job) }
            }
        }
    }
}

/// The body of a simulated job: it runs for a random time, then ends as the rates say.
struct SimulatedJob: Sendable {
    var minMs: Int, maxMs: Int
    var retryable: Double, discard: Double, snooze: Double, cancel: Double

    struct Failure: Error, CustomStringConvertible {
        var description: String { "met worker: simulated failure" }
    }

    func perform(_ job: ObanQueue.Job) async throws -> ObanQueue.Result {
        try? await Task.sleep(for: .milliseconds(Int.random(in: minMs...max(minMs, maxMs))))
        var roll = Double.random(in: 0..<1)
        if roll < discard { return .discarded(reason: "met worker: simulated failure (discarded)") }
        roll -= discard
        if roll < retryable { throw Failure() }
        roll -= retryable
        if roll < snooze { return .snoozed(seconds: Int.random(in: 1...5)) }
        roll -= snooze
        if roll < cancel { return .cancelled(reason: "met worker: simulated cancel") }
        return .completed
    }
}
