import Foundation
import Testing

/// Catch-up when the snapshot's connection fails (DESIGN §6, RELIABILITY H11): the joiner asks
/// again and reports ready only once it holds the whole history.
@Suite(.reapsProcesses) struct CatchUpTests {
    @Test(.timeLimit(.minutes(4)))
    func aJoinerWhoseSnapshotConnectionIsCutAsksAgainAndGetsTheWholeHistory() async throws {
        // a's history reaches a joiner only through catch-up (a keeps one batch for resends and
        // drops resend requests); a cuts the connection of the first snapshot request it answers,
        // with the snapshot streaming in 1 KiB chunks, so the first answer cannot complete.
        let a = try await MetProcess(name: "a", arguments: [
            "--retransmit-window", "1", "--handoff-chunk-bytes", "1024",
            "--test-faults", "drop:resend:1,cut:snapshotRequest:1",
        ])
        try await HandoffTests.postHistory(to: a)
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress])
        try await waitUntil("b ready with a's whole history") {
            let ready = await b.cluster()?["ready"] as? Bool == true
            let jobs = await HandoffTests.jobCount(b)
            return ready && jobs == Double(HandoffTests.jobs)
        }
        #expect(a.log.contains("fault plane: cutting the connection to b after a snapshotRequest frame"))
        #expect(a.log.contains("the snapshot of the whole store for b stopped at chunk"), "the first answer was cut short")
        #expect(b.log.contains("a went away before its snapshot was complete"))
        // Twice at least: a third time when the reconnection raced (both sides dialled).
        #expect(b.log.components(separatedBy: "catching up: asking a for its whole store").count - 1 >= 2, "asked again")
        #expect(b.log.contains("caught up from a"))
    }
}
