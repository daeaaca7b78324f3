import MetRecorder
import MetStore

/// The leader's `full_count` gauges: set every broadcast tick to the counts it serves, so that
/// every replica gets the series' history with the leader's batches. Groups that vanished are
/// set to 0, and everything is zeroed when the node stops leading, so a former leader's levels
/// never add to the new leader's.
struct FullCountHistory {
    private var written: Set<JobGroup> = []

    mutating func write(_ counts: [JobGroup: Int64]?, into recorder: NodeRecorder) {
        let now = counts ?? [:]
        for group in written where now[group] == nil {
            gauge(group, recorder).set(0)
        }
        for (group, value) in now { gauge(group, recorder).set(Double(value)) }
        written = Set(now.keys)
    }

    private func gauge(_ group: JobGroup, _ recorder: NodeRecorder) -> GaugeInstrument {
        recorder.gauge("full_count", labels: LabelSet([("queue", group.queue), ("state", group.state)]))
    }
}
