#if canImport(Glibc)
import Glibc
#endif
import MetMesh
import MetUV
import MetWire
import MetTestSupport
import Synchronization
import Testing

/// Catch-up's whole-store snapshot is streamed: chunks are taken from the store only as the
/// socket takes earlier ones (DESIGN §6: memory bounded on both sides whatever the store's size).
@Suite struct SnapshotStreamTests {
    @Test(.timeLimit(.minutes(1)))
    func aPeerThatDoesNotReadHoldsUpTheSnapshotInsteadOfGrowingTheSendersMemory() async throws {
        let a = try await TestNode(name: "a", secret: MeshNodeTests.secret)
        let b = try await TestNode(name: "b", secret: MeshNodeTests.secret)
        let store = FakeSnapshot(chunks: 20_000, watermarks: WatermarksCodec.encode([PeerIdentity(node: "x", incarnation: 1): 7]))  // 80 MiB: more than loopback's socket buffers hold
        a.host.snapshot.withLock { $0 = { _ in store } }
        b.dial(try await a.port())
        try await eventually("connected") {
            let (pa, pb) = (try await a.peers(), try await b.peers())
            return pa == ["b"] && pb == ["a"]
        }

        // b asks, then its loop stops reading until released.
        let release = Atomic<Bool>(false)
        b.loop.execute { b.node.requestSnapshot(from: "a") }
        b.loop.execute { while !release.load(ordering: .relaxed) { usleep(1_000) } }
        try await eventually("a started the snapshot") { store.taken.load(ordering: .relaxed) > 0 }
        var last = -1
        try await eventually("a's stream stalled on the full socket") {
            let now = store.taken.load(ordering: .relaxed)
            defer { last = now }
            try await Task.sleep(for: .milliseconds(50))
            return now == last
        }
        let heldUp = store.taken.load(ordering: .relaxed)
        #expect(heldUp < store.chunkCount / 2, "a took \(heldUp) of \(store.chunkCount) chunks while b read nothing")

        release.store(true, ordering: .relaxed)
        try await eventually("b has every chunk and the end") {
            b.host.chunks.withLock { $0.count } == store.chunkCount && b.host.ends.withLock { !$0.isEmpty }
        }
        #expect(store.taken.load(ordering: .relaxed) == store.chunkCount, "each chunk taken once")
        #expect(b.host.chunks.withLock { $0.allSatisfy { $0.count == 4096 } })
        let marks = try WatermarksCodec.decode(b.host.ends.withLock { $0.first ?? [] })
        #expect(marks == [PeerIdentity(node: "x", incarnation: 1): 7], "the plan's watermarks end the snapshot")
        #expect(b.logs.contains { $0 == "merged a snapshot of the whole store of a" })
        #expect(a.logs.contains { $0.hasPrefix("sent b the whole store: 20000 chunks") })
        try await a.stop()
        try await b.stop()
    }

    /// Chunks are merged on the loop, so a connection handles one large frame per pass of the
    /// loop: the timers that fall due while one is merged (heartbeats) run before the next,
    /// however many arrived in one read.
    @Test(.timeLimit(.minutes(1)))
    func aLargeFrameIsHandledOnePerPassOfTheLoop() async throws {
        let a = try await TestNode(name: "a", secret: MeshNodeTests.secret)
        let b = try await TestNode(name: "b", secret: MeshNodeTests.secret)
        let store = FakeSnapshot(chunks: 12, chunkBytes: 20 << 10, watermarks: WatermarksCodec.encode([:]))
        a.host.snapshot.withLock { $0 = { _ in store } }
        b.host.chunkMicroseconds.store(3_000, ordering: .relaxed)  // a merge outlasts the 1 ms timer below
        b.dial(try await a.port())
        try await eventually("connected") {
            let (pa, pb) = (try await a.peers(), try await b.peers())
            return pa == ["b"] && pb == ["a"]
        }
        _ = try await b.loop.run { [host = b.host, loop = b.loop] in
            // Closed with the loop.
            _ = try UVTimer(loop: loop, every: 1) { host.ticks.add(1, ordering: .relaxed) }
        }
        // b's loop is held while a sends every chunk, so that they wait in b's socket together.
        let release = Atomic<Bool>(false)
        b.loop.execute { b.node.requestSnapshot(from: "a") }
        b.loop.execute { while !release.load(ordering: .relaxed) { usleep(1_000) } }
        // Written means in b's socket: loopback hands a write to the receiver as it is made.
        try await eventually("a wrote every chunk") { a.logs.contains { $0.hasPrefix("sent b the whole store: 12 chunks") } }
        release.store(true, ordering: .relaxed)
        try await eventually("b merged every chunk") {
            b.host.chunks.withLock { $0.count } == store.chunkCount && b.host.ends.withLock { !$0.isEmpty }
        }
        let seen = b.host.chunkTicks.withLock { $0 }
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0 < $1 }, "the timer ran between every two chunks: \(seen)")
        try await a.stop()
        try await b.stop()
    }
}
