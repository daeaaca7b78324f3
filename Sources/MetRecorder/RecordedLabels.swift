import MetStore

/// The label sets the recorder gives each kind of event (docs/recorder.md), in one place, so
/// that the edge can tell which label sets a request would add before recording any of it.
extension NodeRecorder {
    /// An engine operation's count: node, queue, and state and worker where known.
    package static func operationLabels(node: String, queue: String, state: JobState?, worker: String?) -> LabelSet {
        var pairs = [("node", node), ("queue", queue)]
        if let state { pairs.append(("state", state.rawValue)) }
        if let worker { pairs.append(("worker", worker)) }
        return LabelSet(pairs)
    }

    /// A transition's count: node, queue, the new state and the old one, and the worker if given.
    package static func transitionLabels(node: String, queue: String, worker: String?, from old: JobState, to new: JobState) -> LabelSet {
        var pairs = [("node", node), ("queue", queue), ("state", new.rawValue), ("old_state", old.rawValue)]
        if let worker { pairs.append(("worker", worker)) }
        return LabelSet(pairs)
    }

    /// `exec_time`, `wait_time` and `exec_count` of an execution that ended in `outcome`.
    package static func executionLabels(node: String, queue: String, worker: String, outcome: JobOutcome) -> LabelSet {
        LabelSet(["node": node, "queue": queue, "worker": worker, "state": outcome.state.rawValue])
    }

    /// The `executing` level of a queue and worker.
    package static func levelLabels(node: String, queue: String, worker: String) -> LabelSet {
        LabelSet(["node": node, "queue": queue, "worker": worker])
    }

    /// The series a job's execution is recorded in (besides the `executing` level).
    package static let executionSeries = ["exec_time", "wait_time", "exec_count"]
}
