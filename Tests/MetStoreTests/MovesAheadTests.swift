import MetStore
import Testing

/// Moves sent ahead of their batch (``MovesAhead``, docs/full-count.md): they count from the
/// moment they arrive, by the same rule as the batch's moves, and exactly once whichever of
/// the two comes first, whether a keyframe falls between them, and whether the batch ever comes.
@Suite struct MovesAheadTests {
    let leader = Origin(node: "leader", incarnation: 1)
    let worker = Origin(node: "worker", incarnation: 7)
    /// Transactions below 100 and 101, 102, 104... finished when the count ran; 103 was running.
    let snapshot = XidSnapshot(xmin: 100, xmax: 110, inProgress: [103])!

    func group(_ state: JobState) -> JobGroup { JobGroup(state: state.rawValue, queue: "q") }

    /// 10 jobs available, plus the moves the snapshot sees; the worker's watermark at `mark`.
    func keyframe(_ number: UInt64, seeing moves: [RecordedMove], mark: UInt64) -> Keyframe {
        var counts: [JobGroup: Int64] = [group(.available): 10]
        for m in moves where snapshot.sees(m.xid) { m.add(to: &counts) }
        return Keyframe(term: 1, number: number, leader: leader, timestamp: 1000,
                        counts: counts.map { .init(group: $0.key, count: $0.value, estimated: false) },
                        watermarks: [worker: mark], snapshot: snapshot, mode: .snapshots, idBound: 1_000)
    }

    func batch(_ seq: UInt64, _ moves: [RecordedMove]) -> DeltaBatch {
        let entries = moves.map { m in
            DeltaBatch.Entry(series: "transitions", labels: LabelSet(["node": worker.node, "queue": m.queue, "state": m.to!.rawValue,
                                                                      "old_state": m.from!.rawValue]), value: .count(1))
        }
        return DeltaBatch(origin: worker, seq: seq, timestamp: 1000, entries: entries, moves: moves)
    }

    func served(_ full: FullCounts) -> [JobGroup: Int64] { full.current()!.filter { $0.value != 0 } }

    enum Step: CaseIterable { case ahead, batch, keyframe }

    /// Every order of the three arrivals, for a move committed before, during and after the count.
    @Test(arguments: [42, 103, 113] as [UInt64])
    func aMoveSentAheadCountsOnceInEveryOrder(xid: UInt64) {
        let move = RecordedMove(xid: xid, job: 5, queue: "q", from: .available, to: .executing)
        let truth: [JobGroup: Int64] = [group(.available): 9, group(.executing): 1]
        let orders: [[Step]] = [[.ahead, .batch, .keyframe], [.ahead, .keyframe, .batch], [.batch, .ahead, .keyframe],
                                [.batch, .keyframe, .ahead], [.keyframe, .ahead, .batch], [.keyframe, .batch, .ahead]]
        for order in orders {
            var full = FullCounts()
            full.record(batch(1, []))
            for step in order {
                switch step {
                case .ahead: full.apply(MovesAhead(origin: worker, afterSeq: 1, moves: [move]))
                case .batch: full.record(batch(2, [move]))
                case .keyframe: full.apply(keyframe(1, seeing: [move], mark: 1))
                }
                if step == .ahead, order.firstIndex(of: .keyframe)! < order.firstIndex(of: .ahead)! {
                    #expect(served(full) == truth, "counted as soon as it arrives (xid \(xid), \(order))")
                }
            }
            #expect(served(full) == truth, "xid \(xid), \(order)")
        }
    }

    @Test func movesAheadOfABatchThatNeverComesCountUntilAKeyframeHoldsThem() {
        let move = RecordedMove(xid: 113, job: 5, queue: "q", from: .available, to: .executing)
        var full = FullCounts()
        full.apply(keyframe(1, seeing: [], mark: 0))
        let took = full.apply(MovesAhead(origin: worker, afterSeq: 0, moves: [move]))
        #expect(took)
        #expect(served(full) == [group(.available): 9, group(.executing): 1])
        // The next keyframe's snapshot sees 113: its count holds the move, which is dropped.
        let later = XidSnapshot(xmin: 120, xmax: 120, inProgress: [])!
        let next = Keyframe(term: 1, number: 2, leader: leader, timestamp: 1005,
                            counts: [.init(group: group(.available), count: 9, estimated: false),
                                     .init(group: group(.executing), count: 1, estimated: false)],
                            watermarks: [worker: 0], snapshot: later, mode: .snapshots, idBound: 1_000)
        full.apply(next)
        #expect(served(full) == [group(.available): 9, group(.executing): 1])
    }

    @Test func movesAheadOfABatchAlreadyRecordedAreRefused() {
        let move = RecordedMove(xid: 113, job: 5, queue: "q", from: .available, to: .executing)
        var full = FullCounts()
        full.apply(keyframe(1, seeing: [], mark: 0))
        full.record(batch(1, [move]))
        let took = full.apply(MovesAhead(origin: worker, afterSeq: 0, moves: [move]))
        #expect(!took)
        #expect(served(full) == [group(.available): 9, group(.executing): 1])
        // Later moves, ahead of batch 2, count; batch 2 takes their place.
        let second = RecordedMove(xid: 114, job: 6, queue: "q", from: .available, to: .executing)
        let tookSecond = full.apply(MovesAhead(origin: worker, afterSeq: 1, moves: [second]))
        #expect(tookSecond)
        #expect(served(full) == [group(.available): 8, group(.executing): 2])
        full.record(batch(2, [second]))
        #expect(served(full) == [group(.available): 8, group(.executing): 2])
    }

    @Test func logicalModeIgnoresMovesAhead() {
        var full = FullCounts()
        let k = keyframe(1, seeing: [], mark: 0)
        full.apply(Keyframe(term: k.term, number: k.number, leader: k.leader, timestamp: k.timestamp, counts: k.counts,
                            watermarks: k.watermarks, snapshot: k.snapshot, mode: .logical, idBound: k.idBound))
        full.apply(MovesAhead(origin: worker, afterSeq: 0, moves: [RecordedMove(xid: 113, job: 5, queue: "q", from: .available, to: .executing)]))
        #expect(served(full) == [group(.available): 10])
    }

    @Test func anOriginKeepsAtMostTheMovesCap() {
        var full = FullCounts(maxLoggedMoves: 10)
        full.apply(keyframe(1, seeing: [], mark: 0))
        for i in 0..<5 {
            let moves = (0..<4).map { RecordedMove(xid: 200 + UInt64(i), job: Int64(i * 4 + $0), queue: "q", from: nil, to: .available) }
            full.apply(MovesAhead(origin: worker, afterSeq: 0, moves: moves))
        }
        #expect(served(full) == [group(.available): 10 + 8], "the two newest sends of 4 (the cap is 10 moves)")
    }
}
