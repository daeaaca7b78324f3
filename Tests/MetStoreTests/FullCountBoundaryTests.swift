import MetStore
import MetTestSupport
import Testing

/// The boundary between a keyframe and the deltas after it (DESIGN §5, docs/full-count.md): a
/// job move committed before, during or after the keyframe's count is counted exactly once,
/// whether its batch was applied by the leader before it counted (at or below the watermark) or
/// after, and whether it reaches a replica before or after the keyframe.
@Suite struct FullCountBoundaryTests {
    let leader = Origin(node: "leader", incarnation: 1)
    let worker = Origin(node: "worker", incarnation: 7)
    let q = "default"

    /// The count ran under this snapshot: transactions below 100 and 101, 102, 104... finished,
    /// 103 and 107 were in progress, 110 and later had not started.
    let snapshot = XidSnapshot(xmin: 100, xmax: 110, inProgress: [103, 107])!

    enum Commit: CaseIterable { case longBefore, justBefore, during, after }

    /// A transaction of each kind: the keyframe's snapshot sees the first two.
    func xid(_ c: Commit) -> UInt64 {
        switch c {
        case .longBefore: 42
        case .justBefore: 105
        case .during: 103  // in progress when the snapshot was taken, committed while counting
        case .after: 113
        }
    }

    func group(_ state: JobState) -> JobGroup { JobGroup(state: state.rawValue, queue: q) }

    /// 10 jobs available before any of the moves; the keyframe holds the moves its snapshot sees.
    func keyframe(seeing moves: [RecordedMove], watermark: UInt64, mode: CountMode = .snapshots) -> Keyframe {
        var counts: [JobGroup: Int64] = [group(.available): 10]
        for m in moves where snapshot.sees(m.xid) { m.add(to: &counts) }
        return Keyframe(term: 3, number: 1, leader: leader, timestamp: 1000,
                        counts: counts.map { .init(group: $0.key, count: $0.value, estimated: false) },
                        watermarks: [worker: watermark], snapshot: snapshot, mode: mode, idBound: 1_000)
    }

    /// What a batch of the worker carries for a move: the move and its transitions entry.
    func batch(_ seq: UInt64, _ moves: [RecordedMove]) -> DeltaBatch {
        let entries = moves.map { m in
            DeltaBatch.Entry(series: "transitions", labels: LabelSet(["node": worker.node, "queue": m.queue, "state": m.to!.rawValue,
                                                                      "old_state": m.from!.rawValue]), value: .count(1))
        }
        return DeltaBatch(origin: worker, seq: seq, timestamp: 1000, entries: entries, moves: moves)
    }

    @Test(arguments: Commit.allCases)
    func aMoveIsCountedOnceWhereverItsBatchFallsAndWhenItArrives(commit: Commit) {
        let move = RecordedMove(xid: xid(commit), job: 5, queue: q, from: .available, to: .executing)
        let truth: [JobGroup: Int64] = [group(.available): 9, group(.executing): 1]
        for batchAfterWatermark in [false, true] {
            for batchBeforeKeyframe in [false, true] {
                var full = FullCounts()
                full.record(batch(1, []))  // seq 1: nothing
                let k = keyframe(seeing: [move], watermark: batchAfterWatermark ? 1 : 2)
                if batchBeforeKeyframe {
                    full.record(batch(2, [move]))
                    full.apply(k)
                } else {
                    full.apply(k)
                    full.record(batch(2, [move]))
                }
                let served = full.current()!.filter { $0.value != 0 }
                #expect(served == truth, "committed \(commit), batch \(batchAfterWatermark ? "after" : "at") the watermark, \(batchBeforeKeyframe ? "before" : "after") the keyframe")
            }
        }
    }

    @Test func everyMixOfMovesAndArrivalsAddsUp() {
        // Jobs 1...8 each move twice (available → executing → completed), the two moves
        // committed at any point relative to the count, in batches on either side of the
        // watermark, arriving in any order relative to the keyframe.
        var random = SplitMix64(seed: 0x5eed)
        for _ in 0..<200 {
            var moves: [RecordedMove] = []
            for job in Int64(1)...8 {
                let first = Commit.allCases[Int(random.next() % 4)]
                var second = Commit.allCases[Int(random.next() % 4)]
                // Row locks order the two: the count cannot see the second without the first.
                if snapshot.sees(xid(second)) && !snapshot.sees(xid(first)) { second = .after }
                moves.append(RecordedMove(xid: xid(first), job: job, queue: q, from: .available, to: .executing))
                moves.append(RecordedMove(xid: xid(second), job: job, queue: q, from: .executing, to: .completed))
            }
            let watermark = UInt64(random.next() % 5)
            let batches = (1...4).map { seq in batch(UInt64(seq), moves.enumerated().filter { $0.offset % 4 == seq - 1 }.map(\.element)) }
            let k = keyframe(seeing: moves, watermark: watermark)
            let keyframeAt = Int(random.next() % 5)
            var full = FullCounts()
            for (i, b) in batches.enumerated() {
                if i == keyframeAt { full.apply(k) }
                full.record(b)
            }
            if keyframeAt == 4 { full.apply(k) }
            let served = full.current()!.filter { $0.value != 0 }
            #expect(served == [group(.available): 2, group(.completed): 8], "watermark \(watermark), keyframe after \(keyframeAt) batches")
        }
    }

    @Test func deltasWithoutATransactionIdKeepTheWatermarkRule() {
        // An HTTP `transition` event (no transaction id) beside a recorded move in one batch.
        var full = FullCounts()
        let move = RecordedMove(xid: 113, job: 5, queue: q, from: .available, to: .executing)
        var b = batch(3, [move])
        b.entries.append(.init(series: "transitions", labels: LabelSet(["node": worker.node, "queue": q, "state": "cancelled", "old_state": "available"]),
                               value: .count(2)))
        full.record(b)
        full.apply(keyframe(seeing: [move], watermark: 2))  // batch 3 is after the watermark: the event counts
        #expect(full.current()![group(.cancelled)] == 2)
        #expect(full.current()![group(.available)] == Int64(10 - 1 - 2))
        full.apply(Keyframe(term: 3, number: 2, leader: leader, timestamp: 1001, counts: [.init(group: group(.available), count: 7, estimated: false)],
                            watermarks: [worker: 3], snapshot: XidSnapshot(xmin: 120, xmax: 120)!, idBound: 1_000))
        #expect(full.current()!.filter { $0.value != 0 } == [group(.available): 7], "the next keyframe holds both")
    }

    @Test func jobsAboveTheIdBoundAreJudgedAgainstTheRecountsSnapshot() {
        var full = FullCounts()
        full.apply(keyframe(seeing: [], watermark: 0))  // idBound 1,000
        // Job 1,001 was inserted after the count (by someone that records nothing) and then
        // claimed by the worker in transaction 130; job 1,002 is claimed in 140.
        let claimedEarly = RecordedMove(xid: 130, job: 1_001, queue: q, from: .available, to: .executing)
        let claimedLate = RecordedMove(xid: 140, job: 1_002, queue: q, from: .available, to: .executing)
        full.record(batch(1, [claimedEarly, claimedLate]))
        // The leader's recount of jobs above 1,000 under a snapshot that sees 130 but not 140.
        let recount = XidSnapshot(xmin: 135, xmax: 136)!
        let took = full.apply(CountDelta(term: 3, number: 1, revision: 1, timestampMs: 0, snapshot: recount,
                                         groups: [group(.executing): 1, group(.available): 1]))
        #expect(took)
        let served = full.current()!.filter { $0.value != 0 }
        #expect(served == [group(.available): 10, group(.executing): 2], "1,001 counted once (by the recount), 1,002 moved by its move")
    }

    @Test func inLogicalModeOnlyTheLeadersDeltaMovesTheCounts() {
        var full = FullCounts()
        let move = RecordedMove(xid: 113, job: 5, queue: q, from: .available, to: .executing)
        full.record(batch(1, [move]))
        full.apply(keyframe(seeing: [], watermark: 0, mode: .logical))
        #expect(full.current()!.filter { $0.value != 0 } == [group(.available): 10], "the stream, not the recorder, reports Postgres's changes")
        let d2 = CountDelta(term: 3, number: 1, revision: 2, timestampMs: 0, groups: [group(.available): -1, group(.executing): 1])
        let d1 = CountDelta(term: 3, number: 1, revision: 1, timestampMs: 0, groups: [group(.available): -5])
        let took1 = full.apply(d2)
        #expect(took1)
        let took2 = full.apply(d1)
        #expect(!took2, "an older revision arriving late")
        let took3 = full.apply(d2)
        #expect(!took3, "the same one twice")
        let took4 = full.apply(CountDelta(term: 3, number: 2, revision: 9, timestampMs: 0, groups: [group(.available): -9]))
        #expect(!took4, "another keyframe's")
        #expect(full.current()!.filter { $0.value != 0 } == [group(.available): 9, group(.executing): 1])
        // The next keyframe replaces keyframe and delta.
        var next = keyframe(seeing: [move], watermark: 1, mode: .logical)
        next.number = 2
        let took5 = full.apply(next)
        #expect(took5)
        #expect(full.delta == nil)
        #expect(full.current()!.filter { $0.value != 0 } == [group(.available): 10])
    }

    @Test func aKeyframeForgetsTheMovesItsSnapshotSeesAndKeepsTheOthers() {
        var full = FullCounts(maxLoggedBatches: 3)
        let seen = RecordedMove(xid: 42, job: 1, queue: q, from: .available, to: .executing)
        let unseen = RecordedMove(xid: 113, job: 2, queue: q, from: .available, to: .executing)
        full.record(batch(1, [seen, unseen]))
        full.apply(keyframe(seeing: [seen, unseen], watermark: 1))
        #expect(full.current()!.filter { $0.value != 0 } == [group(.available): 8, group(.executing): 2])
        // Empty-handed batches do not push the unseen move out of the log.
        for seq in UInt64(2)...10 { full.record(batch(seq, [])) }
        #expect(full.current()![group(.executing)] == 2)
    }

    @Test func snapshotsParseLikePostgresAndSeeWhatItSees() {
        #expect(XidSnapshot(parsing: "100:110:103,107") == snapshot)
        #expect(XidSnapshot(parsing: "5:5:") == XidSnapshot(xmin: 5, xmax: 5))
        #expect(snapshot.description == "100:110:103,107")
        for bad in ["", "1:2", "2:1:", "100:110:99", "100:110:110", "100:110:104,103", "100:110:104,104", "a:b:", "1:2:x", "1:2:3:"] {
            #expect(XidSnapshot(parsing: bad) == nil, "\(bad)")
        }
        #expect(snapshot.sees(99) && snapshot.sees(100) && snapshot.sees(104) && snapshot.sees(109))
        #expect(!snapshot.sees(103) && !snapshot.sees(107) && !snapshot.sees(110) && !snapshot.sees(1 << 40))
        // 32-bit ids (logical decoding) widen to the nearest 64-bit id, across an epoch too.
        let late = XidSnapshot(xmin: (3 << 32) + 10, xmax: (3 << 32) + 20)!
        #expect(late.widen(15) == (3 << 32) + 15)
        #expect(late.widen(UInt32.max - 5) == (3 << 32) - 6)
        #expect(late.widen(40) == (3 << 32) + 40)
        #expect(XidSnapshot(xmin: 3, xmax: 5)!.widen(UInt32.max) == UInt64(UInt32.max), "never below zero")
    }
}

