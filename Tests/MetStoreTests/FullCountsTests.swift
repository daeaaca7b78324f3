import MetStore
import Testing

/// full_count = keyframe + the job-state deltas of batches after the keyframe's watermarks
/// (DESIGN §3), and keyframes of an older term never win (RELIABILITY L1).
@Suite struct FullCountsTests {
    let a = Origin(node: "a", incarnation: 1)
    let b = Origin(node: "b", incarnation: 1)
    let q = "default"

    func batch(_ origin: Origin, _ seq: UInt64, at t: Int64 = 100, _ entries: [DeltaBatch.Entry]) -> DeltaBatch {
        DeltaBatch(origin: origin, seq: seq, timestamp: t, entries: entries)
    }

    func transition(_ from: String, _ to: String, _ n: Int64 = 1, queue: String = "default") -> DeltaBatch.Entry {
        .init(series: "transitions", labels: LabelSet(["node": "x", "queue": queue, "state": to, "old_state": from]), value: .count(n))
    }

    func keyframe(term: Int64, number: UInt64, available: Int64, marks: [Origin: UInt64], at t: Int64 = 100) -> Keyframe {
        Keyframe(term: term, number: number, leader: a, timestamp: t,
                 counts: [.init(group: JobGroup(state: "available", queue: q), count: available, estimated: false)], watermarks: marks)
    }

    @Test func deltasAfterTheWatermarkMoveTheCounts() {
        var full = FullCounts()
        var took: Bool
        #expect(full.current() == nil, "no keyframe, no count")
        full.record(batch(a, 1, [transition("available", "executing", 2)]))
        full.record(batch(a, 2, [transition("available", "executing", 3)]))
        full.record(batch(b, 1, [transition("executing", "completed", 1),
                                 .init(series: "inserted", labels: LabelSet(["queue": q, "state": "available"]), value: .count(10)),
                                 .init(series: "inserted", labels: LabelSet(["queue": q]), value: .count(99)),  // no state: no delta
                                 .init(series: "pruned", labels: LabelSet(["queue": q, "state": "completed"]), value: .count(4))]))
        // The leader had applied a#1 (already in its count) and nothing of b.
        took = full.apply(keyframe(term: 1, number: 1, available: 50, marks: [a: 1, b: 0]))
        #expect(took)
        let counts = full.current()!
        #expect(counts[JobGroup(state: "available", queue: q)] == Int64(50 - 3 + 10))
        #expect(counts[JobGroup(state: "executing", queue: q)] == Int64(3 - 1))
        #expect(counts[JobGroup(state: "completed", queue: q)] == Int64(1 - 4))
    }

    @Test func olderTermsAndRepeatsAreIgnored() {
        var full = FullCounts()
        var took: Bool
        took = full.apply(keyframe(term: 2, number: 5, available: 20, marks: [:]))
        #expect(took)
        took = full.apply(keyframe(term: 1, number: 99, available: 666, marks: [:]))
        #expect(!took, "a deposed leader's keyframe")
        took = full.apply(keyframe(term: 2, number: 5, available: 666, marks: [:]))
        #expect(!took, "the same keyframe again")
        took = full.apply(keyframe(term: 2, number: 4, available: 666, marks: [:]))
        #expect(!took, "an earlier one of the same term")
        #expect(full.current()?[JobGroup(state: "available", queue: q)] == 20)
        took = full.apply(keyframe(term: 3, number: 1, available: 30, marks: [:]))
        #expect(took, "a new term starts its numbers again")
        #expect(full.current()?[JobGroup(state: "available", queue: q)] == 30)
    }

    @Test func anOriginTheLeaderNeverHeardOfCountsFromTheKeyframeOn() {
        var full = FullCounts()
        full.record(batch(b, 1, at: 90, [transition("available", "executing")]))   // before the count: in it already
        full.record(batch(b, 2, at: 100, [transition("available", "executing")]))  // after
        full.apply(keyframe(term: 1, number: 1, available: 10, marks: [a: 3], at: 100))
        #expect(full.current()?[JobGroup(state: "available", queue: q)] == 9)
    }

    @Test func aNewTermWithOlderWatermarksStillFindsTheBatchesAfterThem() {
        var full = FullCounts(maxLoggedBatches: 10)
        for seq in UInt64(1)...8 { full.record(batch(a, seq, [transition("available", "executing")])) }
        full.apply(keyframe(term: 1, number: 9, available: 100, marks: [a: 8]))
        #expect(full.current()?[JobGroup(state: "available", queue: q)] == 100)
        full.apply(keyframe(term: 2, number: 1, available: 105, marks: [a: 3]))  // the new leader had applied less
        #expect(full.current()?[JobGroup(state: "available", queue: q)] == 100)
        // Only the last 10 batches are kept per origin.
        for seq in UInt64(9)...30 { full.record(batch(a, seq, [])) }  // empty batches log nothing
        for seq in UInt64(31)...45 { full.record(batch(a, seq, [transition("available", "executing")])) }
        #expect(full.current()?[JobGroup(state: "available", queue: q)] == Int64(105 - 10))
    }
}
