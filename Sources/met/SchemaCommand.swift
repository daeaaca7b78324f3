import ArgumentParser
import Foundation
import MetPostgres

/// `met schema --database URL`: creates the `oban_jobs` schema and ObanMet's helpers.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Create the oban_jobs schema (enum, table, index, joint statistics), the lease table and met_job_counts. Idempotent."
    )

    @Option(help: "libpq connection string (default: DATABASE_URL).") var database: String?
    @Option(help: "Postgres schema to create the tables in.") var prefix = "public"

    func run() throws {
        guard let url = database ?? ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            throw ValidationError("no database: pass --database or set DATABASE_URL")
        }
        do {
            let conn = try PostgresConnection(connectionString: url)
            defer { conn.close() }
            for statement in JobSchema.statements(prefix: prefix) { _ = try conn.query(statement) }
            print("met schema: oban_jobs, met_leases and met_job_counts are ready in schema \(prefix)")
        } catch {
            FileHandle.standardError.write(Data("met schema: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
