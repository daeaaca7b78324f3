import ArgumentParser

/// `met`: run a node of an ObanMet cluster, or query one.
@main
struct Met: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "met",
        abstract: "ObanMet: a distributed, compacting time-series store for the metrics of a Postgres-backed job queue.",
        subcommands: [NodeCommand.self, WorkerCommand.self, QueryCommand.self, MarkCommand.self, SchemaCommand.self]
    )
}
