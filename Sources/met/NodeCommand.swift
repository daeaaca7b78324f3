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
        abstract: "Run a node: recorder, replica collector, mesh and (with --http) the HTTP API, until SIGTERM/SIGINT.",
        discussion: """
        Every key of the JSON config file can be overridden by the flag of the same name. The cluster \
        secret comes from MET_CLUSTER_SECRET, else "secret", else "secretFile" (16 bytes or more). \
        The database URL may also come from DATABASE_URL.
        """
    )

    @Option(name: .long, help: "JSON config file (keys of DESIGN §7; see docs/operations.md).")
    var config: String?
    @Option(help: "Cluster name (default met).") var cluster: String?
    @Option(help: "Node name, unique in the cluster.") var node: String?
    @Option(help: "host:port the mesh listens on (port 0: any free port).") var listen: String?
    @Option(help: "host:port peers dial, when --listen is a wildcard address.") var advertise: String?
    @Option(name: .customLong("seed"), help: "host:port of a node to join through (repeatable; replaces the file's seeds).") var seeds: [String] = []
    @Option(help: "host:port of the HTTP API (port 0: any free port).") var http: String?
    @Option(help: "libpq connection string (also DATABASE_URL).") var database: String?
    @Option(help: "File holding the cluster secret (chmod 600).") var secretFile: String?
    @Option(help: "The cluster secret itself (visible to other users in ps; prefer MET_CLUSTER_SECRET or --secret-file).") var secret: String?
    @Option(help: "Seconds between broadcasts (default 1).") var broadcastInterval: Double?
    @Option(help: "Seconds between keyframes (default 5).") var keyframeInterval: Double?
    @Option(help: "Compaction tiers as step:duration pairs, e.g. 1:120,5:900,30:2000,60:9300.") var compaction: String?
    @Option(help: "Job groups larger than this are estimated (default 50000).") var estimateLimit: Int?
    @Option(help: "Seconds queue checks are kept (default 30).") var retention: Int?
    @Option(help: "Seconds between mesh heartbeats (default 1).") var heartbeatInterval: Double?
    @Option(help: "Seconds of silence before a peer's connection is closed (default 5).") var silenceLimit: Double?
    @Option(help: "Own batches kept for resends (default 120).") var retransmitWindow: Int?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"

    func merged() throws -> NodeConfig {
        var c = NodeConfig()
        if let config { c = try NodeConfig.load(file: config) }
        if let cluster { c.cluster = cluster }
        if let node { c.node = node }
        if let listen { c.listen = listen }
        if let advertise { c.advertise = advertise }
        if !seeds.isEmpty { c.seeds = seeds }
        if let http { c.http = http }
        if let database { c.database = database } else if c.database == nil, let url = ProcessInfo.processInfo.environment["DATABASE_URL"] { c.database = url }
        if let secretFile { c.secretFile = secretFile }
        if let secret { c.secret = secret }
        if let broadcastInterval { c.broadcastInterval = broadcastInterval }
        if let keyframeInterval { c.keyframeInterval = keyframeInterval }
        if let compaction {
            c.compaction = try compaction.split(separator: ",").map { pair in
                let parts = pair.split(separator: ":").compactMap { Int($0) }
                guard parts.count == 2 else { throw ValidationError("--compaction takes step:duration pairs, not \"\(pair)\"") }
                return parts
            }
        }
        if let estimateLimit { c.estimateLimit = estimateLimit }
        if let retention { c.retention = retention }
        if let heartbeatInterval { c.heartbeatInterval = heartbeatInterval }
        if let silenceLimit { c.silenceLimit = silenceLimit }
        if let retransmitWindow { c.retransmitWindow = retransmitWindow }
        return c
    }

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level \(logLevel)") }
        let config = try merged()
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
        if secret != nil { logger.warning("the cluster secret was given on the command line, where other users can read it; use MET_CLUSTER_SECRET or --secret-file") }

        let runtime = try await NodeRuntime(resolved, logger: logger)
        var services: [any Service] = [NodeService(runtime: runtime)]
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
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        logger.notice("stopped")
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
