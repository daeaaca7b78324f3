/// A keyframe's counts (DESIGN §5) with the exact counts split across connections.
///
/// Nearly all of a keyframe's time is the exact counts of the groups under the estimate limit
/// (an index-only scan of each, tens of nanoseconds per job); one backend runs them one after
/// the other on one core. Here the caller's connection, inside the keyframe's REPEATABLE READ
/// transaction, finds the groups and their estimates (the skip scan and the statistics of
/// `met_job_counts`) and exports its snapshot (`pg_export_snapshot()`); the groups to count are
/// dealt by estimated size into `connections` parts; each helper connection, in one round trip
/// (a pipeline), adopts the exported snapshot (`SET TRANSACTION SNAPSHOT`) in a transaction of
/// its own and counts its part while the caller's counts another.
/// Every count therefore sees exactly the keyframe's snapshot, whichever backend made it.
///
/// A helper that fails (connection lost, snapshot refused) is closed and its part counted on
/// the caller's connection in the same keyframe: a keyframe is slower then, never wrong. Helpers
/// connect on first use and again after a failure. With `connections` 1 the keyframe is one
/// call of `met_job_counts`, as before.
///
/// Not Sendable, like the connections it owns: one thread (the keyframe reporter's) uses it.
package final class KeyframeCounter {
    package let database: String
    package let applicationName: String
    /// Connections the exact counts are split across, the caller's included (at least 1).
    package let connections: Int
    private var helpers: [PostgresConnection?]
    /// The number of groups each connection counted in the last keyframe, the caller's first
    /// (empty when `met_job_counts` counted them all); for tests and benchmarks.
    package private(set) var lastSplit: [Int] = []
    /// Helpers that failed since this counter was made (each closed; its part counted on the caller's).
    package private(set) var helperFailures = 0
    /// The last helper failure, for a log line.
    package private(set) var lastHelperError: PostgresError?

    package init(database: String, applicationName: String, connections: Int) {
        self.database = database
        self.applicationName = applicationName
        self.connections = max(1, connections)
        helpers = Array(repeating: nil, count: self.connections - 1)
    }

    deinit { close() }

    /// Closes the helper connections (they reconnect on the next keyframe).
    package func close() {
        for i in helpers.indices {
            helpers[i]?.close()
            helpers[i] = nil
        }
    }

    /// The keyframe's counts: `main` must be inside the keyframe's REPEATABLE READ transaction
    /// (``PostgresConnection/beginCount(prefix:importing:)``), which stays open until this returns.
    package func count(on main: PostgresConnection, prefix: String = "public", estimateLimit: Int) throws(PostgresError) -> [JobCount] {
        guard connections > 1 else {
            lastSplit = []
            return try main.jobCounts(prefix: prefix, estimateLimit: estimateLimit)
        }
        do throws(PostgresError) {
            return try split(on: main, prefix: prefix, estimateLimit: estimateLimit)
        } catch {
            close()  // a helper may be left inside a statement or a transaction
            throw error
        }
    }

    private func split(on main: PostgresConnection, prefix: String, estimateLimit: Int) throws(PostgresError) -> [JobCount] {
        let found = try main.groupEstimates(prefix: prefix)
        var counts: [JobCount] = []
        var toCount: [(group: PostgresConnection.GroupEstimate, index: Int)] = []
        for g in found.groups {
            if let guess = g.estimate, guess >= estimateLimit {
                counts.append(JobCount(state: g.state, queue: g.queue, count: guess, estimated: true))
            } else {
                toCount.append((g, counts.count))
                counts.append(JobCount(state: g.state, queue: g.queue, count: 0, estimated: false))
            }
        }
        let parts = Self.deal(toCount.map { $0.group.estimate ?? 0 }, into: connections)
        lastSplit = parts.map(\.count)
        func groups(_ part: [Int]) -> [PostgresConnection.GroupEstimate] { part.map { toCount[$0].group } }

        // The caller's part first, so its backend works while the helpers adopt the snapshot.
        var results: [[Int64]?] = Array(repeating: nil, count: parts.count)
        if !parts[0].isEmpty {
            let (sql, params) = PostgresConnection.exactCounts(groups(parts[0]), prefix: prefix)
            try main.send(sql, params)
        }
        var started = Array(repeating: false, count: parts.count)
        for p in 1..<parts.count where !parts[p].isEmpty {
            do throws(PostgresError) {
                // One round trip: the transaction, the snapshot, the counts, the end.
                try helper(p - 1).sendPipeline([
                    ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", []),
                    ("SET TRANSACTION SNAPSHOT '\(found.snapshot.filter { $0.isHexDigit || $0 == "-" })'", []),
                    PostgresConnection.exactCounts(groups(parts[p]), prefix: prefix),
                    ("COMMIT", []),
                ])
                started[p] = true
            } catch {
                helperFailed(p - 1, error)
            }
        }
        if !parts[0].isEmpty { results[0] = try PostgresConnection.exactCounts(try main.receive(), expecting: parts[0].count) }
        for p in 1..<parts.count where started[p] {
            do throws(PostgresError) {
                guard let helper = helpers[p - 1] else { continue }
                let rows = try helper.receivePipeline(4)
                results[p] = try PostgresConnection.exactCounts(rows[2], expecting: parts[p].count)
            } catch {
                helperFailed(p - 1, error)
            }
        }
        // A failed helper's part: counted on the caller's connection, still in the keyframe's snapshot.
        for p in parts.indices where results[p] == nil && !parts[p].isEmpty {
            let (sql, params) = PostgresConnection.exactCounts(groups(parts[p]), prefix: prefix)
            results[p] = try PostgresConnection.exactCounts(try main.query(sql, params), expecting: parts[p].count)
        }
        for (p, part) in parts.enumerated() {
            for (k, i) in part.enumerated() { counts[toCount[i].index].count = results[p]?[k] ?? 0 }
        }
        return counts
    }

    /// Indexes of `sizes` dealt into `n` parts of about equal total: largest first, each to the
    /// lightest part so far. Every part is listed, empty ones too.
    package static func deal(_ sizes: [Int64], into n: Int) -> [[Int]] {
        var parts = Array(repeating: [Int](), count: n)
        var totals = Array(repeating: Int64(0), count: n)
        // + 1: a group the statistics do not list still costs its probe.
        for i in sizes.indices.sorted(by: { sizes[$0] > sizes[$1] || (sizes[$0] == sizes[$1] && $0 < $1) }) {
            let lightest = totals.indices.min { totals[$0] < totals[$1] }!
            parts[lightest].append(i)
            totals[lightest] += max(0, sizes[i]) + 1
        }
        return parts
    }

    private func helper(_ i: Int) throws(PostgresError) -> PostgresConnection {
        if let h = helpers[i] { return h }
        let h = try PostgresConnection(connectionString: database, applicationName: "\(applicationName) \(i + 2)")
        helpers[i] = h
        return h
    }

    private func helperFailed(_ i: Int, _ error: PostgresError) {
        helpers[i]?.close()
        helpers[i] = nil
        helperFailures += 1
        lastHelperError = error
    }
}
