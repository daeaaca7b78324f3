#if canImport(Glibc)
import Glibc
#endif
import MetMesh
import MetStore
import MetTestSupport
import Synchronization
import Testing

/// Catch-up's whole-store snapshot is streamed: chunks are taken from the store only as the
/// socket takes earlier ones (DESIGN §6: memory bounded on both sides whatever the store's size).
@Suite struct SnapshotStreamTests {
    /// A store side that hands out `count` chunks of 4 KiB and counts how many were taken.
    final class FakeStore: Sendable {
        let count: Int
        let taken = Atomic<Int>(0)
        init(count: Int) { self.count = count }

        func install(on node: MeshNode) {
            node.snapshotPlan = { [self] _, _ in
                SnapshotPlan(starts: Array(0..<count), end: count, watermarks: StoreSnapshot.encode(watermarks: [Origin(node: "x", incarnation: 1): 7]))
            }
            node.snapshotChunk = { [self] index, _ in
                taken.add(1, ordering: .relaxed)
                return [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 4096)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aPeerThatDoesNotReadHoldsUpTheSnapshotInsteadOfGrowingTheSendersMemory() async throws {
        let a = try await TestNode(name: "a", secret: MeshNodeTests.secret)
        let b = try await TestNode(name: "b", secret: MeshNodeTests.secret)
        let store = FakeStore(count: 20_000)  // 80 MiB: more than loopback's socket buffers hold
        let received = Atomic<Int>(0)
        let ended = Mutex<(kind: MeshNode.SnapshotKind, marks: [UInt8])?>(nil)
        try await a.loop.run { store.install(on: a.node) }
        try await b.loop.run {
            b.node.onSnapshotChunk = { chunk, _ in
                if chunk.count == 4096 { received.add(1, ordering: .relaxed) }
            }
            b.node.onSnapshotEnd = { kind, marks, _ in ended.withLock { $0 = (kind, marks) } }
        }
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
        #expect(heldUp < store.count / 2, "a took \(heldUp) of \(store.count) chunks while b read nothing")

        release.store(true, ordering: .relaxed)
        try await eventually("b has every chunk and the end") {
            received.load(ordering: .relaxed) == store.count && ended.withLock { $0 != nil }
        }
        #expect(store.taken.load(ordering: .relaxed) == store.count, "each chunk taken once")
        let end = ended.withLock { $0 }
        #expect(end?.kind == .whole)
        let marks = try StoreSnapshot.decode(watermarks: end?.marks ?? [])
        #expect(marks == [Origin(node: "x", incarnation: 1): 7], "the plan's watermarks end the snapshot")
        #expect(a.logs.withLock { $0 }.contains { $0.hasPrefix("sent b the whole store: 20000 chunks") })
        try await a.stop()
        try await b.stop()
    }
}
