/// What one lease statement found: who holds the lease of a cluster, under which term, and
/// whether that is the caller.
package struct LeaseHolder: Sendable, Equatable {
    package var term: Int64
    package var holder: String
    package var incarnation: UInt64
    /// The caller holds the lease (it was free, expired, or already the caller's).
    package var isCaller: Bool

    package init(term: Int64, holder: String, incarnation: UInt64, isCaller: Bool) {
        self.term = term
        self.holder = holder
        self.incarnation = incarnation
        self.isCaller = isCaller
    }
}

extension PostgresConnection {
    /// Takes, renews or observes the lease named `name` in one statement (RELIABILITY L6): the
    /// caller gets it if it already holds it or the holder's lease has expired. The term stays
    /// only when the holder renews a lease that has not expired; every acquisition (another
    /// holder, or the same one after its lease ran out, say across a Postgres outage) gets a term
    /// one higher, so keyframes numbered again from 1 are never older than the ones before.
    /// Expiry is computed by Postgres (`now()`), never by a node's clock (L4).
    package func tryLease(name: String, holder: String, incarnation: UInt64, milliseconds: Int,
                         prefix: String = "public") throws(PostgresError) -> LeaseHolder? {
        let table = "\(JobSchema.identifier(prefix)).met_leases"
        let rows = try query("""
            WITH attempt AS (
              INSERT INTO \(table) AS l (name, term, holder, incarnation, expires_at)
              VALUES ($1, 1, $2, $3::bigint, now() + $4::bigint * interval '1 millisecond')
              ON CONFLICT (name) DO UPDATE SET
                term = CASE WHEN l.holder = EXCLUDED.holder AND l.incarnation = EXCLUDED.incarnation AND l.expires_at >= now()
                            THEN l.term ELSE l.term + 1 END,
                holder = EXCLUDED.holder, incarnation = EXCLUDED.incarnation, expires_at = EXCLUDED.expires_at
              WHERE (l.holder = EXCLUDED.holder AND l.incarnation = EXCLUDED.incarnation) OR l.expires_at < now()
              RETURNING term, holder, incarnation
            )
            SELECT term, holder, incarnation, true FROM attempt
            UNION ALL
            SELECT term, holder, incarnation, false FROM \(table)
            WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM attempt)
            """, [name, holder, String(Int64(bitPattern: incarnation)), String(milliseconds)])
        guard let row = rows.rows.first, row.count == 4, let term = row[0].flatMap({ Int64($0) }),
              let who = row[1], let inc = row[2].flatMap({ Int64($0) }) else { return nil }
        return LeaseHolder(term: term, holder: who, incarnation: UInt64(bitPattern: inc), isCaller: row[3] == "t")
    }

    /// Gives the lease up (a graceful stop), so another node takes it at its next attempt
    /// instead of after the lease runs out (RELIABILITY L3).
    package func releaseLease(name: String, holder: String, incarnation: UInt64, prefix: String = "public") throws(PostgresError) {
        _ = try query("""
            UPDATE \(JobSchema.identifier(prefix)).met_leases SET expires_at = now() - interval '1 millisecond'
            WHERE name = $1 AND holder = $2 AND incarnation = $3::bigint
            """, [name, holder, String(Int64(bitPattern: incarnation))])
    }
}
