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

    /// Moves go ahead of their batch each delta interval: each once, numbered after the last
    /// batch taken, and the batch still carries all of them.
    @Test func movesGoAheadOfTheirBatchOnceAndTheBatchStillCarriesThem() throws {
        let origin = Origin(node: "n1", incarnation: 7)
        let recorder = NodeRecorder(origin: origin)
        #expect(recorder.takeMovesAhead() == nil, "nothing recorded: nothing to send")
        _ = recorder.takeBatch(timestamp: testNow)  // batch 1
        recorder.jobMoved(10, queue: "q", from: .available, to: .executing, xid: 500)
        let first = try #require(recorder.takeMovesAhead())
        #expect(first == MovesAhead(origin: origin, afterSeq: 1, moves: [RecordedMove(xid: 500, job: 10, queue: "q", from: .available, to: .executing)]))
        #expect(recorder.takeMovesAhead() == nil, "each move ahead once")
        recorder.jobMoved(11, queue: "q", from: .executing, to: .completed, xid: 501)
        #expect(try #require(recorder.takeMovesAhead()).moves.map(\.job) == [11])
        let batch = recorder.takeBatch(timestamp: testNow + 1)
        #expect(batch.seq == 2 && batch.moves.map(\.job) == [10, 11], "batch afterSeq + 1 carries every move sent ahead")
        recorder.jobMoved(12, queue: "q", from: nil, to: .available, xid: 502)
        #expect(try #require(recorder.takeMovesAhead()) == MovesAhead(origin: origin, afterSeq: 2, moves: [RecordedMove(xid: 502, job: 12, queue: "q", from: nil, to: .available)]))
    }
}
