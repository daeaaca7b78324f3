import Foundation
import MetPostgres
import Testing

/// `met schema`'s decisions from what the catalogs say, without a database.
struct SchemaPlanTests {
    func plan(_ change: (inout SchemaPlan.Facts) -> Void) -> SchemaPlan {
        var facts = SchemaPlan.Facts()
        change(&facts)
        return SchemaPlan(prefix: "app", facts: facts)
    }

    /// Facts of a schema Oban migrated, with none of ObanMet's objects.
    func obanMade(_ f: inout SchemaPlan.Facts) {
        f.schemaExists = true
        f.obanJobsExists = true
        f.obanJobsComment = "12"
        f.enumExists = true
        f.obanPeersExists = true
    }

    @Test func anEmptyDatabaseGetsEverythingAndObansPartInOneTransaction() {
        let p = plan { _ in }
        #expect(p.items.allSatisfy { $0.action == .create })
        let oban = p.items.first { $0.kind == .obanJobs }!
        let (sql, transaction) = p.statements(for: oban)
        #expect(transaction && sql.last == "COMMENT ON TABLE \"app\".oban_jobs IS '14'")
        #expect(p.statements(for: p.items.first { $0.kind == .obanPeers }!).sql.isEmpty, "made with oban_jobs")
    }

    @Test func anObanDatabaseIsLeftAsItIs() {
        let p = plan(obanMade)
        for kind in [SchemaPlan.Item.Kind.schema, .obanJobState, .obanJobs, .obanPeers] {
            let item = p.items.first { $0.kind == kind }!
            #expect(item.action == .none && p.statements(for: item).sql.isEmpty)
        }
        #expect(p.items.first { $0.kind == .obanJobs }!.line(applied: false)
                == "table oban_jobs: exists (Oban migrations at version 12; Oban's; left as it is)")
        #expect(p.items.filter { $0.action == .create }.map(\.kind) == [.statistics, .leases, .snapshots, .jobCounts, .publication, .index])
    }

    @Test func theIndexIsAlwaysBuiltConcurrentlyOutsideATransaction() {
        let fresh = plan(obanMade)
        let invalid = plan { obanMade(&$0); $0.indexIsRight = false; $0.indexIsValid = false }
        let foreign = plan { obanMade(&$0); $0.indexIsRight = false; $0.indexIsValid = true }
        for p in [fresh, invalid, foreign] {
            let (sql, transaction) = p.statements(for: p.items.last!)
            #expect(p.items.last!.kind == .index && !transaction && !sql.isEmpty)
            #expect(sql.allSatisfy { $0.contains(" CONCURRENTLY ") }, "\(sql)")
        }
        #expect(invalid.items.last!.action == .rebuild && invalid.items.last!.line(applied: false).contains("INVALID, left by an interrupted build"))
        #expect(foreign.items.last!.line(applied: false).contains("not ObanMet's (state, queue) btree"))
        #expect(plan { obanMade(&$0); $0.indexIsRight = true }.items.last!.action == .none)
    }

    @Test func upToDateObjectsMeanNothingToDo() {
        let done = plan {
            obanMade(&$0)
            $0.indexIsRight = true
            $0.indexIsValid = true
            $0.statisticsTarget = 1000
            $0.leasesExists = true
            $0.snapshotsExists = true
            $0.snapshotKeyColumns = 3
            $0.jobCountsBody = Self.body
            $0.publicationExists = true
        }
        #expect(!done.hasChanges, "\(done.items.filter { $0.action != .none })")
        let older = plan {
            obanMade(&$0)
            $0.statisticsTarget = -1
            $0.snapshotsExists = true
            $0.snapshotKeyColumns = 2
            $0.jobCountsBody = "BEGIN END"
        }
        #expect(older.items.map(\.action).filter { $0 != .none && $0 != .create } == [.retarget, .rekey, .replace])
    }

    /// The body `met_job_counts` has once made by this version, as the catalogs would show it.
    static var body: String {
        let sql = SchemaPlan(prefix: "app", facts: .init()).statements(for: .init(kind: .jobCounts, object: "", action: .create)).sql[0]
        let parts = sql.components(separatedBy: "$fn$")
        return parts[1]
    }
}
