import MetRecorder
import MetStore
import MetValues
import MetWire
import Testing

/// The `counts` frame's payload (keyframes with their snapshot, deltas) and the moves section of
/// a batch: round trips, strict refusal of corrupt bytes, no allocation from a lying count.
@Suite struct CountCodecTests {
    static let snapshot = XidSnapshot(xmin: 1_000_000_007, xmax: 1_000_000_090, inProgress: [1_000_000_007, 1_000_000_050, 1_000_000_089])!
    static let keyframe = Keyframe(
        term: 12, number: 3, leader: Origin(node: "leader-1", incarnation: 1_795_936_392_945_954), timestamp: 1_800_000_000,
        counts: [.init(group: JobGroup(state: "completed", queue: "default"), count: 4_000_000, estimated: true),
                 .init(group: JobGroup(state: "available", queue: "ünïcode"), count: 17, estimated: false)],
        watermarks: [Origin(node: "a", incarnation: 1): 99, Origin(node: "b", incarnation: 5): 1],
        snapshot: snapshot, mode: .snapshots, idBound: 123_456_789, note: "wal_level is replica, not logical")
    static let delta = CountDelta(term: 12, number: 3, revision: 41, timestampMs: 1_800_000_000_250, snapshot: XidSnapshot(xmin: 5, xmax: 5),
                                  groups: [JobGroup(state: "available", queue: "default"): -3, JobGroup(state: "completed", queue: "default"): 3])

    @Test func roundTrips() throws {
        for message: CountMessage in [.keyframe(Self.keyframe, nil), .keyframe(Self.keyframe, Self.delta), .delta(Self.delta),
                                      .keyframe(Keyframe(term: 1, number: 1, leader: Origin(node: "n", incarnation: 1), timestamp: 0, counts: [],
                                                         watermarks: [:], mode: .logical), nil),
                                      .delta(CountDelta(term: -1, number: 0, revision: 1, timestampMs: -5, groups: [:]))] {
            #expect(try CountCodec.decode(CountCodec.encode(message)) == message)
        }
    }

    @Test func corruptMessagesThrowAndNeverCrash() {
        for valid in [CountCodec.encode(.keyframe(Self.keyframe, Self.delta)), CountCodec.encode(.delta(Self.delta))] {
            let refused = corruptions(of: valid, seed: 31).filter { (try? CountCodec.decode($0)) == nil }.count
            #expect(refused > 1_000)
            #expect(throws: DecodeError.self) { try CountCodec.decode(valid + [0]) }
        }
        // Counts that claim more entries than there are bytes left are refused before allocating.
        var w = ByteWriter()
        w.writeByte(2)
        w.writeSignedVarint(1); w.writeVarint(1); w.writeVarint(1); w.writeSignedVarint(0)
        w.writeByte(1); w.writeVarint(1); w.writeVarint(10); w.writeVarint(UInt64(Int32.max))  // 2³¹ in-progress ids
        #expect(throws: DecodeError.self) { try CountCodec.decode(w.bytes) }
        #expect(throws: DecodeError.self) { try CountCodec.decode([2, 2, 1, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]) }
        #expect(throws: DecodeError.self) { try CountCodec.decode([]) }
        #expect(throws: DecodeError.self) { try CountCodec.decode([9]) }
    }

    @Test func inconsistentSnapshotsAndDeltasAreRefused() {
        func snapshotBytes(_ xmin: UInt64, _ span: UInt64, _ gaps: [UInt64]) -> [UInt8] {
            var w = ByteWriter()
            w.writeByte(2)
            w.writeSignedVarint(1); w.writeVarint(1); w.writeVarint(1); w.writeSignedVarint(0)
            w.writeByte(1); w.writeVarint(xmin); w.writeVarint(span); w.writeVarint(UInt64(gaps.count))
            for g in gaps { w.writeVarint(g) }
            w.writeVarint(0)
            return w.bytes
        }
        #expect((try? CountCodec.decode(snapshotBytes(10, 5, [0, 2]))) != nil)
        #expect(throws: DecodeError.self) { try CountCodec.decode(snapshotBytes(10, 5, [0, 0])) }  // repeated id
        #expect(throws: DecodeError.self) { try CountCodec.decode(snapshotBytes(10, 5, [5])) }  // at xmax
        #expect(throws: DecodeError.self) { try CountCodec.decode(snapshotBytes(UInt64.max, 1, [])) }  // xmax overflows
        // A keyframe carrying another keyframe's delta.
        var other = Self.delta
        other.number = 4
        var bytes = CountCodec.encode(.keyframe(Self.keyframe, nil))
        bytes[bytes.count - 1] = 1
        bytes += Array(CountCodec.encode(.delta(other)).dropFirst())
        #expect(throws: DecodeError.self) { try CountCodec.decode(bytes) }
    }

    @Test func legacyKeyframesStillDecodeWithoutASnapshot() throws {
        let old = Keyframe(term: 7, number: 42, leader: Origin(node: "l", incarnation: 9), timestamp: 1_800_000_000,
                           counts: [.init(group: JobGroup(state: "available", queue: "q"), count: 3, estimated: false)], watermarks: [:])
        let decoded = try KeyframeCodec.decode(KeyframeCodec.encode(old))
        #expect(decoded == old && decoded.snapshot == nil)
    }

    @Test func batchesCarryTheirMovesAndReadAsBeforeWithout() throws {
        let recorder = NodeRecorder(origin: Origin(node: "w", incarnation: 3))
        recorder.transition(queue: "q", from: .available, to: .cancelled)  // no transaction id
        recorder.jobMoved(1, queue: "q", worker: "W", from: .available, to: .executing, xid: 1_000)
        recorder.jobMoved(1, queue: "q", worker: "W", from: .executing, to: .completed, xid: 1_001)
        recorder.jobMoved(2, queue: "mailers", from: nil, to: .available, xid: 1 << 40)
        recorder.jobMoved(-3, queue: "q", from: .discarded, to: nil, xid: 0)
        let batch = recorder.takeBatch(timestamp: 1_800_000_000)
        #expect(batch.moves.count == 4)
        #expect(try BatchCodec.decode(BatchCodec.encode(batch)) == batch)
        let valid = BatchCodec.encode(batch)
        let refused = corruptions(of: valid, seed: 37).filter { (try? BatchCodec.decode($0)) == nil }.count
        #expect(refused > 1_000)
        // Without moves, the encoding is the one of the version before moves.
        let plain = sampleBatch(seed: 3)
        #expect(plain.moves.isEmpty)
        let bytes = BatchCodec.encode(plain)
        var withEmptySection = bytes
        withEmptySection.append(0)
        #expect(throws: DecodeError.self) { try BatchCodec.decode(withEmptySection) }
        #expect(try BatchCodec.decode(bytes) == plain)
    }

    @Test func movesAheadRoundTripAndRefuseABatchWithMoreThanMoves() throws {
        let sent = MovesAhead(origin: Origin(node: "w", incarnation: 3), afterSeq: 41, moves: [
            RecordedMove(xid: 1_000, job: 1, queue: "q", from: .available, to: .executing),
            RecordedMove(xid: 1 << 40, job: 2, queue: "mailers", from: nil, to: .available),
        ])
        #expect(try MovesCodec.decode(MovesCodec.encode(sent)) == sent)
        #expect(throws: DecodeError.self) { try MovesCodec.decode(BatchCodec.encode(sampleBatch(seed: 3))) }
        #expect(throws: DecodeError.self) { try MovesCodec.decode(MovesCodec.encode(MovesAhead(origin: sent.origin, afterSeq: 1, moves: []))) }
    }
}
