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
        let known: Set<String> = ["event", "queue", "worker", "state", "old_state", "count", "exec_ns", "wait_ns"]
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
        case "transition":
            guard let to = try state("state") else { throw FieldError(message: "\"state\" is required") }
            guard let from = try state("old_state") else { throw FieldError(message: "\"old_state\" is required") }
            return .transition(queue: queue, worker: try string("worker"), from: from, to: to, count: count)
        default:
            guard let op = EngineOperation(rawValue: event) else {
                throw FieldError(message: "unknown event \"\(event)\" (job_start, job_stop, job_exception, inserted, fetched, staged, pruned, rescued, transition)")
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
        }
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
        }
    }
}
