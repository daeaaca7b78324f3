import Foundation
import Testing

/// F12 on its own: its figure is a time (the stop within 3 s, RELIABILITY F12), so no other
/// cluster test shares the machine while it runs.
@Suite(.serialized, .reapsProcesses(alone: true)) struct HandoffResumeTests {
    /// F12 (H2, H4, H7): a store of 50k rows (CI tier) is handed off; the connection is cut
    /// when about half of the chunks are acknowledged; the handoff resumes on the re-established
    /// connection from the last acknowledged chunk, re-sending at most the window.
    @Test(.timeLimit(.minutes(3)))
    func aDroppedHandoffConnectionResumesFromTheLastAcknowledgedChunk() async throws {
        let a = try await HandoffTests.isolated(faults: "cut:handoffAck:100", chunkBytes: HandoffTests.f12ChunkBytes)
        // One job per label set (2 rows each: exec_time and wait_time) over queues × 27
        // workers; a queue count that is not a multiple of 3 keeps the two coprime, so every
        // pair occurs.
        let jobs = (HandoffTests.f12Rows + 1) / 2
        var queues = (jobs + 26) / 27
        while queues % 3 == 0 { queues += 1 }
        try await HandoffTests.postHistory(to: a, jobs: jobs, queues: queues, workers: 27)
        try await waitUntil("a holds \(HandoffTests.f12Rows) rows") { await HandoffTests.rows(a) >= HandoffTests.f12Rows }
        let joined = try await HandoffTests.joiners(["b"], to: a)
        let b = joined[0]
        let took = try await HandoffTests.timedStop(a)
        #expect(a.process.terminationStatus == 0)
        #expect(took < .seconds(10), "the stop ends well within its deadline (took \(took))")
        let ms = HandoffTests.number(before: " ms", in: a.log, after: "handoff to b done:")
        #expect(ms.map { $0 < 3000 } == true, "F12: the handoff, cut and resume included, under 3 s (\(ms.map(String.init) ?? "no line"))")
        #expect(await HandoffTests.jobCount(b) == Double(jobs))
        let log = a.log
        #expect(log.contains("handoff to b started"))
        #expect(log.contains("fault plane: cutting the connection to b"))
        #expect(log.contains("handoff to b resumed from chunk 100 of"))
        let total = log.range(of: "handoff to b resumed from chunk 100 of ").flatMap { Int(String(log[$0.upperBound...].prefix { $0.isNumber })) }
        #expect(total.map { $0 > 100 } == true, "F12: the cut comes mid-transfer (100 of \(total.map(String.init) ?? "?"); about half in CI)")
        for quarter in ["25%", "50%", "75%"] { #expect(log.contains("handoff to b: \(quarter)"), "H7: a line at \(quarter)") }
        // H4: each resume re-sends at most the window of 4 chunks. The cut makes one resume; a
        // loaded machine may add one (a connection silent past the tests' 2 s limit).
        let resent = HandoffTests.number(before: " re-sent after a dropped connection", in: log)
        let resumes = log.components(separatedBy: "handoff to b resumed from chunk").count - 1
        #expect(resent.map { $0 >= 1 && $0 <= 4 * resumes } == true, "H4: re-sent at most the window of 4 chunks per resume (got \(resent.map(String.init) ?? "no line") over \(resumes))")
        #expect(b.log.contains("handoff from a complete"))
    }
}
