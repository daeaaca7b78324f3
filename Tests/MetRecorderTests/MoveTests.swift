import MetRecorder
import MetStore
import MetValues
import Testing

/// Job moves recorded with their transaction ids: each travels with its batch, and the batch's
/// entries hold it as a transition, `inserted` or `pruned` count like any other.
@Suite struct MoveTests {
    @Test func movesTravelWithTheirEntriesInTheSameBatch() {
        let recorder = NodeRecorder(origin: Origin(node: "n1", incarnation: 7))
        recorder.jobMoved(10, queue: "q", worker: "W", from: .available, to: .executing, xid: 500)
        recorder.jobMoved(11, queue: "q", worker: "W", from: .available, to: .executing, xid: 501)
        recorder.jobMoved(12, queue: "q", from: nil, to: .scheduled, xid: 502)
        recorder.jobMoved(13, queue: "q", from: .completed, to: nil, xid: 503)
        recorder.jobMoved(14, queue: "q", from: .completed, to: .completed, xid: 504)  // no move: ignored
        let batch = recorder.takeBatch(timestamp: testNow)
        #expect(batch.moves.map(\.job) == [10, 11, 12, 13])
        #expect(batch.moves.map(\.xid) == [500, 501, 502, 503])
        func count(_ series: String, _ labels: [String: String]) -> Int64? {
            batch.entries.first { $0.series == series && $0.labels == LabelSet(labels) }.flatMap {
                if case .count(let n) = $0.value { return n } else { return nil }
            }
        }
        #expect(count("transitions", ["node": "n1", "queue": "q", "state": "executing", "old_state": "available", "worker": "W"]) == 2)
        #expect(count("inserted", ["node": "n1", "queue": "q", "state": "scheduled"]) == 1)
        #expect(count("pruned", ["node": "n1", "queue": "q", "state": "completed"]) == 1)
        #expect(FullCounts.deltas(of: batch) == [JobGroup(state: "available", queue: "q"): -2, JobGroup(state: "executing", queue: "q"): 2,
                                                  JobGroup(state: "scheduled", queue: "q"): 1, JobGroup(state: "completed", queue: "q"): -1])
        #expect(recorder.takeBatch(timestamp: testNow + 1).moves.isEmpty, "each move once")
    }
}
