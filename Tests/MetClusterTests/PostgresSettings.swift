import Foundation

/// The suite's Postgres (started by `scripts/test`), for the cluster tests that need one.
let databaseURL = ProcessInfo.processInfo.environment["MET_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
/// `MET_SKIP_POSTGRES=1` skips the tests that need Postgres.
let skipPostgres = ProcessInfo.processInfo.environment["MET_SKIP_POSTGRES"] == "1"
