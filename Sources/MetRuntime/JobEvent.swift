import Foundation
import MetRecorder
import MetStore

/// One job event posted to `POST /api/events` by a worker in another language (DESIGN §7),
/// validated, ready to be recorded as this node's own.
package enum JobEvent: Sendable, Equatable {
    case start(queue: String, worker: String)
    case stop(queue: String, worker: String, outcome: JobOutcome, execNs: Int64, waitNs: Int64)
    case exception(queue: String, worker: String, outcome: JobOutcome, execNs: Int64, waitNs: Int64)
    case operation(EngineOperation, queue: String, state: JobState?, worker: String?, count: Int64)
    case transition(queue: String, worker: String?, from: JobState, to: JobState, count: Int64)
    /// The state of one of the worker's queues now (Oban's producer): its limit, whether it is
    /// paused, the ids of the jobs it runs, and the producer's uuid and start (unix seconds).
    case queueCheck(queue: String, limit: Int, paused: Bool, running: [Int64], uuid: String?, startedAt: Int64?)

    /// Why a line was refused; the request answers 400 with the line number and this message.
    package struct ParseError: Error, Equatable, CustomStringConvertible {
        package var line: Int
        package var message: String
        package var description: String { "line \(line): \(message)" }
    }

    /// Most lines one request may carry.
    package static let maxLines = 100_000
    /// Longest label value accepted.
    package static let maxLabelBytes = 200

    /// Parses newline-delimited JSON. Every line is checked before anything is recorded, so a
    /// bad line rejects the whole body. Blank lines are skipped.
    package static func parseLines(_ body: some Collection<UInt8>) throws(ParseError) -> [JobEvent] {
        var events: [JobEvent] = []
        var lineNumber = 0
        for line in body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            guard events.count < maxLines else { throw ParseError(line: lineNumber, message: "more than \(maxLines) events in one request") }
            do {
                events.append(try parse(Data(line)))
            } catch {
                throw ParseError(line: lineNumber, message: error.message)
            }
        }
        return events
    }

    struct FieldError: Error { var message: String }

    static func parse(_ json: Data) throws(FieldError) -> JobEvent {
        guard let object = try? JSONSerialization.jsonObject(with: json), let f = object as? [String: Any] else {
            throw FieldError(message: "not a JSON object")
        }
        let known: Set<String> = ["event", "queue", "worker", "state", "old_state", "count", "exec_ns", "wait_ns",
                                  "limit", "paused", "running", "uuid", "started_at"]
        if let unknown = f.keys.sorted().first(where: { !known.contains($0) }) { throw FieldError(message: "unknown field \"\(unknown)\"") }
        func string(_ key: String) throws(FieldError) -> String? {
            guard let raw = f[key], !(raw is NSNull) else { return nil }
            guard let s = raw as? String, !s.isEmpty, s.utf8.count <= maxLabelBytes else {
                throw FieldError(message: "\"\(key)\" must be a non-empty string of at most \(maxLabelBytes) bytes")
            }
            return s
        }
        func required(_ key: String) throws(FieldError) -> String {
            guard let s = try string(key) else { throw FieldError(message: "\"\(key)\" is required") }
            return s
        }
        func integer(_ key: String, min: Int64) throws(FieldError) -> Int64? {
            guard let raw = f[key], !(raw is NSNull) else { return nil }
            guard let n = JSONNumbers.number(raw), let v = Int64(exactly: n.doubleValue), v >= min else {
                throw FieldError(message: "\"\(key)\" must be an integer ≥ \(min)")
            }
            return v
        }
        func state(_ key: String) throws(FieldError) -> JobState? {
            guard let s = try string(key) else { return nil }
            guard let st = JobState(rawValue: s) else {
                throw FieldError(message: "\"\(key)\" \"\(s)\" is not a job state (\(JobState.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return st
        }
        func outcome() throws(FieldError) -> JobOutcome {
            let s = try required("state")
            switch s {
            case "completed": return .completed
            case "retryable": return .retryable
            case "discarded": return .discarded
            case "cancelled": return .cancelled
            case "scheduled", "snoozed": return .snoozed
            default: throw FieldError(message: "\"state\" \"\(s)\" is not an end state (completed, retryable, discarded, cancelled, scheduled)")
            }
        }
        let event = try required("event")
        let queue = try required("queue")
        let count = try integer("count", min: 1) ?? 1
        switch event {
        case "job_start":
            return .start(queue: queue, worker: try required("worker"))
        case "job_stop", "job_exception":
            let worker = try required("worker")
            let o = try outcome()
            let exec = try integer("exec_ns", min: 0) ?? 0
            let wait = try integer("wait_ns", min: 0) ?? 0
            return event == "job_stop"
                ? .stop(queue: queue, worker: worker, outcome: o, execNs: exec, waitNs: wait)
                : .exception(queue: queue, worker: worker, outcome: o, execNs: exec, waitNs: wait)
        case "queue_check":
            return try queueCheck(f, queue: queue, string: string, integer: integer)
        case "transition":
            guard let to = try state("state") else { throw FieldError(message: "\"state\" is required") }
            guard let from = try state("old_state") else { throw FieldError(message: "\"old_state\" is required") }
            return .transition(queue: queue, worker: try string("worker"), from: from, to: to, count: count)
        default:
            guard let op = EngineOperation(rawValue: event) else {
                throw FieldError(message: "unknown event \"\(event)\" (job_start, job_stop, job_exception, inserted, fetched, staged, pruned, rescued, transition, queue_check)")
            }
            return .operation(op, queue: queue, state: try state("state"), worker: try string("worker"), count: count)
        }
    }

    /// The series and label sets recording this event on node `node` touches (see
    /// `RecordedLabels.swift`), so that a request's new label sets can be counted before any
    /// of it is recorded.
    package func seriesLabels(node: String) -> [(series: String, labels: LabelSet)] {
        switch self {
        case .start(let queue, let worker):
            return [("executing", NodeRecorder.levelLabels(node: node, queue: queue, worker: worker))]
        case .stop(let queue, let worker, let outcome, _, _), .exception(let queue, let worker, let outcome, _, _):
            let labels = NodeRecorder.executionLabels(node: node, queue: queue, worker: worker, outcome: outcome)
            return NodeRecorder.executionSeries.map { ($0, labels) }
                + [("executing", NodeRecorder.levelLabels(node: node, queue: queue, worker: worker))]
        case .operation(let op, let queue, let state, let worker, _):
            return [(op.rawValue, NodeRecorder.operationLabels(node: node, queue: queue, state: state, worker: worker))]
        case .transition(let queue, let worker, let from, let to, _):
            return [("transitions", NodeRecorder.transitionLabels(node: node, queue: queue, worker: worker, from: from, to: to))]
        case .queueCheck:
            return []  // checks are not series: the latest per queue is kept for `retention` seconds
        }
    }

    /// A `queue_check` line: `limit` (required), `paused` (default false), `running` (job ids,
    /// default none), `uuid`, `started_at` (unix seconds or an ISO 8601 time).
    static func queueCheck(_ f: [String: Any], queue: String, string: (String) throws(FieldError) -> String?,
                           integer: (String, Int64) throws(FieldError) -> Int64?) throws(FieldError) -> JobEvent {
        guard let limit = try integer("limit", 0), limit <= Int64(Int32.max) else {
            throw FieldError(message: "\"limit\" is required: an integer ≥ 0")
        }
        var paused = false
        if let raw = f["paused"], !(raw is NSNull) {
            guard JSONNumbers.isBool(raw), let b = raw as? Bool else { throw FieldError(message: "\"paused\" must be true or false") }
            paused = b
        }
        var running: [Int64] = []
        if let raw = f["running"], !(raw is NSNull) {
            guard let list = raw as? [Any], list.count <= 100_000 else {
                throw FieldError(message: "\"running\" must be an array of job ids")
            }
            for item in list {
                guard !JSONNumbers.isBool(item), let n = JSONNumbers.number(item), let id = Int64(exactly: n.doubleValue) else {
                    throw FieldError(message: "\"running\" must be an array of job ids (integers)")
                }
                running.append(id)
            }
        }
        var startedAt: Int64?
        if let raw = f["started_at"], !(raw is NSNull) {
            if let text = raw as? String {
                // A formatter per line: queue checks are a few a second, and formatters are not shared across threads.
                let fractional = ISO8601DateFormatter()
                fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                guard let date = fractional.date(from: text) ?? ISO8601DateFormatter().date(from: text) else {
                    throw FieldError(message: "\"started_at\" must be unix seconds or an ISO 8601 time, not \"\(text)\"")
                }
                startedAt = Int64(date.timeIntervalSince1970)
            } else {
                startedAt = try integer("started_at", 0)
            }
        }
        return .queueCheck(queue: queue, limit: Int(limit), paused: paused, running: running, uuid: try string("uuid"), startedAt: startedAt)
    }

    /// Records the event into `recorder`.
    package func record(into recorder: NodeRecorder) {
        switch self {
        case .start(let queue, let worker):
            recorder.jobStart(queue: queue, worker: worker)
        case .stop(let queue, let worker, let outcome, let execNs, let waitNs):
            recorder.jobStop(queue: queue, worker: worker, outcome: outcome, execNs: execNs, waitNs: waitNs)
        case .exception(let queue, let worker, let outcome, let execNs, let waitNs):
            recorder.jobException(queue: queue, worker: worker, outcome: outcome, execNs: execNs, waitNs: waitNs)
        case .operation(let op, let queue, let state, let worker, let count):
            recorder.record(op, queue: queue, state: state, worker: worker, count: count)
        case .transition(let queue, let worker, let from, let to, let count):
            recorder.transition(queue: queue, worker: worker, from: from, to: to, count: count)
        case .queueCheck(let queue, let limit, let paused, let running, let uuid, let startedAt):
            recorder.queueCheck(queue: queue, limit: limit, paused: paused, running: running, timestamp: NodeRecorder.wallClockSecond(),
                                uuid: uuid, startedAt: startedAt)
        }
    }
}

