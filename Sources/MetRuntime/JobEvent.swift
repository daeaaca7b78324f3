import MetRecorder
import MetStore

/// One job event posted to `POST /api/events` by a worker in another language (DESIGN §7),
/// validated, ready to be recorded as this node's own.
package enum JobEvent: Sendable, Hashable {
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

    struct FieldError: Error { var message: String }

    /// The series and label sets recording `events` touches, each once: events that differ
    /// only in their numbers are looked at once, so a request of 10,000 lines of a few queues and
    /// workers costs a few label sets, not 10,000 (the edge check runs under the store's lock).
    package static func seriesLabels(of events: [JobEvent], node: String) -> [(series: String, labels: LabelSet)] {
        var seen = Set<JobEvent>()
        var out: [(series: String, labels: LabelSet)] = []
        for e in events where seen.insert(e.labelIdentity).inserted {
            out += e.seriesLabels(node: node)
        }
        return out
    }

    /// The event with its numbers dropped: two events with the same identity touch the same
    /// label sets.
    var labelIdentity: JobEvent {
        switch self {
        case .start: self
        case .stop(let q, let w, let o, _, _), .exception(let q, let w, let o, _, _): .stop(queue: q, worker: w, outcome: o, execNs: 0, waitNs: 0)
        case .operation(let op, let q, let s, let w, _): .operation(op, queue: q, state: s, worker: w, count: 1)
        case .transition(let q, let w, let f, let t, _): .transition(queue: q, worker: w, from: f, to: t, count: 1)
        case .queueCheck(let q, _, _, _, _, _): .queueCheck(queue: q, limit: 0, paused: false, running: [], uuid: nil, startedAt: nil)
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

    /// Records a request's events into `recorder`. The stops of a queue and worker the request
    /// does not also start go in bulk (``NodeRecorder/recordStops(_:)``): no handle is made for
    /// them, so a burst of new queue names costs the recorder nothing once batched.
    package static func record(_ events: [JobEvent], into recorder: NodeRecorder) {
        var started = Set<NodeRecorder.HandleKey>()
        for case .start(let queue, let worker) in events { started.insert(.init(queue: queue, worker: worker)) }
        var stops: [PostedStop] = []
        for event in events {
            switch event {
            case .stop(let queue, let worker, let outcome, let execNs, let waitNs),
                 .exception(let queue, let worker, let outcome, let execNs, let waitNs):
                if !started.contains(.init(queue: queue, worker: worker)) {
                    stops.append(PostedStop(queue: queue, worker: worker, outcome: outcome, execNs: execNs, waitNs: waitNs))
                } else {
                    event.record(into: recorder)
                }
            default:
                event.record(into: recorder)
            }
        }
        recorder.recordStops(stops)
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
            recorder.queueCheck(queue: queue, limit: limit, paused: paused, running: running, timestamp: recorder.clock.second(),
                                uuid: uuid, startedAt: startedAt)
        }
    }
}

