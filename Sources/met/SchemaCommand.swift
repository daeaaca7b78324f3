import ArgumentParser
import Foundation
import MetPostgres

/// `met schema --database URL [--check]`: ObanMet's objects beside Oban's `oban_jobs` (and
/// Oban's own schema, version 14, where there is none yet).
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Create ObanMet's Postgres objects beside oban_jobs (and Oban's schema where there is none). Idempotent.",
        discussion: """
        On a database Oban already migrated, adds only ObanMet's objects: the joint statistics \
        met_oban_jobs_state_queue, the tables met_leases and met_snapshots, the function \
        met_job_counts, and the index met_oban_jobs_state_queue_index, built CONCURRENTLY so writes \
        to oban_jobs are never blocked (an INVALID one left by an interrupted run is dropped and \
        built again). Nothing of Oban's is ever altered or dropped. Where there is no oban_jobs, it \
        first creates Oban's schema as Oban's migrations leave it at version 14 (enum, oban_jobs with \
        its indexes and constraints, oban_peers, the version comment), in one transaction. Run it as \
        the role that owns oban_jobs. One line per object: exists, or what was done.

        --check prints what it would do, one line per object, and changes nothing.

        Exit status: 0 done (with --check: nothing to do); 1 error (e.g. Postgres unreachable, \
        permission denied); 2 with --check only: changes pending; 64 bad arguments.
        """
    )

    /// `met schema --check`'s exit status when something is to be done.
    static let changesPending: Int32 = 2

    @Option(help: "libpq connection string (default: DATABASE_URL).") var database: String?
    @Option(help: "Postgres schema holding oban_jobs (Oban's prefix).") var prefix = "public"
    @Flag(help: "Print what would be done, one line per object; change nothing. Exit 0: nothing to do, 2: changes pending.")
    var check = false

    func run() throws {
        guard let url = database ?? ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            throw ValidationError("no database: pass --database or set DATABASE_URL")
        }
        var pending = 0
        do {
            let conn = try PostgresConnection(connectionString: url)
            defer { conn.close() }
            if check {
                let plan = try conn.schemaPlan(prefix: prefix)
                for item in plan.items { say(item.line(applied: false)) }
                pending = plan.items.filter { $0.action != .none }.count
                say(pending == 0 ? "met schema --check: nothing to do in schema \(prefix)"
                                 : "met schema --check: \(pending) change(s) pending in schema \(prefix)")
            } else {
                try conn.applySchema(prefix: prefix) { say($0.line(applied: true)) }
                say("met schema: ready in schema \(prefix)")
            }
        } catch {
            FileHandle.standardError.write(Data("met schema: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if pending > 0 { throw ExitCode(Self.changesPending) }
    }

    /// One line on standard output, unbuffered, so a slow index build shows what is done so far.
    private func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
