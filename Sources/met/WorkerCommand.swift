import ArgumentParser
import Logging
import MetRuntime
import ObanMet
import ServiceLifecycle

/// `met worker`: a node that also processes real jobs from `oban_jobs`.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a node that also works jobs of oban_jobs (FOR UPDATE SKIP LOCKED), for the simulation and the tests.",
        discussion: """
        Each slot claims the next available job of its queue, runs it for a random time and marks it \
        completed, retryable or discarded, moving it as Oban does (attempt, attempted_by, errors, \
        backoff, completed_at/discarded_at), recording every step (fetched, transitions, job_start/stop). \
        Needs --database (or "database", or DATABASE_URL); create the schema first with `met schema`.
        """
    )

    @OptionGroup var options: NodeOptions
    @Option(help: "Queues to work, comma-separated.") var queues = "default"
    @Option(help: "Jobs run at once (threads, each with its own connection).") var concurrency = 2
    @Option(help: "Shortest run time of a job (ms).") var minMs = 5
    @Option(help: "Longest run time of a job (ms).") var maxMs = 50
    @Option(help: "Share of jobs that fail: retryable (Oban's backoff) while attempts remain, else discarded.") var retryableRate = 0.1
    @Option(help: "Share of jobs discarded at once, whatever their attempts.") var discardRate = 0.02

    func validate() throws {
        guard concurrency >= 1, concurrency <= 256 else { throw ValidationError("--concurrency must be between 1 and 256") }
        guard minMs >= 0, maxMs >= minMs else { throw ValidationError("--min-ms must be ≥ 0 and ≤ --max-ms") }
        guard (0...1).contains(retryableRate), (0...1).contains(discardRate), retryableRate + discardRate <= 1 else {
            throw ValidationError("--retryable-rate and --discard-rate are shares between 0 and 1, together at most 1")
        }
        guard !queues.split(separator: ",").isEmpty else { throw ValidationError("--queues needs at least one queue") }
    }

    func run() async throws {
        let queues = self.queues.split(separator: ",").map(String.init)
        let (concurrency, minMs, maxMs, retryableRate, discardRate) = (self.concurrency, self.minMs, self.maxMs, self.retryableRate, self.discardRate)
        try await NodeLauncher.run(options) { node, logger in
            guard let database = node.configuration.database else {
                throw ValidationError("met worker needs a database: --database, \"database\" or DATABASE_URL")
            }
            var settings = JobProcessor.Settings(database: database)
            settings.prefix = node.configuration.prefix
            settings.queues = queues
            settings.concurrency = concurrency
            settings.minMilliseconds = minMs
            settings.maxMilliseconds = maxMs
            settings.retryableRate = retryableRate
            settings.discardRate = discardRate
            return WorkerService(processor: JobProcessor(settings: settings, recorder: node.recorder, logger: logger))
        }
    }
}

/// The job processor as a service: works until graceful shutdown, then finishes its jobs.
struct WorkerService: Service {
    let processor: JobProcessor

    func run() async throws {
        processor.start()
        try? await gracefulShutdown()
        await Task.detached { processor.stop() }.value
    }
}
