import Hummingbird
import Logging
import MetHTTP
import MetRecorder
import MetRuntime
import MetStore
import ServiceLifecycle
import Synchronization

/// A node of an ObanMet cluster, embedded in a worker process.
///
/// It records the worker's job telemetry (``recorder``), keeps a replica of the whole
/// cluster's metrics, talks to its peers over the mesh, takes keyframes from Postgres when it
/// leads (with `database` set), and serves the HTTP API and dashboard when `http` is set. It is
/// a swift-service-lifecycle `Service`: run it in the worker's `ServiceGroup`, listed *before*
/// the services that record into it, so that on SIGTERM they stop first and their last jobs go
/// out with the node's last batch. Its graceful stop tells the peers it is leaving, stops the
/// HTTP API, broadcasts the last batch, releases the keyframe lease and hands the store to a
/// successor (or, being the last node, writes it to Postgres).
///
/// ```swift
/// var config = NodeConfig()
/// config.node = "worker-1"
/// config.seeds = ["10.0.0.2:4100"]
/// let node = try MetNode(configuration: config, logger: logger)
/// let group = ServiceGroup(services: [node, worker], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public final class MetNode: Service, Sendable {
    /// The configuration the node was made with (the keys of a node's JSON file).
    public let configuration: NodeConfig
    /// Records this node's own events; its batches go to every peer once a second.
    public let recorder: NodeRecorder
    let resolved: NodeConfig.Resolved
    let collector: Collector
    let logger: Logger
    private let state = Mutex(State.created([]))

    /// Where a running node listens.
    public struct Addresses: Sendable, Equatable {
        /// `host:port` of the mesh, as peers dial it.
        public var mesh: String
        /// `host:port` of the HTTP API and dashboard, when `http` is configured.
        public var http: String?
    }

    private enum State {
        case created([CheckedContinuation<Addresses, any Error>])
        case starting(NodeRuntime?, [CheckedContinuation<Addresses, any Error>])
        case running(NodeRuntime, Addresses)
        case finished((any Error)?)
    }

    /// Checks `configuration` (the same rules as `met node`) and makes the node; it starts when
    /// its ``run()`` does. `recorder`, when given, must be for the configured node name; by
    /// default the node makes one with a new incarnation.
    public init(configuration: NodeConfig, recorder: NodeRecorder? = nil, logger: Logger = Logger(label: "ObanMet")) throws(ConfigError) {
        let resolved = try configuration.validate()
        if let recorder, recorder.origin.node != configuration.node {
            throw .bad("node", "the recorder records for \(recorder.origin.node), not \(configuration.node)")
        }
        var logger = logger
        logger[metadataKey: "node"] = .string(configuration.node)
        for warning in resolved.warnings { logger.warning("\(warning)") }
        self.configuration = configuration
        self.resolved = resolved
        self.logger = logger
        self.recorder = recorder ?? NodeRecorder(node: configuration.node)
        collector = NodeRuntime.makeCollector(resolved, clock: self.recorder.clock)
    }

    /// Runs the node until the service group's graceful shutdown (or cancellation), then stops
    /// it gracefully. A node runs once.
    public func run() async throws {
        let claimed = state.withLock { s -> Bool in
            guard case .created(let waiters) = s else { return false }
            s = .starting(nil, waiters)
            return true
        }
        guard claimed else { throw MetNodeError.alreadyRun }
        do {
            let runtime = try await NodeRuntime(resolved, recorder: recorder, collector: collector, logger: logger)
            state.withLock { s in if case .starting(_, let w) = s { s = .starting(runtime, w) } }
            var services: [any Service] = [RuntimeService(runtime: runtime)]
            if let http = configuration.http, let (host, port) = NodeConfig.split(http) {
                let logger = self.logger
                services.append(Application(
                    router: APIRoutes.router(for: runtime),
                    configuration: .init(address: .hostname(host, port: port), serverName: "met"),
                    onServerRunning: { [self] channel in
                        let bound = "\(host):\(channel.localAddress?.port ?? port)"
                        logger.notice("http listening on \(bound)")
                        listening(Addresses(mesh: runtime.meshAddress, http: bound))
                    },
                    logger: logger
                ))
            } else {
                listening(Addresses(mesh: runtime.meshAddress, http: nil))
            }
            // Last in the list, so the first told of the shutdown (services stop in reverse
            // order): peers hear this node is leaving before its API and its mesh stop (H9).
            services.append(LeavingAnnouncer(runtime: runtime))
            // No signals of its own: the graceful shutdown of the group this node runs in
            // reaches this inner group, which stops its services in the order above.
            let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
            try await group.run()
            finish(nil)
        } catch {
            finish(error)
            throw error
        }
    }

    /// Waits until the node listens (its mesh, and its HTTP API when configured), and returns
    /// where; throws if the node failed to start or has stopped.
    public func addresses() async throws -> Addresses {
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Addresses, any Error>) in
            let now: Result<Addresses, any Error>? = state.withLock { s in
                switch s {
                case .created(var w):
                    w.append(waiter)
                    s = .created(w)
                    return nil
                case .starting(let r, var w):
                    w.append(waiter)
                    s = .starting(r, w)
                    return nil
                case .running(_, let a): return .success(a)
                case .finished(let e): return .failure(e ?? MetNodeError.stopped)
                }
            }
            if let now { waiter.resume(with: now) }
        }
    }

    /// The running node, or an error saying why there is none.
    func runtime() throws(MetNodeError) -> NodeRuntime {
        let r: NodeRuntime? = state.withLock { s in
            switch s {
            case .running(let r, _): r
            case .starting(let r, _): r
            default: nil
            }
        }
        guard let r else { throw .notRunning }
        return r
    }

    private func listening(_ addresses: Addresses) {
        let waiters = state.withLock { s -> [CheckedContinuation<Addresses, any Error>] in
            guard case .starting(let r?, let w) = s else { return [] }
            s = .running(r, addresses)
            return w
        }
        for w in waiters { w.resume(returning: addresses) }
    }

    private func finish(_ error: (any Error)?) {
        let waiters = state.withLock { s -> [CheckedContinuation<Addresses, any Error>] in
            defer { s = .finished(error) }
            switch s {
            case .created(let w), .starting(_, let w): return w
            default: return []
            }
        }
        for w in waiters { w.resume(throwing: error ?? MetNodeError.stopped) }
    }
}

/// Why a node could not do what was asked.
public enum MetNodeError: Error, Equatable, CustomStringConvertible {
    /// ``MetNode/run()`` was called a second time.
    case alreadyRun
    /// The node is not running (not started yet, or stopped).
    case notRunning
    /// The node stopped before it listened.
    case stopped

    public var description: String {
        switch self {
        case .alreadyRun: "this node has already been run; make a new MetNode"
        case .notRunning: "the node is not running"
        case .stopped: "the node has stopped"
        }
    }
}

/// The runtime as a service of the node's inner group: runs until graceful shutdown, then stops
/// the node (last batch, lease, handoff or Postgres snapshot, mesh closed).
struct RuntimeService: Service {
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
