import Logging
import ObanMet
import ServiceLifecycle

/// A Swift worker with ObanMet embedded (the README's "Embedding" section is this file): a node
/// that records, replicates and serves the cluster's metrics, and a queue whose jobs it runs.
/// List the node first, so on SIGTERM the queue stops (its running jobs finish) before the node
/// hands its store to a peer.
public func exampleWorker(_ config: NodeConfig, logger: Logger) throws -> (node: MetNode, services: [any Service]) {
    let node = try MetNode(configuration: config, logger: logger)
    let mailers = try ObanQueue(node: node, queue: "mailers", limit: 5) { job in
        // The job's work: here, a pretend email. Throwing retries it with Oban's backoff.
        try await Task.sleep(for: .milliseconds(job.args.count % 20 + 5))
        return job.attempt < 3 && job.id % 10 == 0 ? .snoozed(seconds: 1) : .completed
    }
    return (node, [node, mailers])
}
