/// The leader's statements for `full_count` between keyframes (docs/full-count.md): a keyframe's
/// REPEATABLE READ transaction with its snapshot, the state of given jobs as that snapshot saw
/// them, and the recount of the jobs newer than a keyframe. Snapshots are returned in the text
/// form of `pg_snapshot` (`xmin:xmax:xip,...`); MetRuntime parses them.
extension PostgresConnection {
    /// What a keyframe's transaction saw when it started.
    package struct CountStart: Sendable, Equatable {
        package var snapshot: String
        /// The largest job id visible (0 for an empty table).
        package var maxID: Int64
    }

    /// Starts the read-only REPEATABLE READ transaction a keyframe counts under — adopting
    /// `importing`, a snapshot exported by a replication slot's creation, when given — and
    /// returns its snapshot. Every statement until ``endCount()`` sees exactly that snapshot.
    package func beginCount(prefix: String = "public", importing: String? = nil) throws(PostgresError) -> CountStart {
        _ = try query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        do throws(PostgresError) {
            if let importing {
                _ = try query("SET TRANSACTION SNAPSHOT '\(importing.filter { $0.isHexDigit || $0 == "-" })'")
            }
            let rows = try query("SELECT pg_current_snapshot()::text, coalesce(max(id), 0) FROM \(JobSchema.identifier(prefix)).oban_jobs")
            guard let row = rows.rows.first, let snapshot = row[0], let max = row[1].flatMap({ Int64($0) }) else {
                throw PostgresError(.query, message: "no snapshot returned")
            }
            return CountStart(snapshot: snapshot, maxID: max)
        } catch {
            _ = try? query("ROLLBACK")
            throw error
        }
    }

    /// Ends the keyframe's transaction.
    package func endCount() throws(PostgresError) {
        _ = try query("COMMIT")
    }

    /// Inside a keyframe's transaction: the (state, queue) of each job of `ids` its snapshot
    /// sees (a job it does not see is absent), by primary key.
    package func jobGroups(_ ids: [Int64], prefix: String = "public") throws(PostgresError) -> [Int64: JobChangeStream.Group] {
        guard !ids.isEmpty else { return [:] }
        let rows = try query("SELECT id, state::text, queue FROM \(JobSchema.identifier(prefix)).oban_jobs WHERE id = ANY($1::bigint[])",
                             ["{" + ids.map(String.init).joined(separator: ",") + "}"])
        var out: [Int64: JobChangeStream.Group] = [:]
        for row in rows.rows {
            guard row.count == 3, let id = row[0].flatMap({ Int64($0) }), let state = row[1], let queue = row[2] else {
                throw PostgresError(.query, message: "unexpected job row \(row)")
            }
            out[id] = JobChangeStream.Group(state: state, queue: queue)
        }
        return out
    }

    /// The jobs with ids above `id` per (state, queue), counted in one statement, with the
    /// snapshot that statement ran under. The primary key's index finds them.
    package func jobCounts(above id: Int64, prefix: String = "public") throws(PostgresError) -> (snapshot: String, counts: [JobCount]) {
        let rows = try query("""
            WITH counted AS (
              SELECT state::text AS s, queue AS q, count(*) AS n FROM \(JobSchema.identifier(prefix)).oban_jobs WHERE id > $1::bigint GROUP BY 1, 2)
            SELECT pg_current_snapshot()::text, NULL, NULL, NULL
            UNION ALL SELECT NULL, s, q, n::text FROM counted
            """, [String(id)])
        guard let snapshot = rows.rows.first?.first ?? nil else { throw PostgresError(.query, message: "no snapshot returned") }
        var counts: [JobCount] = []
        for row in rows.rows.dropFirst() {
            guard row.count == 4, let state = row[1], let queue = row[2], let n = row[3].flatMap({ Int64($0) }) else {
                throw PostgresError(.query, message: "unexpected job count row \(row)")
            }
            counts.append(JobCount(state: state, queue: queue, count: n, estimated: false))
        }
        return (snapshot, counts)
    }

    /// Whether this server can decode `oban_jobs` for ObanMet: nil when it can, else why not
    /// (in words an operator can act on). Creates the publication when it is missing and the
    /// session may (it must own the table).
    package func logicalDecodingUnavailable(prefix: String = "public") throws(PostgresError) -> String? {
        let rows = try query("""
            SELECT current_setting('wal_level'),
                   EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = 'oban_jobs')
            """, [JobSchema.publicationName(prefix: prefix), prefix])
        guard let row = rows.rows.first, row.count == 2 else { throw PostgresError(.query, message: "no settings returned") }
        if row[0] != "logical" {
            return "wal_level is \(row[0] ?? "unknown"), not logical"
        }
        if row[1] != "t" {
            do throws(PostgresError) {
                _ = try query(JobSchema.publicationStatement(prefix: prefix))
            } catch {
                return "no publication \(JobSchema.publicationName(prefix: prefix)) of \(prefix).oban_jobs, and this role cannot create it (\(error.message.split(separator: "\n").first ?? "")); run met schema as the table's owner"
            }
        }
        return nil
    }
}
