/// What `met schema` finds in one Postgres schema (`prefix`) and what it would do there: one
/// item per object, read from the catalogs in one query and decided by pure code.
///
/// The rules (issue 11): Oban's objects (``ObanMigrationSQL``) are created only where there is
/// no `oban_jobs` yet, and an existing one is never altered or dropped, whoever made it. ObanMet's
/// own objects are created when missing, brought up to date when an older version made them
/// differently, and left alone when they are right, so a second run changes nothing. The index is
/// built `CONCURRENTLY`, outside any transaction, so a live table is never locked for writes; an
/// INVALID one, left by an interrupted build, is dropped (concurrently too) and built again.
package struct SchemaPlan: Sendable, Equatable {
    /// One object and what is to be done with it.
    package struct Item: Sendable, Equatable {
        package enum Action: Sendable, Equatable {
            case none
            case create
            /// An INVALID or foreign index under ObanMet's name: drop it and build it again.
            case rebuild
            /// A function whose body is not this version's.
            case replace
            /// `met_snapshots` keyed the old way, `(cluster, chunk)`.
            case rekey
            /// Joint statistics with another statistics target.
            case retarget
        }

        /// The objects, in the order a plan lists them.
        package enum Kind: Sendable, Equatable {
            case schema, obanJobs, obanJobState, obanPeers, statistics, leases, snapshots, jobCounts, publication, index
        }

        package var kind: Kind
        /// How a line names it, e.g. `index met_oban_jobs_state_queue_index`.
        package var object: String
        package var action: Action
        /// What was found, for `exists` lines (e.g. Oban's migration version).
        package var note: String?

        package init(kind: Kind, object: String, action: Action, note: String? = nil) {
            self.kind = kind
            self.object = object
            self.action = action
            self.note = note
        }

        /// One line of `met schema`: what it would do (`applied` false, `--check`) or did.
        package func line(applied: Bool) -> String {
            let what: String
            switch action {
            case .none: what = "exists" + (note.map { " (\($0))" } ?? "")
            case .create: what = (applied ? "created" : "would create") + (note.map { " (\($0))" } ?? "")
            case .rebuild: what = applied ? "dropped and built again CONCURRENTLY" : "would drop (\(note ?? "INVALID")) and build again CONCURRENTLY"
            case .replace: what = applied ? "replaced" : "would replace (its body differs from this version's)"
            case .rekey: what = applied ? "re-keyed to (cluster, node, chunk)" : "would re-key to (cluster, node, chunk)"
            case .retarget: what = applied ? "statistics target set to \(JobSchema.statisticsTarget)" : "would set its statistics target to \(JobSchema.statisticsTarget) (\(note ?? "now another"))"
            }
            return "\(object): \(what)"
        }
    }

    /// What the catalogs say about one schema.
    package struct Facts: Sendable, Equatable {
        package var schemaExists = false
        package var obanJobsExists = false
        /// The comment on `oban_jobs`: Oban's migration version.
        package var obanJobsComment: String?
        package var enumExists = false
        package var obanPeersExists = false
        /// nil: no index of that name; true: valid, a plain btree on (state, queue) of oban_jobs.
        package var indexIsRight: Bool?
        package var indexIsValid = false
        /// nil: no statistics object; else its target (-1 for the default).
        package var statisticsTarget: Int?
        package var leasesExists = false
        package var snapshotsExists = false
        package var snapshotKeyColumns: Int?
        /// nil: no function `met_job_counts(bigint)`; else its body.
        package var jobCountsBody: String?
        /// ObanMet's publication publishes this schema's `oban_jobs` (full_count's logical mode).
        package var publicationExists = false

        package init() {}
    }

    package var prefix: String
    package var items: [Item]

    /// Whether anything is to be done.
    package var hasChanges: Bool { items.contains { $0.action != .none } }

    /// The plan for `facts` (pure).
    package init(prefix: String, facts f: Facts) {
        self.prefix = prefix
        let createOban = !f.obanJobsExists
        let obanNote = "Oban's schema at migration version \(ObanMigrationSQL.version)"
        let leftAlone = "Oban's; left as it is"
        var items = [Item(kind: .schema, object: "schema \(prefix)", action: f.schemaExists ? .none : .create)]
        if createOban {
            // oban_jobs first: its statements make the other two, so they are reported after them.
            items.append(Item(kind: .obanJobs, object: "table oban_jobs", action: .create, note: obanNote))
            items.append(Item(kind: .obanJobState, object: "type oban_job_state", action: f.enumExists ? .none : .create, note: f.enumExists ? leftAlone : obanNote))
            items.append(Item(kind: .obanPeers, object: "table oban_peers", action: f.obanPeersExists ? .none : .create, note: f.obanPeersExists ? leftAlone : obanNote))
        } else {
            let version = f.obanJobsComment.map { "Oban migrations at version \($0)" } ?? "no Oban version comment"
            items.append(Item(kind: .obanJobs, object: "table oban_jobs", action: .none, note: "\(version); \(leftAlone)"))
            items.append(Item(kind: .obanJobState, object: "type oban_job_state", action: .none, note: leftAlone))
            items.append(Item(kind: .obanPeers, object: "table oban_peers", action: .none, note: f.obanPeersExists ? leftAlone : "absent; Oban's, not made by met schema"))
        }
        items.append(Item(kind: .statistics, object: "statistics \(JobSchema.statisticsName)",
                          action: f.statisticsTarget == nil ? .create : f.statisticsTarget == JobSchema.statisticsTarget ? .none : .retarget,
                          note: f.statisticsTarget.flatMap { $0 == JobSchema.statisticsTarget ? nil : "now \($0)" }))
        items.append(Item(kind: .leases, object: "table met_leases", action: f.leasesExists ? .none : .create))
        items.append(Item(kind: .snapshots, object: "table met_snapshots", action: !f.snapshotsExists ? .create : f.snapshotKeyColumns == 2 ? .rekey : .none))
        items.append(Item(kind: .jobCounts, object: "function met_job_counts(bigint)",
                          action: f.jobCountsBody == nil ? .create : f.jobCountsBody == JobSchema.jobCountsBody(prefix: prefix) ? .none : .replace))
        items.append(Item(kind: .publication, object: "publication \(JobSchema.publicationName(prefix: prefix))",
                          action: f.publicationExists ? .none : .create,
                          note: f.publicationExists ? nil : "of oban_jobs (id, state, queue), for full_count's logical mode"))
        // Last: the one slow step, so the quick ones are in place even if it is interrupted.
        let index: Item.Action = switch f.indexIsRight { case nil: .create; case true?: .none; case false?: .rebuild }
        items.append(Item(kind: .index, object: "index \(JobSchema.indexName)", action: index,
                          note: index == .create ? "CONCURRENTLY" : index == .rebuild ? (f.indexIsValid ? "not ObanMet's (state, queue) btree" : "INVALID, left by an interrupted build") : nil))
        self.items = items
    }

    /// The statements that carry out `item`, and whether they run in one transaction
    /// (`CREATE INDEX CONCURRENTLY` cannot).
    package func statements(for item: Item) -> (sql: [String], transaction: Bool) {
        let p = JobSchema.identifier(prefix)
        switch (item.kind, item.action) {
        case (_, .none): return ([], false)
        case (.schema, _): return (["CREATE SCHEMA IF NOT EXISTS \(p)"], false)
        case (.obanJobs, _): return (ObanMigrationSQL.statements(prefix: prefix), true)
        case (.obanJobState, _), (.obanPeers, _): return ([], false)  // made with oban_jobs, by Oban's SQL
        case (.statistics, _): return (JobSchema.createStatistics(prefix: prefix), true)
        case (.leases, _): return ([JobSchema.createLeases(prefix: prefix)], false)
        case (.snapshots, .rekey): return ([JobSchema.snapshotKeyMigration(prefix: prefix)], false)
        case (.snapshots, _): return ([JobSchema.createSnapshots(prefix: prefix)], false)
        case (.jobCounts, _): return ([JobSchema.jobCountsFunction(prefix: prefix)], false)
        case (.publication, _): return ([JobSchema.publicationStatement(prefix: prefix)], false)
        case (.index, .rebuild): return ([JobSchema.dropIndex(prefix: prefix), JobSchema.createIndex(prefix: prefix)], false)
        case (.index, _): return ([JobSchema.createIndex(prefix: prefix)], false)
        }
    }
}
