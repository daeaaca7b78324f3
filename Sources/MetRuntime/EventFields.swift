import MetRecorder
import MetStore

/// The fields a `POST /api/events` line may carry.
package enum EventKey: Int, CaseIterable, Sendable {
    case event, queue, worker, state, oldState, count, execNs, waitNs, limit, paused, running, uuid, startedAt

    /// The key as written in JSON.
    package var name: String {
        switch self {
        case .event: "event"
        case .queue: "queue"
        case .worker: "worker"
        case .state: "state"
        case .oldState: "old_state"
        case .count: "count"
        case .execNs: "exec_ns"
        case .waitNs: "wait_ns"
        case .limit: "limit"
        case .paused: "paused"
        case .running: "running"
        case .uuid: "uuid"
        case .startedAt: "started_at"
        }
    }

    /// The key of a JSON name, compared as Swift compares strings.
    package init?(name: String) {
        guard let k = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = k
    }
}

/// A `running` value: job ids, or why it is not a list of them.
package enum JobIDList: Sendable, Equatable {
    case ids([Int64])
    /// Not an array, or longer than ``JobEvent/maxRunning``.
    case notAList
    /// An item is not a number with an exact 64-bit integer value.
    case notIntegers
}

/// One parsed JSON object of an events line, as the validation reads it. Two readers implement
/// it: ``EventLineReader`` (the one requests use) and Foundation's `JSONSerialization` (the
/// reference the tests and the benchmark compare it with); ``JobEvent/make(from:)`` validates
/// either the same way, so both give the same events and the same messages.
package protocol EventFields {
    /// The smallest key (in Swift's string order) that is not an ``EventKey``, if any.
    var firstUnknownKey: String? { get }
    /// True when the key is present with a value other than `null`.
    func isPresent(_ key: EventKey) -> Bool
    /// The value when it is a JSON string.
    func string(_ key: EventKey) -> String?
    /// The value when it is a number (not a boolean) whose double value is an exact `Int64`.
    func integer(_ key: EventKey) -> Int64?
    /// The value when it is `true` or `false`.
    func bool(_ key: EventKey) -> Bool?
    /// The value read as a list of job ids.
    func jobIDs(_ key: EventKey) -> JobIDList
}

extension JobEvent {
    /// Most job ids one `queue_check` line may list.
    package static let maxRunning = 100_000

    /// Validates one line's fields and builds its event; the messages are the contract's.
    static func make(from f: some EventFields) throws(FieldError) -> JobEvent {
        if let unknown = f.firstUnknownKey { throw FieldError(message: "unknown field \"\(unknown)\"") }
        func string(_ key: EventKey) throws(FieldError) -> String? {
            guard f.isPresent(key) else { return nil }
            guard let s = f.string(key), !s.isEmpty, s.utf8.count <= maxLabelBytes else {
                throw FieldError(message: "\"\(key.name)\" must be a non-empty string of at most \(maxLabelBytes) bytes")
            }
            return s
        }
        func required(_ key: EventKey) throws(FieldError) -> String {
            guard let s = try string(key) else { throw FieldError(message: "\"\(key.name)\" is required") }
            return s
        }
        func integer(_ key: EventKey, min: Int64) throws(FieldError) -> Int64? {
            guard f.isPresent(key) else { return nil }
            guard let v = f.integer(key), v >= min else {
                throw FieldError(message: "\"\(key.name)\" must be an integer ≥ \(min)")
            }
            return v
        }
        func state(_ key: EventKey) throws(FieldError) -> JobState? {
            guard let s = try string(key) else { return nil }
            guard let st = JobState(rawValue: s) else {
                throw FieldError(message: "\"\(key.name)\" \"\(s)\" is not a job state (\(JobState.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return st
        }
        func outcome() throws(FieldError) -> JobOutcome {
            let s = try required(.state)
            switch s {
            case "completed": return .completed
            case "retryable": return .retryable
            case "discarded": return .discarded
            case "cancelled": return .cancelled
            case "scheduled", "snoozed": return .snoozed
            default: throw FieldError(message: "\"state\" \"\(s)\" is not an end state (completed, retryable, discarded, cancelled, scheduled)")
            }
        }
        let event = try required(.event)
        let queue = try required(.queue)
        let count = try integer(.count, min: 1) ?? 1
        switch event {
        case "job_start":
            return .start(queue: queue, worker: try required(.worker))
        case "job_stop", "job_exception":
            let worker = try required(.worker)
            let o = try outcome()
            let exec = try integer(.execNs, min: 0) ?? 0
            let wait = try integer(.waitNs, min: 0) ?? 0
            return event == "job_stop"
                ? .stop(queue: queue, worker: worker, outcome: o, execNs: exec, waitNs: wait)
                : .exception(queue: queue, worker: worker, outcome: o, execNs: exec, waitNs: wait)
        case "queue_check":
            return try queueCheck(f, queue: queue, string: string, integer: integer)
        case "transition":
            guard let to = try state(.state) else { throw FieldError(message: "\"state\" is required") }
            guard let from = try state(.oldState) else { throw FieldError(message: "\"old_state\" is required") }
            return .transition(queue: queue, worker: try string(.worker), from: from, to: to, count: count)
        default:
            guard let op = EngineOperation(rawValue: event) else {
                throw FieldError(message: "unknown event \"\(event)\" (job_start, job_stop, job_exception, inserted, fetched, staged, pruned, rescued, transition, queue_check)")
            }
            return .operation(op, queue: queue, state: try state(.state), worker: try string(.worker), count: count)
        }
    }

    /// A `queue_check` line: `limit` (required), `paused` (default false), `running` (job ids,
    /// default none), `uuid`, `started_at` (unix seconds or an ISO 8601 time).
    static func queueCheck(_ f: some EventFields, queue: String, string: (EventKey) throws(FieldError) -> String?,
                           integer: (EventKey, Int64) throws(FieldError) -> Int64?) throws(FieldError) -> JobEvent {
        guard let limit = try integer(.limit, 0), limit <= Int64(Int32.max) else {
            throw FieldError(message: "\"limit\" is required: an integer ≥ 0")
        }
        var paused = false
        if f.isPresent(.paused) {
            guard let b = f.bool(.paused) else { throw FieldError(message: "\"paused\" must be true or false") }
            paused = b
        }
        var running: [Int64] = []
        if f.isPresent(.running) {
            switch f.jobIDs(.running) {
            case .ids(let ids): running = ids
            case .notAList: throw FieldError(message: "\"running\" must be an array of job ids")
            case .notIntegers: throw FieldError(message: "\"running\" must be an array of job ids (integers)")
            }
        }
        var startedAt: Int64?
        if f.isPresent(.startedAt) {
            if let text = f.string(.startedAt) {
                guard let seconds = ISOTime.unixSeconds(text) else {
                    throw FieldError(message: "\"started_at\" must be unix seconds or an ISO 8601 time, not \"\(text)\"")
                }
                startedAt = seconds
            } else {
                startedAt = try integer(.startedAt, 0)
            }
        }
        return .queueCheck(queue: queue, limit: Int(limit), paused: paused, running: running, uuid: try string(.uuid), startedAt: startedAt)
    }
}
