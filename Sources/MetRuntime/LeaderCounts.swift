import Foundation
import Logging
import MetPostgres
import MetStore

/// The leader's Postgres side of `full_count` (docs/full-count.md): keyframes counted under a
/// snapshot, and between them a cumulative delta:
///
/// - `.logical` (where `wal_level = logical`): a temporary replication slot streams every
///   committed change of `oban_jobs`; each transaction the keyframe's snapshot does not see is
///   folded into the delta (``ChangeLog``), the old state of a job looked up by primary key in
///   the keyframe's own REPEATABLE READ transaction, kept open until the next keyframe.
/// - `.snapshots` otherwise: the keyframe's transaction ends at once; the delta is the recount of
///   the jobs above the keyframe's largest id (new jobs, whoever inserted them), under a snapshot
///   the delta carries; replicas add the transitions recorded with transaction ids.
///
/// Used by the reporter thread only; it owns both connections (counts, replication).
package final class LeaderCounts {
    package struct Settings: Sendable {
        package var database: String
        package var prefix = "public"
        package var estimateLimit = 50_000
        /// Connections a keyframe's exact counts are split across, the counts connection
        /// included (``KeyframeCounter``); 1 counts them all on the counts connection.
        package var keyframeConnections = 2
        /// Try logical decoding (false: snapshots only, never a replication slot).
        package var logical = true
        package var deltaMilliseconds = 250
        /// How long the leader holds a keyframe's snapshot open in logical mode.
        package var keyframeMilliseconds = 5_000
        /// At most this long waiting for a new slot (it waits for the instance's running writes).
        package var slotWaitMilliseconds = 2_000
        /// This node (names its Postgres sessions and its slot).
        package var node = "met"
        package var cluster = "met"
        package var incarnation: UInt64 = 0

        package init(database: String) { self.database = database }
    }

    package let settings: Settings
    let logger: Logger
    private var counts: PostgresConnection?
    private var counter: KeyframeCounter?
    /// The helper failure last logged (one line per new reason).
    private var loggedHelperError: String?
    private var stream: ReplicationStream?
    private var decoder: JobChangeStream
    private var log: ChangeLog?
    package private(set) var mode: CountMode = .snapshots
    /// Why the leader counts by snapshots although it was allowed logical decoding.
    package private(set) var fallbackReason: String?
    private var retryLogicalAt: ContinuousClock.Instant?
    /// The wait before the next attempt when a slot could not be created in time (doubles to a minute).
    private var slotRetry = Duration.zero
    private var slots = 0
    /// The keyframe the deltas belong to, and the delta last sent.
    private var keyframe: (term: Int64, number: UInt64, idBound: Int64)?
    private var revision: UInt64 = 0
    private var sent: (groups: [JobGroup: Int64], snapshot: XidSnapshot?, at: ContinuousClock.Instant)?
    private var nextRecount = ContinuousClock.now
    private var confirmedAt = ContinuousClock.now

    package init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        decoder = JobChangeStream(namespace: settings.prefix)
    }

    package var isStreaming: Bool { stream != nil }

    /// Groups each connection counted exactly in the last keyframe (``KeyframeCounter/lastSplit``)
    /// and the helper failures so far, for tests.
    package var keyframeSplit: (groups: [Int], helperFailures: Int) { (counter?.lastSplit ?? [], counter?.helperFailures ?? 0) }

    /// A keyframe should be taken now (a change only a recount explains, or the stream broke).
    package var wantsKeyframe: Bool { recountNow || (log?.needsKeyframe ?? false) }

    /// When a delta not yet sent may go (the throttle), or the next recount is due, for the caller's wait.
    package var nextDue: ContinuousClock.Instant? {
        guard keyframe != nil else { return nil }
        guard stream != nil else { return nextRecount }
        guard let log, let sent, log.delta != sent.groups else { return nil }
        return sent.at + .milliseconds(settings.deltaMilliseconds)
    }

    /// Counts a keyframe. `watermarks` is read just before the count's snapshot is taken.
    package func takeKeyframe(term: Int64, number: UInt64, leader: Origin, watermarks: () -> [Origin: UInt64]) throws(PostgresError) -> CountMessage {
        let conn = try connection()
        recountNow = false
        let marks = watermarks()
        if stream == nil, settings.logical, retryLogicalAt.map({ ContinuousClock.now >= $0 }) ?? true {
            startStream(conn)  // on success the transaction under the slot's exported snapshot is open
        }
        let start: PostgresConnection.CountStart
        if let exported = exportedStart {
            start = exported
            exportedStart = nil
        } else {
            if inTransaction { try conn.endCount() }
            inTransaction = false
            start = try conn.beginCount(prefix: settings.prefix)
            inTransaction = true
        }
        let found = try countJobs(conn)
        if stream == nil {
            try conn.endCount()  // snapshots: nothing is looked up in it later
            inTransaction = false
        }
        guard let snapshot = XidSnapshot(parsing: start.snapshot) else {
            throw PostgresError(.query, message: "unreadable snapshot \(start.snapshot)")
        }
        mode = stream == nil ? .snapshots : .logical
        keyframe = (term, number, start.maxID)
        revision = 0
        sent = nil
        nextRecount = .now + .milliseconds(settings.deltaMilliseconds)
        let k = Keyframe(term: term, number: number, leader: leader, timestamp: Int64(Date().timeIntervalSince1970),
                         counts: found.map { .init(group: JobGroup(state: $0.state, queue: $0.queue), count: $0.count, estimated: $0.estimated) },
                         watermarks: marks, snapshot: snapshot, mode: mode, idBound: start.maxID, note: settings.logical ? fallbackReason : nil)
        guard stream != nil, var log = self.log else { return .keyframe(k, nil) }
        log.rebase(on: snapshot)
        log.fold(atSnapshot: try conn.jobGroups(log.lookupsNeeded(), prefix: settings.prefix))
        self.log = log
        sent = ([:], nil, .now)
        guard !log.delta.isEmpty, let delta = makeDelta(log.delta, snapshot: nil) else { return .keyframe(k, nil) }
        return .keyframe(k, delta)
    }

    /// Between keyframes: reads the stream (waiting up to `milliseconds` for it) or recounts the
    /// new jobs when due; returns a delta when the count changed and the throttle allows.
    package func poll(waitingUpTo milliseconds: Int) throws(PostgresError) -> CountDelta? {
        guard let conn = counts else { return nil }
        if let stream {
            do throws(PostgresError) {
                try drain(stream, waitingUpTo: Int32(max(0, min(milliseconds, 1000))))
                if ContinuousClock.now - confirmedAt > .seconds(1) {
                    try stream.confirm()
                    confirmedAt = .now
                }
            } catch {
                streamFailed(error)
                return nil
            }
            guard var log = self.log, keyframe != nil else { return nil }
            log.fold(atSnapshot: try conn.jobGroups(log.lookupsNeeded(), prefix: settings.prefix))
            self.log = log
            guard let sent, log.delta != sent.groups, ContinuousClock.now >= sent.at + .milliseconds(settings.deltaMilliseconds) else { return nil }
            return makeDelta(log.delta, snapshot: nil)
        }
        guard let keyframe, ContinuousClock.now >= nextRecount else { return nil }
        nextRecount = .now + .milliseconds(settings.deltaMilliseconds)
        let (text, found) = try conn.jobCounts(above: keyframe.idBound, prefix: settings.prefix)
        guard let snapshot = XidSnapshot(parsing: text) else { throw PostgresError(.query, message: "unreadable snapshot \(text)") }
        var groups: [JobGroup: Int64] = [:]
        for c in found { groups[JobGroup(state: c.state, queue: c.queue), default: 0] += c.count }
        // Send when the recount changed, or (so recorded moves of new jobs are judged against a
        // recent snapshot) when the snapshot moved on, at most once a second then.
        let last = sent ?? ([:], nil, .now - .seconds(3600))
        let changed = groups != last.groups || (snapshot != last.snapshot && ContinuousClock.now - last.at >= .seconds(1))
        guard changed else { return nil }
        return makeDelta(groups, snapshot: snapshot)
    }

    /// Leadership is lost (or the node stops): closes both connections. A temporary slot goes
    /// with its session.
    package func stop() {
        stream?.close()
        stream = nil
        log = nil
        counts?.close()
        counts = nil
        counter?.close()
        inTransaction = false
        exportedStart = nil
        keyframe = nil
    }

    // MARK: Logical decoding

    /// The count connection is inside a keyframe's transaction.
    private var inTransaction = false
    /// The transaction opened under a new slot's exported snapshot, for the next keyframe.
    private var exportedStart: PostgresConnection.CountStart?
    /// The stream failed: the next keyframe is due at once.
    private var recountNow = false

    /// Checks the server, creates a temporary slot, opens the keyframe's transaction under the
    /// snapshot the slot exported, then starts streaming. On any failure: snapshots, and a retry
    /// in a minute.
    private func startStream(_ conn: PostgresConnection) {
        do throws(PostgresError) {
            if inTransaction { try conn.endCount() }
            inTransaction = false
            if let why = try conn.logicalDecodingUnavailable(prefix: settings.prefix) { throw PostgresError(.query, message: why) }
            let s = try ReplicationStream(connectionString: settings.database, applicationName: "met \(settings.node) wal")
            slots += 1
            let slot = Self.slotName(cluster: settings.cluster, incarnation: settings.incarnation, number: slots)
            let exported = try s.createTemporarySlot(slot, waitingAtMost: settings.slotWaitMilliseconds)
            let start = try conn.beginCount(prefix: settings.prefix, importing: exported)
            inTransaction = true
            try s.start(slot: slot, publication: JobSchema.publicationName(prefix: settings.prefix))
            guard let snapshot = XidSnapshot(parsing: start.snapshot) else { throw PostgresError(.query, message: "unreadable exported snapshot") }
            stream = s
            exportedStart = start
            decoder = JobChangeStream(namespace: settings.prefix)
            log = ChangeLog(snapshot: snapshot)
            logger.notice("full_count: decoding the changes of \(settings.prefix).oban_jobs through temporary replication slot \(slot) (logical mode)")
            if settings.keyframeMilliseconds > 10_000 {
                logger.warning("full_count: keyframes every \(settings.keyframeMilliseconds / 1000) s: in logical mode the leader holds each keyframe's snapshot open that long, and vacuum's cleanup and CREATE INDEX CONCURRENTLY wait for it; 10 s or less is advised")
            }
            fallbackReason = nil
            retryLogicalAt = nil
            slotRetry = .zero
        } catch {
            var why = error.message.split(separator: "\n").first.map(String.init) ?? error.description
            var retry = Duration.seconds(60)
            if error.sqlState == "55P03" {
                // A transaction running somewhere in the instance: try again soon, then less often.
                why = "a transaction running elsewhere in the Postgres instance kept the replication slot from being created within \(settings.slotWaitMilliseconds) ms"
                slotRetry = min(.seconds(60), max(.milliseconds(settings.keyframeMilliseconds), slotRetry * 2))
                retry = slotRetry
            }
            if why != fallbackReason {
                logger.warning("full_count: logical decoding unavailable (\(why)); counting by snapshots: keyframes, transitions recorded with transaction ids, new jobs by id; trying again in \(retry)")
            }
            fallbackReason = why
            retryLogicalAt = .now + retry
            stream?.close()
            stream = nil
            log = nil
            if inTransaction { _ = try? conn.query("ROLLBACK") }
            inTransaction = false
        }
    }

    private func drain(_ stream: ReplicationStream, waitingUpTo milliseconds: Int32) throws(PostgresError) {
        for message in try stream.read(waitingUpTo: milliseconds) {
            guard case .data(_, let payload) = message else { continue }
            do throws(PgOutputError) {
                if let t = try decoder.feed(try PgOutputMessage.decode(payload)) { log?.add(t) }
            } catch {
                throw PostgresError(.query, message: "\(error)")
            }
        }
    }

    /// The stream failed: a keyframe by snapshots is taken at once (it replaces the logical
    /// keyframe, whose deltas stop here).
    private func streamFailed(_ error: PostgresError) {
        logger.warning("full_count: the replication stream failed (\(error)); counting by snapshots, trying again in a minute")
        fallbackReason = "the replication stream failed: \(error.message)"
        retryLogicalAt = .now + .seconds(60)
        stream?.close()
        stream = nil
        log = nil
        keyframe = nil  // no delta belongs to the logical keyframe any more
        recountNow = true
    }

    private func makeDelta(_ groups: [JobGroup: Int64], snapshot: XidSnapshot?) -> CountDelta? {
        guard let keyframe else { return nil }
        revision += 1
        sent = (groups, snapshot, .now)
        return CountDelta(term: keyframe.term, number: keyframe.number, revision: revision,
                          timestampMs: Int64(Date().timeIntervalSince1970 * 1000), snapshot: snapshot, groups: groups)
    }

    /// The keyframe's counts, split across `keyframeConnections` (the helpers adopt the
    /// snapshot of `conn`'s open transaction); a helper's failure costs time, not exactness.
    private func countJobs(_ conn: PostgresConnection) throws(PostgresError) -> [JobCount] {
        let counter = self.counter ?? KeyframeCounter(database: settings.database, applicationName: "met \(settings.node) counts",
                                                       connections: settings.keyframeConnections)
        self.counter = counter
        let failures = counter.helperFailures
        let found = try counter.count(on: conn, prefix: settings.prefix, estimateLimit: settings.estimateLimit)
        if counter.helperFailures > failures, let error = counter.lastHelperError, error.message != loggedHelperError {
            loggedHelperError = error.message
            logger.warning("full_count: a helper connection of the keyframe's counts failed (\(error)); its groups were counted on the counts connection; it reconnects at the next keyframe")
        } else if counter.helperFailures == failures {
            loggedHelperError = nil
        }
        return found
    }

    private func connection() throws(PostgresError) -> PostgresConnection {
        if let counts { return counts }
        let conn = try PostgresConnection(connectionString: settings.database, applicationName: "met \(settings.node) counts")
        // The keyframe's transaction stays open between keyframes in logical mode: never let
        // the server end it for idling.
        _ = try conn.query("SET idle_in_transaction_session_timeout = 0")
        counts = conn
        return conn
    }

    /// A temporary slot's name: `[a-z0-9_]`, at most 63 bytes, unique per node process and attempt.
    static func slotName(cluster: String, incarnation: UInt64, number: Int) -> String {
        let plain = String(cluster.lowercased().unicodeScalars.prefix(24).map { ("a"..."z").contains($0) || ("0"..."9").contains($0) ? Character($0) : "_" })
        return "met_\(plain)_\(String(incarnation, radix: 36))_\(number)"
    }
}
