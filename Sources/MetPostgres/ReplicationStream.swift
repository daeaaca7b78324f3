import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A logical replication connection (`replication=database`) streaming one slot's changes with
/// `pgoutput`: the leader's view of every committed change of `oban_jobs` (docs/full-count.md).
///
/// The slot is temporary: Postgres drops it when this session ends, however it ends, so no slot
/// is ever left behind holding WAL. Creating it exports a snapshot that matches the stream's
/// start exactly: a count under that snapshot plus every transaction streamed afterwards is the
/// whole table. Not Sendable: one owner thread makes every call, like ``PostgresConnection``.
package final class ReplicationStream {
    /// The `PGconn*` in replication mode; nil once closed.
    private var connection: OpaquePointer?
    /// The end of the WAL received so far, reported back to the server.
    package private(set) var received: UInt64 = 0
    private var lastReport = ContinuousClock.now
    /// The server asked for a status update.
    private var replyNow = false

    /// What the server streams: changes, and keepalives.
    package enum Message: Sendable, Equatable {
        /// XLogData: one `pgoutput` message that starts at `walStart`.
        case data(walStart: UInt64, payload: ArraySlice<UInt8>)
        case keepalive(walEnd: UInt64)
    }

    /// Connects in replication mode (needs the REPLICATION attribute and a `pg_hba.conf` line
    /// that allows it for the database).
    package init(connectionString: String, applicationName: String? = nil) throws(PostgresError) {
        connection = try openConnection(connectionString, applicationName: applicationName, extra: [("replication", "database")])
    }

    deinit { close() }

    package func close() {
        guard let conn = connection else { return }
        connection = nil
        PQfinish(conn)
    }

    /// Creates temporary slot `slot` with `pgoutput` and returns the name of the snapshot it
    /// exported: valid until the next command on this connection (``start(slot:publication:)``),
    /// for a REPEATABLE READ transaction to `SET TRANSACTION SNAPSHOT` to.
    ///
    /// Creating a logical slot waits until every transaction with writes then running anywhere in
    /// the Postgres instance has ended; it gives up after `waitingAtMost` ms (`lock_timeout`,
    /// SQLSTATE 55P03), so a long transaction elsewhere cannot hold the caller.
    package func createTemporarySlot(_ slot: String, waitingAtMost milliseconds: Int) throws(PostgresError) -> String {
        _ = try command("SET lock_timeout = \(max(1, milliseconds))")
        let rows = try command("CREATE_REPLICATION_SLOT \(Self.identifier(slot)) TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT")
        guard let name = rows.value(0, "snapshot_name") else {
            throw PostgresError(.query, message: "CREATE_REPLICATION_SLOT returned no snapshot name")
        }
        return name
    }

    /// Starts streaming `slot` (created on this connection) for `publication`.
    package func start(slot: String, publication: String) throws(PostgresError) {
        let literal = "'" + publication.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
        let sql = "START_REPLICATION SLOT \(Self.identifier(slot)) LOGICAL 0/0 (proto_version '1', publication_names \(literal))"
        guard let conn = connection else { throw PostgresError(.closed, message: "replication on a closed connection") }
        guard let result = PQexec(conn, sql) else { throw PostgresError(.query, message: PostgresConnection.errorMessage(conn)) }
        defer { PQclear(result) }  // cleared exactly once
        guard PQresultStatus(result) == PGRES_COPY_BOTH else { throw Self.error(result, conn) }
        lastReport = .now
    }

    /// Waits up to `milliseconds` for the server, then returns every message already received
    /// (none on a timeout). Answers keepalives and reports progress every 10 s, so the server
    /// never times the connection out (`wal_sender_timeout`).
    package func read(waitingUpTo milliseconds: Int32) throws(PostgresError) -> [Message] {
        guard let conn = connection else { throw PostgresError(.closed, message: "replication on a closed connection") }
        var out: [Message] = []
        var waited = false
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let n = PQgetCopyData(conn, &buffer, 1)  // async: 0 when nothing complete is buffered
            if n > 0, let buffer {
                // PQgetCopyData malloc'd `n` bytes for us; copied at once, then freed exactly once.
                let bytes = UnsafeRawBufferPointer(start: buffer, count: Int(n)).map { $0 }
                PQfreemem(buffer)
                if let message = try parse(bytes) { out.append(message) }
                if replyNow { try report(conn) }
                continue
            }
            if n == -1 {
                throw PostgresError(.query, message: "the replication stream ended")
            }
            if n < -1 { throw PostgresError(.query, message: PostgresConnection.errorMessage(conn)) }
            // Nothing buffered: wait for the socket once, then read what came.
            if waited || !out.isEmpty { break }
            waited = true
            var fds = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
            let ready = poll(&fds, 1, milliseconds)
            if ready < 0, errno != EINTR { throw PostgresError(.query, message: "poll on the replication socket failed: errno \(errno)") }
            if ready > 0, PQconsumeInput(conn) == 0 { throw PostgresError(.query, message: PostgresConnection.errorMessage(conn)) }
        }
        if ContinuousClock.now - lastReport > .seconds(10) { try report(conn) }
        return out
    }

    /// Tells the server everything received so far is processed (its WAL may be recycled).
    package func confirm() throws(PostgresError) {
        guard let conn = connection else { throw PostgresError(.closed, message: "replication on a closed connection") }
        try report(conn)
    }

    private func parse(_ bytes: [UInt8]) throws(PostgresError) -> Message? {
        var r = BigEndianReader(bytes[...])
        do throws(PgOutputError) {
            switch try r.byte() {
            case UInt8(ascii: "w"):
                let start = try r.uint64()
                let end = try r.uint64()
                _ = try r.uint64()  // server clock
                received = max(received, end, start)
                return .data(walStart: start, payload: bytes[25...])
            case UInt8(ascii: "k"):
                let end = try r.uint64()
                _ = try r.uint64()
                let reply = try r.byte()
                received = max(received, end)
                if reply != 0 { replyNow = true }
                return .keepalive(walEnd: end)
            case let tag:
                throw PgOutputError("unknown replication message \(tag)")
            }
        } catch {
            throw PostgresError(.query, message: "replication stream: \(error)")
        }
    }

    /// A standby status update: written, flushed and applied up to `received`.
    private func report(_ conn: OpaquePointer) throws(PostgresError) {
        var bytes: [UInt8] = [UInt8(ascii: "r")]
        func put(_ v: UInt64) { for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) } }
        put(received)
        put(received)
        put(received)
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let micros = (Int64(ts.tv_sec) - 946_684_800) * 1_000_000 + Int64(ts.tv_nsec) / 1000  // since 2000-01-01
        put(UInt64(bitPattern: micros))
        bytes.append(0)
        // The bytes are read by libpq during the call only.
        let sent = bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) }
        }
        guard sent == 1, PQflush(conn) == 0 else { throw PostgresError(.query, message: PostgresConnection.errorMessage(conn)) }
        lastReport = .now
        replyNow = false
    }

    /// Runs a replication command that returns rows.
    private func command(_ sql: String) throws(PostgresError) -> PostgresRows {
        guard let conn = connection else { throw PostgresError(.closed, message: "replication on a closed connection") }
        guard let result = PQexec(conn, sql) else { throw PostgresError(.query, message: PostgresConnection.errorMessage(conn)) }
        defer { PQclear(result) }  // cleared exactly once, after the copy
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK: return PostgresRows(copying: result)
        default: throw Self.error(result, conn)
        }
    }

    private static func error(_ result: OpaquePointer, _ conn: OpaquePointer) -> PostgresError {
        // Strings owned by `result`, copied here.
        let message = String(cString: PQresultErrorMessage(result))
        let sqlState = PQresultErrorField(result, met_PG_DIAG_SQLSTATE).map { String(cString: $0) }
        return PostgresError(.query, message: message.isEmpty ? PostgresConnection.errorMessage(conn) : message, sqlState: sqlState)
    }

    /// A slot name is `[a-z0-9_]`, so it needs no quoting; refuse anything else.
    static func identifier(_ name: String) -> String {
        precondition(!name.isEmpty && name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 },
                     "slot names are made of [a-z0-9_]")
        return name
    }
}

/// Explicitly not Sendable: one owner per connection.
@available(*, unavailable)
extension ReplicationStream: Sendable {}
