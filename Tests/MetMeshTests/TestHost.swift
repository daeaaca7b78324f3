#if canImport(Glibc)
import Glibc
#endif
import MetMesh
import MetUV
import MetWire
import Synchronization

/// A mesh's host for tests: records what arrives, serves snapshots from a fake store, and keeps
/// watermarks the test sets. Called on the mesh's loop thread; read by the test from others.
final class TestHost: MeshHost, Sendable {
    let batches = Mutex<[[UInt8]]>([])
    let keyframes = Mutex<[[UInt8]]>([])
    let moves = Mutex<[[UInt8]]>([])
    let logs = Mutex<[String]>([])
    let transitions = Mutex<[MemberTransition]>([])
    let chunks = Mutex<[[UInt8]]>([])
    let ends = Mutex<[[UInt8]]>([])
    let marks = Mutex<[PeerIdentity: UInt64]>([:])
    /// The snapshot this host serves (an empty one by default).
    let snapshot = Mutex<@Sendable (PeerIdentity?) -> any SnapshotSource>({ _ in FakeSnapshot(chunks: 0, watermarks: []) })
    /// What a batch's arrival reports (taken by default).
    let receipt = Mutex<@Sendable ([UInt8]) -> BatchReceipt>({ _ in .taken })

    func receivedBatch(_ payload: [UInt8], from peer: PeerIdentity) -> BatchReceipt {
        batches.withLock { $0.append(payload) }
        return receipt.withLock { $0 }(payload)
    }

    func receivedCounts(_ payload: [UInt8], from peer: PeerIdentity) -> Bool {
        keyframes.withLock { $0.append(payload) }
        return true
    }

    func receivedKeyframe(_ payload: [UInt8], from peer: PeerIdentity) -> Bool {
        keyframes.withLock { $0.append(payload) }
        return true
    }

    func receivedMoves(_ payload: [UInt8], from peer: PeerIdentity) -> Bool {
        moves.withLock { $0.append(payload) }
        return true
    }

    func heldCounts() -> [UInt8]? { nil }

    func watermarks() -> [PeerIdentity: UInt64] { marks.withLock { $0 } }
    func heldWatermarks() -> [PeerIdentity: UInt64] { marks.withLock { $0 } }
    func planSnapshot(of origin: PeerIdentity?, chunkBytes: Int) -> any SnapshotSource { snapshot.withLock { $0 }(origin) }
    /// Ticks of a timer a test runs on the host's loop, and the count each chunk merged saw;
    /// each merge then takes `chunkMicroseconds` (a heavy merge).
    let ticks = Atomic<Int>(0)
    let chunkTicks = Mutex<[Int]>([])
    let chunkMicroseconds = Atomic<UInt32>(0)

    func merge(chunk: [UInt8], from peer: PeerIdentity) throws {
        chunks.withLock { $0.append(chunk) }
        chunkTicks.withLock { $0.append(ticks.load(ordering: .relaxed)) }
        let pause = chunkMicroseconds.load(ordering: .relaxed)
        if pause > 0 { usleep(pause) }
    }
    func merge(watermarks: [UInt8], from peer: PeerIdentity) throws { ends.withLock { $0.append(watermarks) } }
    func membershipChanged(_ transition: MemberTransition) { transitions.withLock { $0.append(transition) } }
    func log(_ line: String) { logs.withLock { $0.append(line) } }

    func lines(containing text: String) -> [String] { logs.withLock { $0.filter { $0.contains(text) } } }
}

/// `chunks` chunks of `chunkBytes` (4 KiB) whose bytes are their index; counts how many were taken.
final class FakeSnapshot: SnapshotSource, Sendable {
    let chunkCount: Int
    let chunkBytes: Int
    let watermarks: [UInt8]
    let taken = Atomic<Int>(0)

    init(chunks: Int, chunkBytes: Int = 4096, watermarks: [UInt8]) {
        chunkCount = chunks
        self.chunkBytes = chunkBytes
        self.watermarks = watermarks
    }

    func chunk(_ index: Int) -> [UInt8] {
        taken.add(1, ordering: .relaxed)
        return [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: chunkBytes)
    }
}
