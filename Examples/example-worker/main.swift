import Foundation
import ExampleWorker
import Logging
import ObanMet
import ServiceLifecycle

// `example-worker CONFIG.json`: the example worker, stopped by SIGTERM or SIGINT.
LoggingSystem.bootstrap(StreamLogHandler.standardError)
let logger = Logger(label: "example-worker")
let config = try NodeConfig.load(file: CommandLine.arguments.dropFirst().first ?? "node.json")
let (_, services) = try exampleWorker(config, logger: logger)
let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
try await group.run()
