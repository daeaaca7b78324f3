import ArgumentParser
import Foundation
import Logging
import ObanMet
import ServiceLifecycle

/// `met node --config FILE [overrides]`: runs a node until SIGTERM or SIGINT.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node: recorder, replica collector, mesh, keyframes (with a database) and (with --http) the HTTP API and dashboard, until SIGTERM/SIGINT.",
        discussion: """
        Every key of the JSON config file can be overridden by the flag of the same name. The cluster \
        secret comes from MET_CLUSTER_SECRET, else "secret", else "secretFile" (16 bytes or more); \
        up to two earlier secrets still accepted during a rotation from MET_CLUSTER_PREVIOUS_SECRETS \
        (comma-separated), else "previousSecrets" and "previousSecretFiles". \
        The database URL may also come from DATABASE_URL. The HTTP write token comes from \
        MET_HTTP_TOKEN, else "httpToken", else "httpTokenFile" (the read token likewise from \
        MET_HTTP_READ_TOKEN, "httpReadToken", "httpReadTokenFile"); with --http on a non-loopback \
        address a node without a token refuses to start unless --http-insecure is given.
        """
    )

    @OptionGroup var options: NodeOptions

    func run() async throws {
        try await NodeLauncher.run(options) { _, _ in [] }
    }
}

/// Starts a node from its options and runs it, with any extra service, in a
/// swift-service-lifecycle group that shuts down gracefully on SIGTERM or SIGINT.
enum NodeLauncher {
    /// `extra` makes services that record into the node (`met worker`'s jobs); they are listed
    /// after the node, so they stop first and their last events go out with its last batch.
    static func run(_ options: NodeOptions, extra: (MetNode, Logger) throws -> [any Service]) async throws {
        guard let level = Logger.Level(rawValue: options.logLevel) else { throw ValidationError("unknown --log-level \(options.logLevel)") }
        let config = try options.merged()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "met")
        let node: MetNode
        do { node = try MetNode(configuration: config, logger: logger) } catch { throw ValidationError(error.description) }
        if options.secret != nil {
            logger.warning("the cluster secret was given on the command line, where other users can read it; use MET_CLUSTER_SECRET or --secret-file")
        }
        if !options.previousSecrets.isEmpty {
            logger.warning("a previous cluster secret was given on the command line, where other users can read it; use MET_CLUSTER_PREVIOUS_SECRETS or --previous-secret-file")
        }
        if options.httpToken != nil || options.httpReadToken != nil {
            logger.warning("the HTTP token was given on the command line, where other users can read it; use MET_HTTP_TOKEN or --http-token-file")
        }
        let services: [any Service] = [node] + (try extra(node, logger))
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        logger.notice("stopped")
        // Everything that must outlive the process is done (store handed off or written, mesh
        // flushed and closed). Exiting here lets the system take the store's memory back at once
        // instead of freeing it object by object (a quarter of a second for 150k timelines).
        exit(0)
    }
}
