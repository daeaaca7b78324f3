/// A failure reported by libpq or by the server. Its message never contains a password: every
/// message is passed through `redactingPassword(_:)` when the error is made.
package struct PostgresError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the failure happened.
    package enum Kind: Sendable, Equatable {
        /// Connecting failed (bad connection string, unreachable server, authentication).
        case connect
        /// A query failed: the server rejected it, or the connection broke while it ran.
        case query
        /// An argument libpq cannot carry (a NUL byte in text, too many parameters).
        case invalidArgument
        /// The connection was already closed.
        case closed
    }

    package let kind: Kind
    /// The message, redacted, without libpq's trailing newline. libpq may put one line per host.
    package let message: String
    /// The five-character SQLSTATE (e.g. `"22012"`) when the server sent one; libpq's own errors,
    /// such as a lost connection, usually have none.
    package let sqlState: String?

    package init(_ kind: Kind, message: String, sqlState: String? = nil) {
        self.kind = kind
        self.message = redactingPassword(PostgresError.trimmed(message))
        self.sqlState = sqlState
    }

    package var description: String {
        let state = sqlState.map { " [\($0)]" } ?? ""
        return "postgres \(kind)\(state): \(message)"
    }

    private static func trimmed(_ text: String) -> String {
        var view = Substring(text)
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return String(view)
    }
}
