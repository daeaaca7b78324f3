import Foundation
import Logging
import MetPostgres
import MetRuntime
import MetStore
import Testing

/// The suite's Postgres (started by `scripts/test`).
let testDatabaseURL = ProcessInfo.processInfo.environment["MET_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }

/// The boundary of a keyframe against a real Postgres (docs/full-count.md): transactions that
/// commit before, during and after a keyframe's count, really interleaved with it on other
/// connections, counted exactly once in `full_count` however their batches fall — by snapshots
/// (moves recorded with transaction ids) and by logical decoding (the leader's own stream).
@Suite(
    .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["MET_SKIP_POSTGRES"] != "1", "MET_SKIP_POSTGRES=1 skips the tests that need Postgres"),
    .enabled(if: testDatabaseURL != nil, "MET_TEST_DATABASE_URL is not set: run scripts/test")
)
struct FullCountPostgresTests {
    static var url: String? { testDatabaseURL }
    let prefix = "fc_\(UInt32.random(in: 0...UInt32.max))"
    let conn: PostgresConnection
    var table: String { "\(JobSchema.identifier(prefix)).oban_jobs" }
    let worker = Origin(node: "w", incarnation: 1)

    init() throws {
        conn = try PostgresConnection(connectionString: try #require(Self.url))
        try conn.applySchema(prefix: prefix)
        _ = try conn.query("INSERT INTO \(table) (queue, worker) SELECT 'q', 'W' FROM generate_series(1, 20)")
    }

    func drop() {
        _ = try? conn.query("DROP SCHEMA \(JobSchema.identifier(prefix)) CASCADE")
        _ = try? conn.query("DROP PUBLICATION IF EXISTS \(JobSchema.identifier(JobSchema.publicationName(prefix: prefix)))")
    }

    func connect() throws -> PostgresConnection { try PostgresConnection(connectionString: try #require(Self.url)) }

    /// Moves job `id` to `state` inside the open transaction of `c`; the transaction's id.
    func move(_ id: Int64, to state: JobState, on c: PostgresConnection) throws -> RecordedMove {
        let rows = try c.query("""
            UPDATE \(table) j SET state = $2::\(JobSchema.identifier(prefix)).oban_job_state FROM (SELECT state AS old FROM \(table) WHERE id = $1 FOR UPDATE) o
            WHERE j.id = $1 RETURNING o.old::text, pg_current_xact_id()::text
            """, [String(id), state.rawValue])
        let row = try #require(rows.rows.first)
        return RecordedMove(xid: try #require(row[1].flatMap { UInt64($0) }), job: id, queue: "q",
                       from: JobState(rawValue: try #require(row[0])), to: state)
    }

    /// One committed transaction moving `id`.
    func moveNow(_ id: Int64, to state: JobState) throws -> RecordedMove {
        let c = try connect()
        _ = try c.query("BEGIN")
        let m = try move(id, to: state, on: c)
        _ = try c.query("COMMIT")
        return m
    }

    func exact() throws -> [JobGroup: Int64] {
        var out: [JobGroup: Int64] = [:]
        for c in try conn.exactJobCounts(prefix: prefix) { out[JobGroup(state: c.state, queue: c.queue)] = c.count }
        return out
    }

    @Test func movesCommittedBeforeDuringAndAfterACountAreCountedOnce() throws {
        defer { drop() }
        let (early, inFlight, late) = (try connect(), try connect(), try connect())
        let leader = try connect()
        var moves: [RecordedMove] = []
        moves.append(try moveNow(1, to: .executing))  // long before the count
        _ = try inFlight.query("BEGIN")
        moves.append(try move(2, to: .executing, on: inFlight))  // in progress as the count starts
        _ = try early.query("BEGIN")
        moves.append(try move(3, to: .executing, on: early))
        _ = try early.query("COMMIT")  // just before the count
        let start = try leader.beginCount(prefix: prefix)
        _ = try inFlight.query("COMMIT")  // during the count
        moves.append(try moveNow(4, to: .executing))  // begun and committed during the count
        moves.append(try moveNow(1, to: .completed))  // job 1 again, during the count
        let counted = try leader.jobCounts(prefix: prefix, estimateLimit: 50_000)
        try leader.endCount()
        _ = try late.query("BEGIN")
        moves.append(try move(3, to: .completed, on: late))
        _ = try late.query("COMMIT")  // after the count
        moves.append(try moveNow(5, to: .cancelled))

        let snapshot = try #require(XidSnapshot(parsing: start.snapshot))
        #expect(snapshot.sees(moves[0].xid) && snapshot.sees(moves[2].xid), "committed before the count: in it")
        #expect(!snapshot.sees(moves[1].xid) && !snapshot.sees(moves[3].xid) && !snapshot.sees(moves[5].xid), "committed during or after: not in it")
        #expect(counted.first { $0.state == "executing" }?.count == 2, "the count sees jobs 1 and 3 executing")
        let truth = try exact()
        // Every split of the moves into batches before and after the keyframe's watermark, each
        // reaching the replica before or after the keyframe.
        for placement in 0..<(1 << moves.count) {
            for keyframeFirst in [false, true] {
                var full = FullCounts()
                let k = Keyframe(term: 1, number: 1, leader: Origin(node: "l", incarnation: 1), timestamp: 0,
                                 counts: counted.map { .init(group: JobGroup(state: $0.state, queue: $0.queue), count: $0.count, estimated: false) },
                                 watermarks: [worker: 1], snapshot: snapshot, idBound: start.maxID)
                if keyframeFirst { full.apply(k) }
                let atWatermark = moves.indices.filter { placement & (1 << $0) == 0 }.map { moves[$0] }
                let after = moves.indices.filter { placement & (1 << $0) != 0 }.map { moves[$0] }
                full.record(DeltaBatch(origin: worker, seq: 1, timestamp: 0, entries: entries(atWatermark), moves: atWatermark))
                full.record(DeltaBatch(origin: worker, seq: 2, timestamp: 0, entries: entries(after), moves: after))
                if !keyframeFirst { full.apply(k) }
                #expect(full.current()!.filter { $0.value != 0 } == truth, "placement \(placement), keyframe \(keyframeFirst ? "first" : "last")")
            }
        }
    }

    /// A batch's transitions entries for its moves (what a recorder puts beside them).
    func entries(_ moves: [RecordedMove]) -> [DeltaBatch.Entry] {
        moves.map { m in
            .init(series: "transitions", labels: LabelSet(["node": worker.node, "queue": m.queue, "state": m.to!.rawValue, "old_state": m.from!.rawValue]),
                  value: .count(1))
        }
    }

    @Test func theLeadersStreamCountsEveryChangeOnceAcrossKeyframes() throws {
        defer { drop() }
        let level = try conn.query("SHOW wal_level").rows.first?.first ?? nil
        try #require(level == "logical", "scripts/test runs Postgres with wal_level = logical; this database has \(level ?? "?")")
        var settings = LeaderCounts.Settings(database: try #require(Self.url))
        settings.prefix = prefix
        settings.deltaMilliseconds = 0
        settings.keyframeMilliseconds = 500  // the retry after a slot that could not be made in time
        settings.cluster = "fc"
        settings.incarnation = UInt64.random(in: 1...UInt64(UInt32.max))
        let leader = LeaderCounts(settings: settings, logger: Logger(label: "test"))
        defer { leader.stop() }
        var full = FullCounts()
        func apply(_ m: CountMessage) {
            switch m {
            case .keyframe(let k, let d):
                full.apply(k)
                if let d { full.apply(d) }
            case .delta(let d): full.apply(d)
            }
        }
        /// Reads the stream until the served count equals GROUP BY (or 30 s pass: a deadline
        /// for a hang, generous for a Postgres shared with the whole suite on a loaded machine).
        func converge(_ what: String) throws {
            let truth = try exact()
            let deadline = ContinuousClock.now + .seconds(30)
            while full.current()!.filter({ $0.value != 0 }) != truth, ContinuousClock.now < deadline {
                if let d = try leader.poll(waitingUpTo: 50) { apply(.delta(d)) }
            }
            #expect(full.current()!.filter { $0.value != 0 } == truth, "\(what)")
        }
        // A slot waits for the writes running in the whole instance (other tests'): until it is
        // made, keyframes count by snapshots and the next keyframe tries again.
        var number: UInt64 = 0
        let deadline = ContinuousClock.now + .seconds(60)
        repeat {
            if number > 0 { Thread.sleep(forTimeInterval: 0.5) }
            number += 1
            apply(try leader.takeKeyframe(term: 1, number: number, leader: worker) { [:] })
        } while leader.mode != .logical && ContinuousClock.now < deadline
        #expect(leader.mode == .logical, "\(leader.fallbackReason ?? "")")
        #expect(full.keyframe?.mode == .logical)
        // Plain SQL, as another application would: inserts, moves, deletes, one job moved twice.
        _ = try conn.query("INSERT INTO \(table) (queue, worker, state) SELECT 'other', 'W', 'scheduled' FROM generate_series(1, 7)")
        _ = try conn.query("UPDATE \(table) SET state = 'completed' WHERE id <= 6")
        _ = try conn.query("UPDATE \(table) SET state = 'discarded' WHERE id = 2")
        _ = try conn.query("DELETE FROM \(table) WHERE id IN (3, 10)")
        _ = try conn.query("UPDATE \(table) SET queue = 'moved' WHERE id = 11")
        _ = try conn.query("UPDATE \(table) SET priority = 1 WHERE id = 12")  // no state change
        try converge("after plain SQL")
        // A transaction in progress while the next keyframe counts, one committed just before it
        // (still unread in the stream when the count starts), one after.
        let inFlight = try connect()
        _ = try inFlight.query("BEGIN")
        _ = try move(13, to: .executing, on: inFlight)
        _ = try moveNow(14, to: .retryable)
        _ = try conn.query("INSERT INTO \(table) (queue, worker) SELECT 'q', 'W' FROM generate_series(1, 3)")
        apply(try leader.takeKeyframe(term: 1, number: number + 1, leader: worker) { [:] })
        _ = try inFlight.query("COMMIT")
        _ = try moveNow(13, to: .completed)
        _ = try conn.query("INSERT INTO \(table) (queue, worker) VALUES ('q', 'W')")
        try converge("across the second keyframe")
        #expect(full.keyframe?.number == number + 1)
        // That keyframe's exact counts were split across the default 2 connections, the helper
        // under the snapshot the counts connection imported from the slot.
        #expect(leader.keyframeSplit.groups.count == 2 && leader.keyframeSplit.groups.allSatisfy { $0 > 0 } && leader.keyframeSplit.helperFailures == 0,
                "\(leader.keyframeSplit)")
        // A new term (a failover in one process): its first keyframe stands alone, then deltas follow.
        apply(try leader.takeKeyframe(term: 2, number: 1, leader: worker) { [:] })
        _ = try conn.query("DELETE FROM \(table) WHERE state = 'completed'")
        try converge("in the new term")
    }
}
