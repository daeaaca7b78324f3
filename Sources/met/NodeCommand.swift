import ArgumentParser
import Foundation
import Hummingbird
import Logging
import MetHTTP
import MetNode
import ServiceLifecycle

/// `met node --config FILE [overrides]`: runs a node until SIGTERM or SIGINT.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node: recorder, replica collector, mesh, keyframes (with a database) and (with --http) the HTTP API, until SIGTERM/SIGINT.",
        discussion: """
        Every key of the JSON config file can be overridden by the flag of the same name. The cluster \
        secret comes from MET_CLUSTER_SECRET, else "secret", else "secretFile" (16 bytes or more). \
        The database URL may also come from DATABASE_URL.
        """
    )

    @OptionGroup var options: NodeOptions

    func run() async throws {
        try await NodeLauncher.run(options) { _, _ in nil }
    }
}

/// Starts a node from its options and runs it, with its HTTP API and any extra service, in a
/// swift-service-lifecycle group that shuts down gracefully on SIGTERM or SIGINT.
enum NodeLauncher {
    static func run(_ options: NodeOptions, extra: (NodeRuntime, Logger) throws -> (any Service)?) async throws {
        guard let level = Logger.Level(rawValue: options.logLevel) else { throw ValidationError("unknown --log-level \(options.logLevel)") }
        let config = try options.merged()
        let resolved: NodeConfig.Resolved
        do { resolved = try config.validate() } catch { throw ValidationError(error.description) }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "met")
        logger[metadataKey: "node"] = .string(resolved.config.node)
        let log = logger
        for warning in resolved.warnings { logger.warning("\(warning)") }
        if options.secret != nil {
            logger.warning("the cluster secret was given on the command line, where other users can read it; use MET_CLUSTER_SECRET or --secret-file")
        }

        let runtime = try await NodeRuntime(resolved, logger: logger)
        var services: [any Service] = [NodeService(runtime: runtime)]
        if let service = try extra(runtime, logger) { services.append(service) }
        if let http = resolved.config.http, let (host, port) = NodeConfig.split(http) {
            let app = Application(
                router: APIRoutes.router(for: runtime),
                configuration: .init(address: .hostname(host, port: port), serverName: "met"),
                onServerRunning: { channel in
                    let bound = channel.localAddress?.port ?? port
                    log.notice("http listening on \(host):\(bound)")
                },
                logger: logger
            )
            services.append(app)
        }
        // Last in the list, so the first told of the shutdown (services stop in reverse order):
        // peers hear this node is leaving before its API and its mesh stop.
        services.append(LeavingAnnouncer(runtime: runtime))
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

/// The node as a service of the group: runs until graceful shutdown, then closes the mesh.
struct NodeService: Service {
    let runtime: NodeRuntime

    func run() async throws {
        await cancelWhenGracefulShutdown { await runtime.run() }
        await runtime.shutdown()
    }
}

/// Tells the peers this node is leaving as soon as the graceful shutdown begins (RELIABILITY
/// H9: in a mass stop nobody picks, or waits on, a successor that is stopping too).
struct LeavingAnnouncer: Service {
    let runtime: NodeRuntime

    func run() async throws {
        try? await gracefulShutdown()
        runtime.announceLeaving()
    }
}
