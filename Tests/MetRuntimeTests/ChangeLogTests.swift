import MetPostgres
import MetRuntime
import MetStore
import Testing

/// The leader's bookkeeping of decoded changes against its keyframe's snapshot (logical mode).
@Suite struct ChangeLogTests {
    typealias G = JobChangeStream.Group
    let available = G(state: "available", queue: "q")
    let executing = G(state: "executing", queue: "q")
    let completed = G(state: "completed", queue: "q")
    func group(_ g: G) -> JobGroup { JobGroup(state: g.state, queue: g.queue) }

    /// Transactions below 100 and 101, 102 finished; 103 in progress; 105 and later not started.
    let snapshot = XidSnapshot(xmin: 100, xmax: 105, inProgress: [103])!

    func t(_ xid: UInt32, _ changes: [JobChangeStream.Change], recount: Bool = false) -> JobChangeStream.Transaction {
        .init(xid: xid, lsn: UInt64(xid), changes: changes, needsRecount: recount)
    }

    @Test func transactionsTheSnapshotSeesAreLeftOutAndTheRestFoldedInCommitOrder() {
        var log = ChangeLog(snapshot: snapshot)
        log.add(t(101, [.init(job: 1, new: executing)]))  // in the keyframe already
        log.add(t(103, [.init(job: 1, new: completed), .init(job: 9, new: available, inserted: true)]))  // committed during the count
        log.add(t(106, [.init(job: 2, new: executing), .init(job: 9, new: executing)]))
        log.add(t(107, [.init(job: 2, new: nil), .init(job: 3, old: available, new: completed)]))
        #expect(log.lookupsNeeded() == [1, 2], "inserted jobs and jobs whose old row came with the change need no lookup")
        log.fold(atSnapshot: [1: executing, 2: available])
        let expected: [JobGroup: Int64] = [group(completed): 2, group(available): -2]  // executing: -1 + 1
        #expect(log.delta == expected)
        #expect(log.lookupsNeeded().isEmpty)
        // Later changes of a job already seen follow from its tracked group, not the snapshot's.
        log.add(t(110, [.init(job: 1, new: available)]))
        #expect(log.lookupsNeeded().isEmpty)
        log.fold(atSnapshot: [:])
        #expect(log.delta == [group(completed): 1, group(available): -1])
    }

    @Test func aNewKeyframeKeepsOnlyWhatItsSnapshotDoesNotSee() {
        var log = ChangeLog(snapshot: snapshot)
        log.add(t(106, [.init(job: 1, new: executing)]))
        log.add(t(120, [.init(job: 1, new: completed)]))
        log.fold(atSnapshot: [1: available])
        #expect(log.delta == [group(available): -1, group(completed): 1])
        // The next keyframe saw 106 (job 1 executing) but not 120.
        log.rebase(on: XidSnapshot(xmin: 115, xmax: 125, inProgress: [120])!)
        #expect(log.delta.isEmpty)
        #expect(log.lookupsNeeded() == [1])
        log.fold(atSnapshot: [1: executing])
        #expect(log.delta == [group(executing): -1, group(completed): 1])
        // A transaction the new snapshot sees, read from the stream after the count: left out.
        log.add(t(118, [.init(job: 7, new: available, inserted: true)]))
        log.fold(atSnapshot: [:])
        #expect(log.delta == [group(executing): -1, group(completed): 1])
    }

    @Test func whatOnlyARecountExplainsAsksForAKeyframeUntilOneSeesIt() {
        var log = ChangeLog(snapshot: snapshot, maxPending: 3)
        log.add(t(106, [], recount: true))
        #expect(log.needsKeyframe)
        log.rebase(on: XidSnapshot(xmin: 103, xmax: 107, inProgress: [103, 106])!)
        #expect(log.needsKeyframe, "still running as the count started")
        log.rebase(on: XidSnapshot(xmin: 108, xmax: 108)!)
        #expect(!log.needsKeyframe)
        log.add(t(110, (1...4).map { .init(job: Int64($0), new: available, inserted: true) }))
        #expect(log.needsKeyframe, "beyond what is kept in memory")
        // A job the snapshot did not have although the stream says it existed: counted as new, noted.
        var odd = ChangeLog(snapshot: snapshot)
        odd.add(t(106, [.init(job: 5, new: executing)]))
        odd.fold(atSnapshot: [:])
        #expect(odd.unexplained == 1 && odd.delta == [group(executing): 1])
    }
}
