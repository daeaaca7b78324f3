import CLibPQ

/// The rows a query returned, copied out of libpq's result in text format, so the value is
/// Sendable and outlives the `PGresult` (which is cleared right after the copy).
package struct PostgresRows: Sendable, Equatable {
    /// Column names, in order.
    package let columns: [String]
    /// One array per row, one entry per column; `nil` is SQL NULL.
    package let rows: [[String?]]
    /// The command tag, e.g. `"SELECT 1"`, `"INSERT 0 3"`.
    package let commandTag: String

    package init(columns: [String], rows: [[String?]], commandTag: String) {
        self.columns = columns
        self.rows = rows
        self.commandTag = commandTag
    }

    /// The number of rows.
    package var count: Int { rows.count }

    /// The value at `row` in the column named `column`; `nil` for SQL NULL or an unknown column.
    package func value(_ row: Int, _ column: String) -> String? {
        guard let index = columns.firstIndex(of: column) else { return nil }
        return rows[row][index]
    }

    /// Copies everything out of `result`, which the caller still owns and clears afterwards.
    init(copying result: OpaquePointer) {
        let columnCount = PQnfields(result)
        let rowCount = PQntuples(result)
        // PQfname returns a NUL-terminated name owned by `result`, valid for 0 <= c < PQnfields; copied at once.
        columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        rows = (0..<rowCount).map { r in
            (0..<columnCount).map { c -> String? in
                if PQgetisnull(result, r, c) == 1 { return nil }
                // PQgetvalue returns a NUL-terminated text value owned by `result`, valid for in-range r and c
                // while `result` is not cleared; String(cString:) copies it now.
                return String(cString: PQgetvalue(result, r, c))
            }
        }
        // PQcmdStatus returns a NUL-terminated string owned by `result` (empty, never NULL, for a valid result).
        commandTag = String(cString: PQcmdStatus(result))
    }
}
