import MetPostgres
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func environment(_ name: String) -> String? {
    // getenv returns a pointer into the environment block, copied at once; nothing here mutates the environment.
    getenv(name).map { String(cString: $0) }
}

let skipPostgres = environment("MET_SKIP_POSTGRES") == "1"
let databaseURL = environment("MET_TEST_DATABASE_URL").flatMap { $0.isEmpty ? nil : $0 }

/// Fails, once and clearly, when the tests that need Postgres have no database to talk to.
@Test(.enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"))
func postgresIsConfigured() {
    #expect(
        databaseURL != nil,
        "MET_TEST_DATABASE_URL is not set: run the tests with scripts/test, which starts a throwaway Postgres (or set MET_SKIP_POSTGRES=1 to skip the tests that need one)"
    )
}

/// Needs a real Postgres: `scripts/test` starts a throwaway one and sets `MET_TEST_DATABASE_URL`.
/// Without it `postgresIsConfigured` fails, unless `MET_SKIP_POSTGRES=1` skips them all.
@Suite(
    .enabled(if: !skipPostgres, "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: databaseURL != nil, "MET_TEST_DATABASE_URL is not set (see postgresIsConfigured)")
)
struct PostgresConnectionTests {
    let url: String

    init() throws {
        url = try #require(databaseURL)
    }

    @Test func parameterisedQuery() throws {
        let db = try PostgresConnection(connectionString: url)
        let rows = try db.query("SELECT $1::int + $2::int AS sum", ["2", "40"])
        #expect(rows.columns == ["sum"])
        #expect(rows.rows == [["42"]])
        #expect(rows.value(0, "sum") == "42")
        #expect(rows.commandTag == "SELECT 1")
    }

    @Test func parametersAreValuesNotSQL() throws {
        let db = try PostgresConnection(connectionString: url)
        let hostile = "x'); DROP TABLE pg_class; --"
        let rows = try db.query("SELECT $1::text AS s, $2::text IS NULL AS n, $2::text AS v", [hostile, nil])
        #expect(rows.rows == [[hostile, "t", nil]])
        let unicode = "héllo ✓"
        #expect(try db.query("SELECT $1::text", [unicode]).rows == [[unicode]])
    }

    @Test func commandsAndManyRows() throws {
        let db = try PostgresConnection(connectionString: url)
        _ = try db.query("CREATE TEMP TABLE t (n int)")
        let insert = try db.query("INSERT INTO t SELECT generate_series(1, $1::int)", ["100"])
        #expect(insert.commandTag == "INSERT 0 100")
        #expect(insert.count == 0)
        let rows = try db.query("SELECT n FROM t ORDER BY n")
        #expect(rows.count == 100)
        #expect(rows.rows.last == ["100"])
    }

    @Test func sqlErrorCarriesSQLState() throws {
        let db = try PostgresConnection(connectionString: url)
        let error = #expect(throws: PostgresError.self) { try db.query("SELECT 1 / $1::int", ["0"]) }
        #expect(error?.kind == .query)
        #expect(error?.sqlState == "22012")
        #expect(error?.message.contains("division by zero") == true)
        // The connection is still usable after a failed statement.
        #expect(try db.query("SELECT 1").rows == [["1"]])
        let syntax = #expect(throws: PostgresError.self) { try db.query("SELEC 1") }
        #expect(syntax?.sqlState == "42601")
    }

    @Test func closeIsIdempotentAndQueriesAfterCloseFail() throws {
        let db = try PostgresConnection(connectionString: url)
        db.close()
        db.close()
        #expect(!db.isOpen)
        let error = #expect(throws: PostgresError.self) { try db.query("SELECT 1") }
        #expect(error?.kind == .closed)
    }

    @Test func nulBytesAreRejectedBeforeLibpq() throws {
        let db = try PostgresConnection(connectionString: url)
        let error = #expect(throws: PostgresError.self) { try db.query("SELECT $1::text", ["a\u{0}b"]) }
        #expect(error?.kind == .invalidArgument)
    }

    @Test func unknownDatabaseFailsWithServerMessage() throws {
        let bad = url.replacingLastPathComponent(with: "met_no_such_db")
        let error = #expect(throws: PostgresError.self) { _ = try PostgresConnection(connectionString: bad) }
        #expect(error?.message.contains("met_no_such_db") == true)
    }
}

/// Failed connections need no server: nothing listens on port 1, and malformed strings fail in libpq.
@Suite struct PostgresConnectFailureTests {
    @Test(arguments: [
        // Nothing listens on port 1: connection refused.
        "postgresql://met:hunter2-secret@127.0.0.1:1/met_test?connect_timeout=5",
        "host=127.0.0.1 port=1 user=met password=hunter2-secret connect_timeout=5",
        // Malformed: libpq rejects the string itself.
        "host=127.0.0.1 password=hunter2-secret port=notaport",
        "postgresql://met:hunter2-secret@127.0.0.1:1/met_test?bogus_option=hunter2-secret",
        // libpq echoes this whole URI in its message: only redaction keeps the password out.
        "postgresql://met:hunter2-secret@[::1/met_test",
    ])
    func badConnectionStringHidesPassword(connectionString: String) {
        let error = #expect(throws: PostgresError.self) {
            _ = try PostgresConnection(connectionString: connectionString)
        }
        #expect(error?.kind == .connect)
        #expect(error?.message.isEmpty == false)
        #expect(error?.description.contains("hunter2") == false, "\(String(describing: error))")
    }
}

extension String {
    /// `postgresql://host:port/db` with `db` replaced (test helper; assumes no query string).
    fileprivate func replacingLastPathComponent(with name: String) -> String {
        guard let slash = lastIndex(of: "/") else { return self }
        return self[...slash] + name
    }
}
