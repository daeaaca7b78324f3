import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One synchronous libpq connection.
///
/// Not Sendable: libpq forbids two threads using one `PGconn` at once, so a connection has one
/// owner, which makes every call. Calls block the calling thread until the server answers; a later
/// layer drives the same connection without blocking from a libuv loop.
///
/// Queries are always parameterised (`PQexecParams`, `PQsendQueryParams`; text format): values never go into SQL text,
/// and a string with several statements is rejected by the server.
package final class PostgresConnection {
    /// The `PGconn*`; `nil` once closed. Owned by this object alone, finished exactly once.
    private var connection: OpaquePointer?

    /// Connects with a libpq connection string: `"host=... port=... dbname=..."` or
    /// `"postgresql://user@host:port/db"`. Blocks until connected or failed. `applicationName`
    /// names the session in `pg_stat_activity` unless the string sets `application_name`.
    package init(connectionString: String, applicationName: String? = nil) throws(PostgresError) {
        connection = try openConnection(connectionString, applicationName: applicationName)
    }

    deinit { close() }

    /// Whether `close()` has not been called yet. (The server may still have gone away.)
    package var isOpen: Bool { connection != nil }

    /// Closes the connection. Safe to call more than once; `deinit` calls it too.
    package func close() {
        guard let conn = connection else { return }
        connection = nil
        PQfinish(conn)
    }

    /// Runs one statement with `$1, $2, ...` placeholders bound to `params` (text format, `nil` is
    /// SQL NULL) and returns its rows (none for a command). Throws with the SQLSTATE when the server
    /// rejects the statement.
    package func query(_ sql: String, _ params: [String?] = []) throws(PostgresError) -> PostgresRows {
        let conn = try checked(sql, params)
        let result = withCStrings(params) { values in
            // `values` holds params.count pointers, each NUL-terminated or NULL, alive for this closure; libpq
            // reads them only during the call. Null types/lengths/formats mean: inferred types, text format.
            PQexecParams(conn, sql, Int32(params.count), nil, values, nil, nil, 0)
        }
        guard let result else {  // NULL: out of memory, or the connection could not send the query
            throw PostgresError(.query, message: PostgresConnection.errorMessage(conn))
        }
        defer { PQclear(result) }  // the result is cleared exactly once, after everything was copied out
        return try Self.rows(of: result, conn)
    }

    /// Sends one statement like ``query(_:_:)`` without waiting for it: the server runs it while
    /// the caller goes on (sends another connection's statement, say). ``receive()`` waits for
    /// its rows; nothing else may be sent on this connection before that.
    package func send(_ sql: String, _ params: [String?] = []) throws(PostgresError) {
        let conn = try checked(sql, params)
        let sent = withCStrings(params) { values in
            // As in query(): libpq copies the parameters into its output buffer during the call.
            PQsendQueryParams(conn, sql, Int32(params.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw PostgresError(.query, message: PostgresConnection.errorMessage(conn)) }
    }

    /// Waits for the statement ``send(_:_:)`` sent and returns its rows, or throws its error.
    package func receive() throws(PostgresError) -> PostgresRows {
        guard let conn = connection else {
            throw PostgresError(.closed, message: "receive on a closed connection")
        }
        var rows: PostgresRows?
        var failure: PostgresError?
        // PQgetResult blocks until the next result; NULL means the statement is over and the
        // connection idle again. Every result is cleared exactly once, after it was copied out.
        while let result = PQgetResult(conn) {
            defer { PQclear(result) }
            guard rows == nil, failure == nil else { continue }
            do throws(PostgresError) { rows = try Self.rows(of: result, conn) } catch { failure = error }
        }
        if let failure { throw failure }
        guard let rows else { throw PostgresError(.query, message: "no statement was waiting for its result") }
        return rows
    }

    /// Sends `statements` as one pipeline (libpq's pipeline mode): the server receives them in
    /// one round trip and runs them in order, each in the transaction state the ones before left;
    /// after a failed one the rest are skipped. ``receivePipeline(_:)`` collects their rows.
    package func sendPipeline(_ statements: [(sql: String, params: [String?])]) throws(PostgresError) {
        var conn: OpaquePointer?
        for (sql, params) in statements { conn = try checked(sql, params) }
        guard let conn else { return }
        guard PQenterPipelineMode(conn) == 1 else { throw PostgresError(.query, message: PostgresConnection.errorMessage(conn)) }
        for (sql, params) in statements {
            let sent = withCStrings(params) { values in
                // As in query(): libpq copies the parameters into its output buffer during the call.
                PQsendQueryParams(conn, sql, Int32(params.count), nil, values, nil, nil, 0)
            }
            guard sent == 1 else { throw PostgresError(.query, message: PostgresConnection.errorMessage(conn)) }
        }
        guard PQpipelineSync(conn) == 1 else { throw PostgresError(.query, message: PostgresConnection.errorMessage(conn)) }
    }

    /// Waits for the `count` statements ``sendPipeline(_:)`` sent and the pipeline's end, and
    /// returns their rows; throws the first statement's error (the later ones were skipped).
    package func receivePipeline(_ count: Int) throws(PostgresError) -> [PostgresRows] {
        guard let conn = connection else {
            throw PostgresError(.closed, message: "receive on a closed connection")
        }
        var out: [PostgresRows] = []
        var failure: PostgresError?
        for _ in 0..<count {
            // One statement's results end with NULL; each result is cleared once, after its copy.
            var rows: PostgresRows?
            while let result = PQgetResult(conn) {
                defer { PQclear(result) }
                guard rows == nil, failure == nil else { continue }
                do throws(PostgresError) { rows = try Self.rows(of: result, conn) } catch { failure = error }
            }
            if let rows { out.append(rows) }
        }
        // Then the sync point (NULL instead when the connection broke).
        while let result = PQgetResult(conn) {
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_PIPELINE_SYNC { break }
        }
        let exited = PQexitPipelineMode(conn) == 1
        if let failure { throw failure }
        guard out.count == count, exited else {
            throw PostgresError(.query, message: "a pipeline of \(count) statements ended with \(out.count) results: \(PostgresConnection.errorMessage(conn))")
        }
        return out
    }

    /// The open connection, once `sql` and `params` are known to be sendable.
    private func checked(_ sql: String, _ params: [String?]) throws(PostgresError) -> OpaquePointer {
        guard let conn = connection else {
            throw PostgresError(.closed, message: "query on a closed connection")
        }
        guard !sql.utf8.contains(0) else {
            throw PostgresError(.invalidArgument, message: "SQL text contains a NUL byte")
        }
        guard params.count <= 65_535 else {  // the protocol's limit; libpq would reject it too
            throw PostgresError(.invalidArgument, message: "\(params.count) parameters (at most 65535)")
        }
        if let bad = params.firstIndex(where: { $0?.utf8.contains(0) == true }) {
            throw PostgresError(.invalidArgument, message: "parameter $\(bad + 1) contains a NUL byte")
        }
        return conn
    }

    /// The rows of `result` (which the caller clears), or its error.
    private static func rows(of result: OpaquePointer, _ conn: OpaquePointer) throws(PostgresError) -> PostgresRows {
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(copying: result)
        default:
            // PQresultErrorMessage/PQresultErrorField return strings owned by `result` (or NULL); copied here.
            let message = String(cString: PQresultErrorMessage(result))
            let sqlState = PQresultErrorField(result, met_PG_DIAG_SQLSTATE).map { String(cString: $0) }
            throw PostgresError(.query, message: message.isEmpty ? PostgresConnection.errorMessage(conn) : message,
                                sqlState: sqlState)
        }
    }

    /// libpq's last error on `conn`, copied now (the next libpq call overwrites it).
    static func errorMessage(_ conn: OpaquePointer) -> String {
        // PQerrorMessage returns a NUL-terminated string owned by `conn`, never NULL for a non-NULL conn.
        String(cString: PQerrorMessage(conn))
    }
}

/// Opens a `PGconn` with `connectionString` (expanded: it may be a URI or `key=value` pairs),
/// then the parameters in `extra`, which override it; checks it connected and speaks UTF-8.
/// The caller owns the result and finishes it.
func openConnection(_ connectionString: String, applicationName: String?, extra: [(String, String)] = []) throws(PostgresError) -> OpaquePointer {
    guard !connectionString.utf8.contains(0) else {
        throw PostgresError(.invalidArgument, message: "connection string contains a NUL byte")
    }
    var pairs = [("dbname", connectionString)] + extra
    if let applicationName { pairs.append(("fallback_application_name", applicationName)) }
    let keys = pairs.map { strdup($0.0) } + [nil]
    let values = pairs.map { strdup($0.1) } + [nil]
    defer { for p in keys + values { free(p) } }  // each strdup'd copy freed once, after the call
    // PQconnectdbParams reads the NULL-terminated arrays (alive until the defer above) during the call
    // only; expand_dbname = 1 expands the first dbname into its parameters, later keys override them.
    let conn = keys.map { $0.map { UnsafePointer($0) } }.withUnsafeBufferPointer { k in
        values.map { $0.map { UnsafePointer($0) } }.withUnsafeBufferPointer { v in
            PQconnectdbParams(k.baseAddress, v.baseAddress, 1)
        }
    }
    guard let conn else { throw PostgresError(.connect, message: "out of memory allocating a libpq connection") }
    guard PQstatus(conn) == CONNECTION_OK else {
        let message = PostgresConnection.errorMessage(conn)
        PQfinish(conn)  // a failed PGconn must still be freed, once
        throw PostgresError(.connect, message: message)
    }
    // Rows are decoded as UTF-8, so make the server send UTF-8 whatever PGCLIENTENCODING says.
    if String(cString: pg_encoding_to_char(PQclientEncoding(conn))) != "UTF8", PQsetClientEncoding(conn, "UTF8") != 0 {
        let message = PostgresConnection.errorMessage(conn)
        PQfinish(conn)
        throw PostgresError(.connect, message: "could not set client_encoding to UTF8: \(message)")
    }
    return conn
}

/// Explicitly not Sendable: one owner per connection (libpq §34.20).
@available(*, unavailable)
extension PostgresConnection: Sendable {}

/// Calls `body` with a C array of NUL-terminated copies of `strings` (`nil` stays NULL). The array
/// and the copies are freed when `body` returns, so `body` must not let them escape.
private func withCStrings<R>(
    _ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R
) -> R {
    // strdup gives each value its own malloc'd, NUL-terminated copy; each is freed exactly once below.
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0)! } }
    defer { for copy in copies { free(copy) } }
    let pointers = copies.map { $0.map { UnsafePointer($0) } }
    // The array buffer lives for the duration of withUnsafeBufferPointer, which encloses `body`.
    return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
}
