/// Turns a `pgoutput` stream into the committed transactions that changed `oban_jobs`: per
/// transaction its 32-bit id, its commit LSN, and per changed row the job's id and its (state,
/// queue) after the change, plus its (state, queue) before when the server sent the old row
/// (replica identity full). Other tables' changes are skipped. Pure: fed one message at a time.
package struct JobChangeStream: Sendable {
    package struct Group: Sendable, Hashable {
        package var state: String
        package var queue: String

        package init(state: String, queue: String) {
            self.state = state
            self.queue = queue
        }
    }

    package struct Change: Sendable, Equatable {
        package var job: Int64
        /// The job's group before the change, when the stream carried it (nil: look it up).
        package var old: Group?
        /// The job's group after the change; nil when the row was deleted.
        package var new: Group?
        package var inserted: Bool

        package init(job: Int64, old: Group? = nil, new: Group?, inserted: Bool = false) {
            self.job = job
            self.old = old
            self.new = new
            self.inserted = inserted
        }
    }

    package struct Transaction: Sendable, Equatable {
        package var xid: UInt32
        package var lsn: UInt64
        package var changes: [Change]
        /// The table was truncated, or the transaction changed more rows than are kept: only a
        /// recount can say what it did.
        package var needsRecount: Bool

        package init(xid: UInt32, lsn: UInt64, changes: [Change], needsRecount: Bool = false) {
            self.xid = xid
            self.lsn = lsn
            self.changes = changes
            self.needsRecount = needsRecount
        }
    }

    let namespace: String
    let table: String
    /// Rows kept per transaction; a bigger one is marked `needsRecount` instead.
    package let maxChanges: Int
    /// Our table's relation id and the positions of its id, state and queue columns.
    private var relations: [UInt32: (id: Int, state: Int, queue: Int)?] = [:]
    private var open: Transaction?

    package init(namespace: String, table: String = "oban_jobs", maxChanges: Int = 100_000) {
        self.namespace = namespace
        self.table = table
        self.maxChanges = maxChanges
    }

    /// Takes one message; returns the transaction it completes (a commit that changed the table).
    package mutating func feed(_ message: PgOutputMessage) throws(PgOutputError) -> Transaction? {
        switch message {
        case .begin(_, let xid):
            open = Transaction(xid: xid, lsn: 0, changes: [])
        case .commit(let lsn, _):
            guard var t = open else { throw PgOutputError("a commit without a begin") }
            open = nil
            t.lsn = lsn
            return t.changes.isEmpty && !t.needsRecount ? nil : t
        case .relation(let r):
            guard r.namespace == namespace, r.name == table else {
                relations[r.id] = .some(nil)
                return nil
            }
            guard let id = r.columns.firstIndex(of: "id"), let state = r.columns.firstIndex(of: "state"),
                  let queue = r.columns.firstIndex(of: "queue") else {
                throw PgOutputError("\(namespace).\(table) is published without its id, state and queue columns")
            }
            relations[r.id] = (id, state, queue)
        case .insert(let relation, let new):
            guard let columns = try ours(relation) else { return nil }
            try add(Change(job: try job(new, columns), new: try group(new, columns), inserted: true))
        case .update(let relation, let old, let new):
            guard let columns = try ours(relation) else { return nil }
            let id = try job(new, columns)
            if let old, case .text = old[columns.id], let was = try? job(old, columns), was != id {
                // The key changed (never done by Oban): the old row went away, a new one came.
                try add(Change(job: was, old: try? group(old, columns), new: nil))
                try add(Change(job: id, new: try group(new, columns), inserted: true))
            } else {
                try add(Change(job: id, old: old.flatMap { try? group($0, columns) }, new: try group(new, columns)))
            }
        case .delete(let relation, let old):
            guard let columns = try ours(relation) else { return nil }
            try add(Change(job: try job(old, columns), old: try? group(old, columns), new: nil))
        case .truncate(let ids):
            for id in ids where try ours(id) != nil {
                try markRecount()
                break
            }
        case .other:
            break
        }
        return nil
    }

    private func ours(_ relation: UInt32) throws(PgOutputError) -> (id: Int, state: Int, queue: Int)? {
        guard let known = relations[relation] else { throw PgOutputError("a change of relation \(relation) before its description") }
        return known
    }

    private mutating func add(_ change: Change) throws(PgOutputError) {
        guard open != nil else { throw PgOutputError("a change outside a transaction") }
        guard !open!.needsRecount else { return }
        if open!.changes.count >= maxChanges { return try markRecount() }
        open!.changes.append(change)
    }

    private mutating func markRecount() throws(PgOutputError) {
        guard open != nil else { throw PgOutputError("a change outside a transaction") }
        open!.needsRecount = true
        open!.changes = []
    }

    private func job(_ row: [PgValue], _ columns: (id: Int, state: Int, queue: Int)) throws(PgOutputError) -> Int64 {
        guard columns.id < row.count, let text = row[columns.id].text, let id = Int64(text) else {
            throw PgOutputError("a row of \(table) without a readable id")
        }
        return id
    }

    private func group(_ row: [PgValue], _ columns: (id: Int, state: Int, queue: Int)) throws(PgOutputError) -> Group {
        guard columns.state < row.count, columns.queue < row.count, let state = row[columns.state].text,
              let queue = row[columns.queue].text else {
            throw PgOutputError("a row of \(table) without its state and queue")
        }
        return Group(state: state, queue: queue)
    }
}
